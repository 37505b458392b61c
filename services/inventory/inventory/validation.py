"""What a movie body must look like; every problem is reported, field by field."""

from __future__ import annotations

from inventory.models import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH
from inventory.search import normalize_title
from nbship_common.validation import bad_request, text_problem

MOVIE_FIELDS = ("title", "description")


def movie_fields(payload: dict[str, object], *, partial: bool) -> dict[str, str]:
    """The validated, normalised fields of `payload`; raises a 400 ApiError listing problems.

    `partial` (PUT) allows any non-empty subset of the fields; otherwise (POST) both are required.
    """
    problems: dict[str, str] = {}
    fields: dict[str, str] = {}
    for name in sorted(set(payload) - set(MOVIE_FIELDS)):
        problems[name] = "is not a movie field"
    for name in MOVIE_FIELDS:
        if name not in payload:
            if not partial:
                problems[name] = "is required"
            continue
        value = payload[name]
        problem = text_problem(value, max_length=DESCRIPTION_MAX_LENGTH, allow_empty=False)
        if problem is not None or not isinstance(value, str):
            problems[name] = problem or "must be a string"
            continue
        if name == "title":
            value = normalize_title(value)
            if len(value) > TITLE_MAX_LENGTH:
                problems[name] = f"must be at most {TITLE_MAX_LENGTH} characters"
                continue
        else:
            value = value.strip()
        fields[name] = value
    if partial and not payload:
        problems["body"] = "must contain title and/or description"
    if problems:
        bad_request("invalid movie", problems)
    return fields
