"""GET /openapi.json: the committed OpenAPI document of the gateway's public API."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app

# Committed next to the code it describes; the unit tests keep it and the routes in step.
DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
_EXTENSION = "openapi_document"

bp = Blueprint("openapi", __name__)


def load_document(path: Path = DOCUMENT_PATH) -> bytes:
    """The document's bytes, parsed once so a broken file fails the start, not a request."""
    raw = path.read_bytes()
    document = json.loads(raw)
    if not isinstance(document, dict) or "openapi" not in document:
        raise ValueError(f"{path} is not an OpenAPI document")
    return raw


def init_app(app: Flask) -> None:
    """Read the document once and serve it."""
    app.extensions[_EXTENSION] = load_document()
    app.register_blueprint(bp)


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3.1 description of every public route."""
    raw: bytes = current_app.extensions[_EXTENSION]
    return Response(raw, mimetype="application/json")
