"""Movies: passed through to inventory unchanged (status, body), with the request id."""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Blueprint, Response, request

from gateway.upstream import InventoryUnavailable, inventory_client
from nbship_common.errors import ApiError
from nbship_common.logging import REQUEST_ID_HEADER, current_request_id

log = logging.getLogger(__name__)

# The methods inventory serves on each path; anything else is the gateway's own 405, so the
# published OpenAPI document and the routes can be compared one to one.
COLLECTION_METHODS = ["GET", "POST", "DELETE"]
ITEM_METHODS = ["GET", "PUT", "DELETE"]
# Request headers inventory needs; hop-by-hop and client headers stay at the gateway.
_FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept")
# Response headers that belong to the answer itself.
_FORWARDED_RESPONSE_HEADERS = ("Allow", "Location")
# How each way of not getting an answer from inventory is told to the client.
_FAILURES = {
    "connect-timeout": (503, "inventory service unavailable"),
    "read-timeout": (504, "inventory service timed out"),
    "unreachable": (502, "inventory service unavailable"),
    "invalid-answer": (502, "inventory service sent an invalid answer"),
}

bp = Blueprint("movies", __name__)


@bp.route("/api/movies", methods=COLLECTION_METHODS)
@bp.route("/api/movies/<movie_id>", methods=ITEM_METHODS)
def proxy(movie_id: str | None = None) -> Response:
    """Forward the request to inventory and answer with what it answered."""
    path = "/api/movies" if movie_id is None else f"/api/movies/{quote(movie_id, safe='')}"
    headers = {
        name: request.headers[name]
        for name in _FORWARDED_REQUEST_HEADERS
        if request.headers.get(name)
    }
    headers[REQUEST_ID_HEADER] = current_request_id()
    body = request.get_data() if request.method in ("POST", "PUT") else None
    try:
        answer = inventory_client().request(
            request.method,
            path,
            params=list(request.args.items(multi=True)),
            body=body,
            headers=headers,
        )
    except InventoryUnavailable as exc:
        status, error = _FAILURES[exc.kind]
        log.error(error, extra={"reason": str(exc)[:500]})
        raise ApiError(status, error, "try again shortly") from None
    except ValueError as exc:  # a forwarded header that would break its line: nothing was sent
        raise ApiError(400, "invalid request header", str(exc)) from None
    response = Response(answer.body, status=answer.status)
    response.headers["Content-Type"] = answer.headers.get("content-type", "application/json")
    for name in _FORWARDED_RESPONSE_HEADERS:
        value = answer.headers.get(name.lower())
        if value is not None:
            response.headers[name] = value
    return response
