"""The modules extracted from the notebooks, tested as plain Python (no Jupyter involved)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from inventory.search import like_pattern, normalize_title, title_matches
from nbship_common.orders import (
    Order,
    OrderError,
    order_from_message,
    order_to_message,
    order_total,
    parse_order,
)


def test_titles_are_stripped_and_inner_whitespace_collapsed() -> None:
    assert normalize_title("  The \t Matrix\n Reloaded ") == "The Matrix Reloaded"


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_titles_are_refused(blank: str) -> None:
    with pytest.raises(ValueError):
        normalize_title(blank)


def test_title_search_is_case_insensitive_containment() -> None:
    assert title_matches("matrix", "The Matrix")
    assert title_matches("STRASSE", "Straße ins Glück")  # casefold, not lower
    assert not title_matches("matrix", "Inception")


def test_like_pattern_escapes_sql_wildcards() -> None:
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"


def test_orders_accept_strings_or_numbers() -> None:
    order = parse_order({"user_id": "3", "number_of_items": 5, "total_amount": "180"})
    assert order == Order(user_id=3, number_of_items=5, total_amount=Decimal("180"))


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(OrderError) as caught:
        parse_order({"user_id": True, "number_of_items": "-1", "total_amount": "1.999"})
    assert set(caught.value.details) == {"user_id", "number_of_items", "total_amount"}


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {},
        {"user_id": "", "number_of_items": "1", "total_amount": "1"},
        {"user_id": "1", "number_of_items": "1", "total_amount": "-5"},
        {"user_id": "1", "number_of_items": "1", "total_amount": "NaN"},
        {"user_id": "1", "number_of_items": "1", "total_amount": float("inf")},
        {"user_id": "1", "number_of_items": [1], "total_amount": "1"},
    ],
)
def test_malformed_orders_are_refused(payload: object) -> None:
    with pytest.raises(OrderError):
        parse_order(payload)


def test_message_round_trip_is_json_safe() -> None:
    order = parse_order({"user_id": 7, "number_of_items": 2, "total_amount": "19.9"})
    body = json.loads(json.dumps(order_to_message(order, "m-1")))
    assert body["total_amount"] == "19.90"
    assert order_from_message(body) == ("m-1", order)


def test_order_total_multiplies_and_sums_exactly() -> None:
    assert order_total(["0.10", "0.20"], [3, 1]) == Decimal("0.50")
