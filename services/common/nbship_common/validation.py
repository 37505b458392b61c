"""Request parsing that turns bad input into clear 400s instead of exceptions."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, NoReturn

from flask import request
from werkzeug.exceptions import ClientDisconnected
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_content_length

from nbship_common.errors import ApiError

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

# Bodies are small JSON objects. The largest valid movie (a 255-character title and a
# 10,000-character description) written with every character as a \uXXXX surrogate pair, as
# JSON allows, is about 123,000 bytes: 128 KiB takes any valid body and refuses floods.
MAX_CONTENT_LENGTH = 128 * 1024
# How much of the body one read asks the server for.
_READ_STEP = 64 * 1024
# The only transfer coding a body is decoded from: gunicorn also lets "gzip, chunked" (and
# compress, deflate) through but hands over the bytes still compressed, which nothing here
# decodes; RFC 9112 answers a transfer coding the server does not understand with 501.
_UNDERSTOOD_TRANSFER_CODINGS = frozenset({"chunked"})

_ASCII_DIGITS = re.compile(r"[0-9]{1,18}")


def bad_request(error: str, details: object = None) -> NoReturn:
    """Stop handling the request with a 400 JSON error."""
    raise ApiError(400, error, details)


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def read_body(environ: WSGIEnvironment, max_bytes: int = MAX_CONTENT_LENGTH) -> bytes:
    """The whole request body, however it is framed, or an ApiError: 413 past MAX_BYTES.

    One limit for every framing. With a Content-Length, a larger body is refused before a byte
    is read. A chunked body has no announced length: it is read until its end or until one
    byte past MAX_BYTES, and then refused; never cut at the limit and parsed (Werkzeug's own
    stream stops at the limit and reads as if the body ended there). A transfer coding other
    than chunked is answered 501, a Content-Encoding 415: nothing here decodes them.
    """
    _refuse_codings(environ)
    length = get_content_length(environ)
    if length is not None and length > max_bytes:
        raise _too_large(max_bytes)
    if length is None and not environ.get("wsgi.input_terminated"):
        # No length and a server that does not frame the body itself: there is no body.
        return b""
    wanted = max_bytes + 1 if length is None else length
    body = _read_up_to(environ["wsgi.input"], wanted)
    if len(body) > max_bytes:
        raise _too_large(max_bytes)
    if length is not None and len(body) < length:
        raise ApiError(400, "request body incomplete", {"expected_bytes": length})
    return body


def _read_up_to(stream: object, wanted: int) -> bytes:
    """Up to WANTED bytes from STREAM, fewer only if the body ends first."""
    read = getattr(stream, "read")  # noqa: B009 - a WSGI input stream, typed loosely by WSGI
    chunks: list[bytes] = []
    received = 0
    while received < wanted:
        try:
            data: bytes = read(min(_READ_STEP, wanted - received))
        except (OSError, ValueError, ClientDisconnected):
            # The client went away or broke the framing (gunicorn raises its own errors, which
            # are ValueErrors or OSErrors): nothing whole to parse.
            raise ApiError(400, "request body incomplete", None) from None
        if not data:
            break
        chunks.append(data)
        received += len(data)
    return b"".join(chunks)


def _refuse_codings(environ: WSGIEnvironment) -> None:
    codings = environ.get("HTTP_TRANSFER_ENCODING", "")
    for coding in filter(None, (part.strip(" \t").lower() for part in codings.split(","))):
        if coding not in _UNDERSTOOD_TRANSFER_CODINGS:
            raise ApiError(
                501,
                "transfer coding not supported",
                {"transfer_encoding": codings, "supported": ["chunked"]},
            )
    content_coding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if content_coding not in ("", "identity"):
        raise ApiError(
            415,
            "content coding not supported",
            {"content_encoding": content_coding, "supported": ["identity"]},
        )


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "request body too large", {"max_bytes": max_bytes})


def json_media_type_problem(content_type: str | None) -> str | None:
    """Why a body with CONTENT_TYPE is not JSON, or None when it may be.

    JSON is application/json or any application/*+json (RFC 6839). A body with no Content-Type
    at all is judged by its bytes: clients often send JSON without saying so.
    """
    if not content_type or not content_type.strip():
        return None
    mimetype, _params = parse_options_header(content_type)
    kind, _, subtype = mimetype.lower().partition("/")
    if kind == "application" and (subtype == "json" or subtype.endswith("+json")):
        return None
    return f"must be application/json, got {mimetype or content_type!r}"


def read_json_object() -> dict[str, object]:
    """The request body parsed as a JSON object: 415 for a media type that is not JSON.

    Clients often post JSON without a Content-Type, so a body without one is judged by its
    bytes. The body is read whole first (read_body), so a body past MAX_CONTENT_LENGTH is a 413
    however it is framed, and a truncated body is never parsed.
    """
    problem = json_media_type_problem(request.content_type)
    if problem is not None:
        raise ApiError(415, "unsupported media type", {"content_type": problem})
    raw = read_body(request.environ, request.max_content_length or MAX_CONTENT_LENGTH)
    if not raw.strip():
        bad_request("request body must be a JSON object", {"body": "empty"})
    try:
        payload = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        bad_request("request body is not valid JSON", {"body": "nested too deeply"})
    except ValueError as exc:
        # JSONDecodeError and UnicodeDecodeError are both ValueErrors.
        bad_request("request body is not valid JSON", {"body": str(exc)})
    if not isinstance(payload, dict):
        bad_request("request body must be a JSON object", {"body": f"got {type(payload).__name__}"})
    return payload


def text_problem(value: object, *, max_length: int, allow_empty: bool) -> str | None:
    """Why `value` cannot be stored as text, or None when it can."""
    if not isinstance(value, str):
        return "must be a string"
    if not allow_empty and not value.strip():
        return "must not be empty"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL characters.
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


def query_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    """A query parameter as a plain base-10 integer within [minimum, maximum]."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _ASCII_DIGITS.fullmatch(raw) or not minimum <= int(raw) <= maximum:
        bad_request(
            f"invalid query parameter {name!r}",
            {name: f"must be an integer between {minimum} and {maximum}"},
        )
    return int(raw)
