"""Movies: passed through to inventory unchanged (status, body), with the request id."""

from __future__ import annotations

import logging
from urllib.parse import quote

import requests
from flask import Blueprint, Response, request

from gateway.upstream import inventory_client
from nbship_common.errors import ApiError, describe
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
        upstream = inventory_client().request(
            request.method,
            path,
            params=list(request.args.items(multi=True)),
            body=body,
            headers=headers,
        )
    except requests.ConnectTimeout as exc:
        raise _unavailable(503, "inventory service unavailable", exc) from None
    except requests.Timeout as exc:
        raise _unavailable(504, "inventory service timed out", exc) from None
    except requests.RequestException as exc:
        raise _unavailable(502, "inventory service unavailable", exc) from None
    response = Response(upstream.content, status=upstream.status_code)
    response.headers["Content-Type"] = upstream.headers.get("Content-Type", "application/json")
    for name in _FORWARDED_RESPONSE_HEADERS:
        if name in upstream.headers:
            response.headers[name] = upstream.headers[name]
    return response


def _unavailable(status: int, error: str, exc: requests.RequestException) -> ApiError:
    log.error(error, extra={"reason": describe(exc)[:500]})
    return ApiError(status, error, "try again shortly")
