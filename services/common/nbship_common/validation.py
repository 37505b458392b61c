"""Request parsing that turns bad input into clear 400s instead of exceptions."""

from __future__ import annotations

import json
import re
from typing import NoReturn

from flask import request

from nbship_common.errors import ApiError

# Bodies are small JSON objects; 64 KiB leaves room for long descriptions and refuses floods.
MAX_CONTENT_LENGTH = 64 * 1024

_ASCII_DIGITS = re.compile(r"[0-9]{1,18}")


def bad_request(error: str, details: object = None) -> NoReturn:
    """Stop handling the request with a 400 JSON error."""
    raise ApiError(400, error, details)


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def read_json_object() -> dict[str, object]:
    """The request body parsed as a JSON object, whatever the Content-Type says.

    Clients often post JSON without a Content-Type (curl -d), so the body is what is judged.
    Reading the body enforces MAX_CONTENT_LENGTH, which answers 413.
    """
    raw = request.get_data(cache=True)
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
