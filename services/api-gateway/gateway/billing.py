"""Billing: validate an order and queue it; 200 only once the broker has confirmed it."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, jsonify

from gateway.publisher import billing_publisher
from nbship_common.errors import ApiError
from nbship_common.logging import current_request_id
from nbship_common.orders import OrderError, order_to_message, parse_order
from nbship_common.validation import read_json_object

bp = Blueprint("billing", __name__)

# The order fields that are whole numbers.
_COUNTS = ("user_id", "number_of_items")


@bp.post("/api/billing")
def queue_order() -> Response:
    """Queue {"user_id", "number_of_items", "total_amount"} for billing."""
    try:
        order = parse_order(_integral_floats_as_ints(read_json_object()))
    except OrderError as exc:
        raise ApiError(400, "invalid order", exc.details) from None
    message_id = str(uuid.uuid4())
    billing_publisher().publish(
        order_to_message(order, message_id),
        message_id=message_id,
        request_id=current_request_id(),
    )
    return jsonify({"status": "queued", "message_id": message_id})


def _integral_floats_as_ints(payload: dict[str, object]) -> dict[str, object]:
    """PAYLOAD with counts written as integral numbers (117.0, 1.17e2) taken as the integers.

    JSON does not tell 117 from 117.0 and JSON Schema calls both an integer, so the published
    document cannot refuse 117.0; the order parser, which takes only Python ints, must see 117.
    """
    return {
        name: int(value)
        if name in _COUNTS and isinstance(value, float) and value.is_integer()
        else value
        for name, value in payload.items()
    }
