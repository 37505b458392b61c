"""The committed OpenAPI document is valid, matches the routes one to one, and is served."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, RequestRedirect

from gateway import billing, movies
from gateway.openapi import DOCUMENT_PATH
from nbship_common.orders import OrderError, parse_order
from nbship_common.validation import MAX_CONTENT_LENGTH

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# Flask answers these for every route by itself; the document describes the API's own methods.
AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
DOCUMENT_URI = "urn:nbship:gateway-openapi"
# Flask's <name> and <converter:name> placeholders, and OpenAPI's {name}.
FLASK_PLACEHOLDER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
OPENAPI_PLACEHOLDER = re.compile(r"\{[^{}]+\}")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The committed document, parsed."""
    loaded: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    return loaded


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def route_maps(app: Flask) -> list[Map]:
    """Every router of the gateway: the Flask app's and the movies pass-through's in front."""
    return [app.url_map, movies.ROUTES]


def routed_operations(app: Flask) -> set[tuple[str, str]]:
    return {
        (FLASK_PLACEHOLDER.sub(r"{\1}", rule.rule), method)
        for routes in route_maps(app)
        for rule in routes.iter_rules()
        for method in (rule.methods or set()) - AUTOMATIC_METHODS
    }


def walk(node: object, pointer: str = "") -> Iterator[tuple[str, object]]:
    """Every (JSON pointer, value) in `node`, depth first."""
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            yield from walk(value, f"{pointer}/{escaped}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{pointer}/{index}")


def resolve(document: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/"), f"only local references are used: {reference}"
    node: Any = document
    for part in reference[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


# --- the document is valid OpenAPI -------------------------------------------------------------


def test_document_validates_against_the_openapi_3_1_schema(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    # Schemathesis checks the document against the official OpenAPI 3.1 JSON Schema.
    schemathesis.openapi.from_dict(document).validate()


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    references = [
        (pointer, value["$ref"])
        for pointer, value in walk(document)
        if isinstance(value, dict) and isinstance(value.get("$ref"), str)
    ]
    assert references
    for pointer, reference in references:
        try:
            resolve(document, reference)
        except (KeyError, IndexError, AssertionError):
            pytest.fail(f"{pointer}: $ref {reference} does not resolve")


def test_every_schema_is_valid_json_schema(document: dict[str, Any]) -> None:
    # The official OpenAPI 3.1 schema does not look inside Schema Objects; 2020-12 is their dialect.
    schemas = dict(document["components"]["schemas"])
    for pointer, value in walk(document["paths"], "#/paths"):
        if pointer.endswith("/schema") and isinstance(value, dict):
            schemas[pointer] = value
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
    assert len(ids) == len(set(ids))


def test_every_error_response_uses_the_shared_error_schema(document: dict[str, Any]) -> None:
    error_ref = "#/components/schemas/Error"
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            for status, answer in operation["responses"].items():
                if int(status) < 400:
                    continue
                if "$ref" in answer:
                    answer = resolve(document, answer["$ref"])
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": error_ref}, f"{method.upper()} {path} {status}"
                checked += 1
    assert checked


def test_listing_documents_the_pagination_bounds(document: dict[str, Any]) -> None:
    parameters = {
        parameter["name"]: parameter
        for parameter in (
            resolve(document, entry["$ref"])
            for entry in document["paths"]["/api/movies"]["get"]["parameters"]
        )
    }
    assert parameters["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
        "default": 100,
    }
    assert parameters["offset"]["schema"]["minimum"] == 0


def test_order_fields_accept_strings_or_numbers(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("Count", "Amount"):
        types = {option["type"] for option in schemas[name]["anyOf"]}
        assert "string" in types
        assert types & {"integer", "number"}


@functools.cache
def order_validator() -> Draft202012Validator:
    """The document's Order schema, with its references resolved inside the document."""
    document = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
    ref = {"$ref": f"{DOCUMENT_URI}#/components/schemas/Order"}
    return Draft202012Validator(ref, registry=registry)


# Digit strings with the parts where the rules change: leading zeros, the 2**31 - 1 bound, signs,
# trailing zeros after the second decimal, 20-digit limits.
_DIGITS = st.text(alphabet="0000123456789", min_size=1, max_size=22)
_COUNT_TEXT = st.one_of(
    _DIGITS,
    st.integers(min_value=0, max_value=2**31 + 5)
    .map(str)
    .flatmap(lambda text: st.integers(min_value=len(text), max_value=22).map(text.zfill)),
)
_AMOUNT_TEXT = st.builds(
    lambda sign, whole, fraction: f"{sign}{whole}{fraction}",
    st.sampled_from(["", "", "-", "+"]),
    _DIGITS,
    st.one_of(st.just(""), st.just("."), _DIGITS.map(lambda digits: f".{digits}")),
)
_WHOLE_NUMBERS = st.one_of(
    st.integers(min_value=-5, max_value=2**31 + 5),
    st.integers(min_value=-5, max_value=2**31 + 5).map(float),
    st.floats(allow_nan=False, allow_infinity=False),
)


def _parses(payload: dict[str, object]) -> bool:
    try:
        parse_order(billing._integral_floats_as_ints(payload))
    except OrderError:
        return False
    return True


# No deadline: the machine is shared, and this test is about answers, not speed.
@settings(max_examples=2000, derandomize=True, deadline=None)
@given(count=st.one_of(_COUNT_TEXT, _WHOLE_NUMBERS), amount=st.one_of(_AMOUNT_TEXT, _WHOLE_NUMBERS))
def test_the_order_schema_accepts_exactly_what_the_gateway_accepts(
    count: object, amount: object
) -> None:
    # The document is exact, not merely safe: schemathesis sends values the schema calls invalid
    # and expects them refused, and values it calls valid and expects them accepted.
    payload = {"user_id": count, "number_of_items": 1, "total_amount": amount}
    assert order_validator().is_valid(payload) == _parses(payload), payload


# --- the document and the routes match one to one ----------------------------------------------


def test_every_route_is_documented(app: Flask, document: dict[str, Any]) -> None:
    missing = routed_operations(app) - documented_operations(document)
    assert not missing, f"routes missing from openapi.json: {sorted(missing)}"


def test_every_documented_operation_is_routed_once(app: Flask, document: dict[str, Any]) -> None:
    adapters = [routes.bind("localhost") for routes in route_maps(app)]
    for path, method in sorted(documented_operations(document)):
        concrete = OPENAPI_PLACEHOLDER.sub("1", path)
        answers: list[int] = []
        for adapter in adapters:
            try:
                adapter.match(concrete, method=method)
                answers.append(200)
            except RequestRedirect:
                pytest.fail(f"{method} {path} redirects")
            except HTTPException as exc:
                answers.append(exc.code or 0)
        assert answers.count(200) == 1, f"{method} {path} is documented; routers answer {answers}"


def test_the_pass_through_owns_every_movies_path_and_only_those(app: Flask) -> None:
    """What the pass-through routes must be what it intercepts, and Flask must route none of it."""
    for rule in movies.ROUTES.iter_rules():
        assert rule.rule == movies.PREFIX or rule.rule.startswith(f"{movies.PREFIX}/")
    for rule in app.url_map.iter_rules():
        assert not rule.rule.startswith(movies.PREFIX), rule.rule


def test_api_paths_are_documented_with_and_without_trailing_slash(
    app: Flask, document: dict[str, Any]
) -> None:
    paths = set(document["paths"])
    api_paths = {path for path, _method in routed_operations(app) if path.startswith("/api/")}
    assert api_paths
    for path in api_paths:
        assert {path, f"{path}/"} <= paths


# --- what the gateway answers by itself conforms to the document -------------------------------


def response_validator(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    """A validator for the JSON body the document promises for (path, method, status)."""
    answers = document["paths"][path][method.lower()]["responses"]
    assert str(status) in answers, f"{method} {path} does not document {status}"
    answer = answers[str(status)]
    pointer = f"#/paths/{path.replace('~', '~0').replace('/', '~1')}/{method.lower()}"
    pointer += f"/responses/{status}"
    if "$ref" in answer:
        pointer = answer["$ref"]
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    schema = {"$ref": f"{DOCUMENT_URI}{pointer}/content/application~1json/schema"}
    return Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/movies", {}),
        ("GET", "/api/movies", {"query_string": {"limit": "0"}}),
        ("POST", "/api/movies/", {"json": {"title": "t", "description": "d"}}),
        ("POST", "/api/movies", {"data": b"x" * (MAX_CONTENT_LENGTH + 1)}),
        ("DELETE", "/api/movies", {}),
        ("GET", "/api/movies/{movie_id}", {}),
        ("PUT", "/api/movies/{movie_id}/", {"json": {"title": "t"}}),
        ("DELETE", "/api/movies/{movie_id}", {}),
        ("POST", "/api/billing", {"json": {"user_id": 1}}),
        (
            "POST",
            "/api/billing/",
            {"json": {"user_id": 1, "number_of_items": 1, "total_amount": 1}},
        ),
        ("POST", "/api/billing", {"data": b"[]"}),
        ("POST", "/api/billing", {"data": b"x" * (MAX_CONTENT_LENGTH + 1)}),
        ("POST", "/api/billing", {"data": b"{}", "content_type": "text/plain"}),
        ("POST", "/api/billing", {"data": b"{}", "headers": {"Transfer-Encoding": "gzip"}}),
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/version", {}),
        ("GET", "/openapi.json", {}),
    ],
)
def test_answers_conform_to_the_document(
    app: Flask, document: dict[str, Any], method: str, path: str, kwargs: dict[str, Any]
) -> None:
    # Inventory and the broker are unreachable here: these are the gateway's own answers.
    response = app.test_client().open(path.replace("{movie_id}", "7"), method=method, **kwargs)
    assert response.mimetype == "application/json"
    validator = response_validator(document, path, method, response.status_code)
    errors = [error.message for error in validator.iter_errors(response.get_json())]
    assert not errors, f"{method} {path} {response.status_code}: {errors}"


def test_served_document_is_the_committed_file(app: Flask) -> None:
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.data == DOCUMENT_PATH.read_bytes()
