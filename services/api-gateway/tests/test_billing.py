"""POST /api/billing: every bad order is a 4xx JSON error before anything is published."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from nbship_common.validation import MAX_CONTENT_LENGTH

VALID = {"user_id": "3", "number_of_items": "5", "total_amount": "180"}


def post(app: Flask, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    response = app.test_client().post("/api/billing", **kwargs)
    assert response.mimetype == "application/json"
    return response.status_code, response.get_json()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**VALID, "user_id": ""}, "user_id"),
        ({**VALID, "user_id": "abc"}, "user_id"),
        ({**VALID, "user_id": True}, "user_id"),
        ({**VALID, "user_id": 0}, "user_id"),
        ({**VALID, "number_of_items": -1}, "number_of_items"),
        ({**VALID, "number_of_items": None}, "number_of_items"),
        ({**VALID, "total_amount": "-1"}, "total_amount"),
        ({**VALID, "total_amount": "1.005"}, "total_amount"),
        ({**VALID, "total_amount": [1]}, "total_amount"),
        ({"number_of_items": "5", "total_amount": "180"}, "user_id"),
    ],
)
def test_invalid_order_is_400_naming_the_field(
    app: Flask, payload: dict[str, object], field: str
) -> None:
    status, body = post(app, json=payload)
    assert status == 400
    assert body["error"] == "invalid order"
    assert field in body["details"]


def test_every_missing_field_is_listed(app: Flask) -> None:
    status, body = post(app, json={})
    assert status == 400
    assert set(body["details"]) == {"user_id", "number_of_items", "total_amount"}


@pytest.mark.parametrize("raw", [b"", b"user_id=3", b"[1, 2, 3]", b'{"user_id": '])
def test_body_that_is_not_a_json_object_is_400(app: Flask, raw: bytes) -> None:
    status, body = post(app, data=raw, content_type="application/json")
    assert status == 400
    assert "JSON" in body["error"]


def test_oversized_body_is_413(app: Flask) -> None:
    status, body = post(app, json={**VALID, "padding": "x" * MAX_CONTENT_LENGTH})
    assert status == 413
    assert body["error"] == "request body too large"


def test_valid_order_with_broker_unreachable_is_503_never_200(app: Flask) -> None:
    status, body = post(app, json=VALID)
    assert status == 503
    assert body["error"] == "billing queue unavailable"


def test_numbers_are_accepted_as_well_as_strings(app: Flask) -> None:
    # Passing validation with the broker away proves the order itself was accepted.
    status, _ = post(app, json={"user_id": 3, "number_of_items": 5, "total_amount": 180.5})
    assert status == 503


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_are_405(app: Flask, method: str) -> None:
    response = getattr(app.test_client(), method)("/api/billing")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method not allowed"


@pytest.mark.parametrize("count", [117.0, 1.17e2])
def test_a_count_written_with_a_zero_fraction_is_the_integer(app: Flask, count: float) -> None:
    # JSON Schema calls 117.0 an integer, so the published document cannot refuse it.
    status, _ = post(app, json={**VALID, "number_of_items": count})
    assert status == 503


@pytest.mark.parametrize("count", [117.5, 1e300])
def test_a_count_with_a_fraction_or_out_of_range_is_400(app: Flask, count: float) -> None:
    status, body = post(app, json={**VALID, "number_of_items": count})
    assert status == 400
    assert "number_of_items" in body["details"]


def test_an_order_sent_as_text_is_415(app: Flask) -> None:
    status, body = post(app, data=b'{"user_id": 3}', content_type="text/plain")
    assert status == 415
    assert body["error"] == "unsupported media type"
