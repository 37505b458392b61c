"""The running gateway keeps the promises of its OpenAPI document, whatever it is sent.

Schemathesis, as its users run it (`schemathesis run --checks all`), generates requests from
the committed document (its examples, valid and invalid values at every boundary, random ones,
and sequences of calls), sends them to the deployed stack and checks every answer: no 5xx, a
status, content type, headers and body the document lists, invalid data refused and valid data
accepted. It must find nothing: a finding is either a bug in the gateway or a document that
says something the gateway does not do, and either is fixed, never waived.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.openapi import DOCUMENT_PATH

pytestmark = pytest.mark.integration

TIMEOUT = 30
# Per operation in the fuzzing phase; with the coverage phase's boundary cases, 18 operations
# make over MIN_GENERATED requests in a couple of minutes on the 2-core machines used here.
MAX_EXAMPLES = 40
MIN_GENERATED = 1000
# The same requests on every run, so a failure reproduces and a pass means the same thing.
SEED = "20261206"
# The CLI next to this interpreter: the project's virtualenv, pinned in requirements/dev.lock.
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_path(DOCUMENT_PATH)


def test_schemathesis_finds_nothing_the_document_contradicts(stack: Any, tmp_path: Path) -> None:
    report = tmp_path / "schemathesis.json"
    command = [
        str(SCHEMATHESIS),
        "run",
        str(DOCUMENT_PATH),
        "--url",
        stack.gateway_url,
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--generation-deterministic",
        # How fast Hypothesis generates data on a shared, loaded machine says nothing about the
        # gateway; the titles' pattern (no NUL, not blank) is slow to generate when cores are busy.
        "--suppress-health-check",
        "too_slow",
        "--request-timeout",
        str(TIMEOUT),
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    # Run in tmp_path: schemathesis keeps a cache of crashes in ./.schemathesis.
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    output = f"{result.stdout[-12000:]}\n{result.stderr[-4000:]}"
    assert report.exists(), output
    summary = json.loads(report.read_text(encoding="utf-8"))
    assert summary["failures"] == [], output
    assert summary["errors"] == [], output
    assert result.returncode == 0, output
    assert summary["operations"]["tested"] == summary["operations"]["total"], summary["operations"]
    assert summary["test_cases"]["generated"] >= MIN_GENERATED, summary["test_cases"]


def test_served_document_is_the_committed_one(stack: Any) -> None:
    response = requests.get(f"{stack.gateway_url}/openapi.json", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))


def test_a_movie_lifecycle_conforms_to_the_document(stack: Any) -> None:
    # Generated ids almost never name an existing movie: walk one real movie through its 200s.
    created = schema["/api/movies"]["POST"].Case(body={"title": "lifecycle", "description": "d"})
    response = created.call_and_validate(base_url=stack.gateway_url, checks=CHECKS, timeout=TIMEOUT)
    assert response.status_code == 201
    movie_id = response.json()["id"]
    item = schema["/api/movies/{movie_id}"]
    for case in (
        item["GET"].Case(path_parameters={"movie_id": movie_id}),
        item["PUT"].Case(path_parameters={"movie_id": movie_id}, body={"description": "changed"}),
        item["DELETE"].Case(path_parameters={"movie_id": movie_id}),
    ):
        response = case.call_and_validate(
            base_url=stack.gateway_url, checks=CHECKS, timeout=TIMEOUT
        )
        assert response.status_code == 200, (case.method, response.text)


@pytest.mark.parametrize("path", ["/api/billing", "/api/movies"])
def test_a_body_that_says_it_is_text_is_415_as_documented(stack: Any, path: str) -> None:
    # The case: JSON sent as text/plain was accepted. Schemathesis sends the documented
    # media type only, so this one is sent by hand, and checked against the document.
    body = (
        b'{"user_id": 3, "number_of_items": 1, "total_amount": 1, "title": "t", "description": "d"}'
    )
    response = requests.post(
        f"{stack.gateway_url}{path}",
        data=body,
        headers={"Content-Type": "text/plain"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported media type"
    schema[path]["POST"].validate_response(response)
