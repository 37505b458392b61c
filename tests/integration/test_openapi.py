"""The running gateway keeps the promises of its OpenAPI document, whatever it is sent.

Schemathesis generates requests from the document served at /openapi.json (valid ones, invalid
ones and boundary cases) and checks that no answer is a 5xx and that every answer matches the
schema documented for its status code.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from gateway.openapi import DOCUMENT_PATH

pytestmark = pytest.mark.integration

TIMEOUT = 30
# Enough generated requests per operation to find the usual crashes in a couple of minutes.
MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance]


# Generated from the committed document: the requests must exist when pytest collects, before
# the stack is up. test_served_document_is_the_committed_one proves the gateway serves exactly
# this file. (schemathesis.pytest.from_fixture, which would load it from the running gateway,
# does not work with pytest 9: it writes Node._nodeid, which pytest no longer has.)
schema = schemathesis.openapi.from_path(DOCUMENT_PATH)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    # Each example is a real HTTP round trip through three containers; their time varies.
    deadline=None,
    # The same examples on every run, so a failure reproduces and a pass means the same thing.
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_gateway_conforms_to_its_openapi_document(stack: Any, case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(base_url=stack.gateway_url, checks=CHECKS, timeout=TIMEOUT)


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
