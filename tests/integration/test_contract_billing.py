"""The billing contract: gateway -> durable queue -> billing-app -> billing_db, outages included."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import pytest
import requests
from polling import eventually

from nbship_common.validation import MAX_CONTENT_LENGTH

pytestmark = pytest.mark.integration

TIMEOUT = 30
STORE_TIMEOUT = 30
VALID = {"user_id": "3", "number_of_items": "5", "total_amount": "180"}

# Run inside api-gateway-app (it has pika, nbship_common and RABBITMQ_URL, and keeps running while
# billing-app is stopped): publish each argv item, a JSON object or a raw string, to the billing
# queue with the properties the gateway gives its messages.
PUBLISH_SCRIPT = """
import json, os, sys
import pika
from nbship_common.broker import connection_parameters, declare_queue, persistent_json_properties
queue = os.environ.get("BILLING_QUEUE", "billing_queue")
params = connection_parameters(os.environ["RABBITMQ_URL"], connection_name="contract-test")
connection = pika.BlockingConnection(params)
channel = connection.channel()
channel.confirm_delivery()
declare_queue(channel, queue)
for item in json.loads(sys.argv[1]):
    if isinstance(item, str):
        body, message_id = item.encode(), "raw"
    else:
        body, message_id = json.dumps(item).encode(), item["message_id"]
    properties = persistent_json_properties(message_id, "contract-test")
    channel.basic_publish("", queue, body, properties, mandatory=True)
connection.close()
"""


def post_order(stack: Any, payload: object = None, **kwargs: Any) -> requests.Response:
    if payload is not None:
        kwargs["json"] = payload
    return requests.post(f"{stack.gateway_url}/api/billing", timeout=TIMEOUT, **kwargs)


def queue_order(stack: Any, payload: dict[str, object] | None = None) -> str:
    """Post a valid order; the message id the gateway answered with."""
    response = post_order(stack, payload or VALID)
    assert response.status_code == 200, response.text
    message_id = response.json()["message_id"]
    assert str(uuid.UUID(message_id)) == message_id
    return str(message_id)


def stored_counts(stack: Any, message_ids: list[str]) -> dict[str, int]:
    """How many rows billing_db holds for each message id (ids are UUIDs: safe to inline)."""
    ids = ", ".join(f"'{uuid.UUID(message_id)}'" for message_id in message_ids)
    rows = stack.sql(
        "billing-db",
        f"SELECT message_id, count(*) FROM orders WHERE message_id IN ({ids}) GROUP BY 1",
    )
    counts = {str(row[0]): int(row[1]) for row in rows}
    return {message_id: counts.get(message_id, 0) for message_id in message_ids}


def wait_stored_once(stack: Any, message_ids: list[str], timeout: float = STORE_TIMEOUT) -> None:
    """Wait until every message id has a row, then require exactly one row each."""
    eventually(
        lambda: all(stored_counts(stack, message_ids).values()),
        timeout=timeout,
        what=f"{len(message_ids)} orders in billing_db",
    )
    assert stored_counts(stack, message_ids) == dict.fromkeys(message_ids, 1)


def gateway_ready(stack: Any) -> bool:
    try:
        return requests.get(f"{stack.gateway_url}/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def restore(stack: Any, *services: str) -> None:
    """Start `services` again and wait until they and the gateway are healthy."""
    stack.compose("start", *services)
    stack.wait_healthy(*services, timeout=180)
    eventually(lambda: gateway_ready(stack), timeout=120, what="the gateway to be ready")


def publish_raw(stack: Any, items: list[object]) -> None:
    script = ["python", "-c", PUBLISH_SCRIPT, json.dumps(items)]
    stack.compose("exec", "-T", "api-gateway-app", *script)


def service_log(stack: Any, service: str, since_restart: bool = False) -> list[dict[str, Any]]:
    """The JSON lines a service logged (of its current container start only, if asked)."""
    args = ["logs", "--no-color", "--no-log-prefix"]
    if since_restart:
        container = str(stack.compose("ps", "-q", service).stdout).strip()
        inspected = subprocess.run(
            ["docker", "inspect", "--format", "{{.State.StartedAt}}", container],
            capture_output=True,
            text=True,
            check=True,
        )
        args += ["--since", inspected.stdout.strip()]
    out = str(stack.compose(*args, service).stdout)
    entries = []
    for line in out.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if isinstance(entry, dict):
                entries.append(entry)
    return entries


def exit_code(stack: Any, service: str) -> int:
    """The exit code of a stopped service's container, from `docker compose ps --format json`."""
    out = stack.compose("ps", "-a", "--format", "json", service).stdout
    text = (out.decode() if isinstance(out, bytes) else str(out)).strip()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        # Newer compose prints one JSON object per line.
        parsed = json.loads(text.splitlines()[0])
    entry = parsed[0] if isinstance(parsed, list) else parsed
    return int(entry["ExitCode"])


# --- the happy path ----------------------------------------------------------------------------


def test_order_is_confirmed_then_stored_once(stack: Any) -> None:
    message_id = queue_order(stack)
    wait_stored_once(stack, [message_id])
    rows = stack.sql(
        "billing-db",
        "SELECT user_id, number_of_items, total_amount FROM orders "
        f"WHERE message_id = '{uuid.UUID(message_id)}'",
    )
    assert [tuple(str(value) for value in row) for row in rows] == [("3", "5", "180.00")]


def test_numbers_are_accepted_as_well_as_strings(stack: Any) -> None:
    message_id = queue_order(stack, {"user_id": 7, "number_of_items": 2, "total_amount": 12.5})
    wait_stored_once(stack, [message_id])
    rows = stack.sql(
        "billing-db", f"SELECT total_amount FROM orders WHERE message_id = '{message_id}'"
    )
    assert [str(row[0]) for row in rows] == ["12.50"]


def test_request_id_is_echoed(stack: Any) -> None:
    response = post_order(stack, VALID, headers={"X-Request-ID": "billing-contract-1"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "billing-contract-1"


def test_trailing_slash_works_without_redirect(stack: Any) -> None:
    response = requests.post(
        f"{stack.gateway_url}/api/billing/", json=VALID, timeout=TIMEOUT, allow_redirects=False
    )
    assert response.status_code == 200


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**VALID, "user_id": ""}, "user_id"),
        ({**VALID, "user_id": "abc"}, "user_id"),
        ({**VALID, "user_id": True}, "user_id"),
        ({**VALID, "number_of_items": "-5"}, "number_of_items"),
        ({**VALID, "total_amount": "-1"}, "total_amount"),
        ({**VALID, "total_amount": "1.999"}, "total_amount"),
        ({"number_of_items": "5", "total_amount": "180"}, "user_id"),
    ],
)
def test_invalid_order_is_400_naming_the_field(
    stack: Any, payload: dict[str, object], field: str
) -> None:
    response = post_order(stack, payload)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "details"}
    assert field in body["details"]


@pytest.mark.parametrize("raw", [b"", b"user_id=3", b"[1, 2]", b'{"user_id": '])
def test_body_that_is_not_a_json_object_is_400(stack: Any, raw: bytes) -> None:
    response = post_order(stack, data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert set(response.json()) == {"error", "details"}


def test_oversized_body_is_413(stack: Any) -> None:
    response = post_order(stack, {**VALID, "padding": "x" * (MAX_CONTENT_LENGTH + 1)})
    assert response.status_code == 413
    assert response.json()["error"] == "request body too large"


def test_get_is_405(stack: Any) -> None:
    response = requests.get(f"{stack.gateway_url}/api/billing", timeout=TIMEOUT)
    assert response.status_code == 405
    assert set(response.json()) == {"error", "details"}


# --- the consumer: idempotency and poison messages ---------------------------------------------


def test_duplicate_message_id_is_stored_once(stack: Any) -> None:
    duplicate = str(uuid.uuid4())
    sentinel = str(uuid.uuid4())
    message = {"user_id": 11, "number_of_items": 1, "total_amount": "9.99"}
    publish_raw(
        stack,
        [
            {"message_id": duplicate, **message},
            {"message_id": duplicate, **message},
            # One consumer takes messages in order: once this one is stored, both copies were seen.
            {"message_id": sentinel, **message},
        ],
    )
    wait_stored_once(stack, [sentinel])
    assert stored_counts(stack, [duplicate]) == {duplicate: 1}


def test_invalid_messages_are_dropped_without_blocking_the_queue(stack: Any) -> None:
    after = str(uuid.uuid4())
    publish_raw(
        stack,
        [
            "this is not json",
            {"message_id": str(uuid.uuid4()), "user_id": -1},
            {"message_id": after, "user_id": 12, "number_of_items": 1, "total_amount": "1.00"},
        ],
    )
    wait_stored_once(stack, [after])


def test_a_backlog_with_duplicates_and_poison_is_stored_exactly_once_in_batches(
    stack: Any,
) -> None:
    message = {"user_id": 13, "number_of_items": 2, "total_amount": "4.50"}
    already_stored = queue_order(stack)
    wait_stored_once(stack, [already_stored])
    unique = [str(uuid.uuid4()) for _ in range(300)]
    items: list[object] = []
    for index, message_id in enumerate(unique):
        items.append({"message_id": message_id, **message})
        if index % 10 == 0:
            items.append({"message_id": unique[index // 2], **message})  # a copy, near or far
        if index % 25 == 0:
            items.append("not json")
            items.append({"message_id": already_stored, **message})  # a redelivery
    stack.compose("stop", "billing-app")
    try:
        # Queued while billing is away, so it meets a backlog larger than one batch.
        publish_raw(stack, items)
    finally:
        stack.compose("start", "billing-app")
        stack.wait_healthy("billing-app", timeout=180)
    wait_stored_once(stack, [*unique, already_stored], timeout=60)
    batches = [
        entry
        for entry in service_log(stack, "billing-app", since_restart=True)
        if entry.get("message") == "orders stored"
    ]
    assert sum(entry["stored"] for entry in batches) == len(unique)
    assert max(entry["stored"] for entry in batches) > 1, "the backlog was stored row by row"


# --- outages -----------------------------------------------------------------------------------


def test_orders_queued_while_billing_app_is_down_are_stored_once_on_return(stack: Any) -> None:
    stack.compose("stop", "billing-app")
    try:
        message_ids = [queue_order(stack) for _ in range(5)]
        assert stored_counts(stack, message_ids) == dict.fromkeys(message_ids, 0)
    finally:
        stack.compose("start", "billing-app")
        stack.wait_healthy("billing-app", timeout=180)
    wait_stored_once(stack, message_ids, timeout=60)


def test_billing_app_stops_cleanly_on_sigterm(stack: Any) -> None:
    stack.compose("stop", "billing-app")
    try:
        # gunicorn stopped the consumer and exited 0 within the grace period, not SIGKILLed (137).
        assert exit_code(stack, "billing-app") == 0
    finally:
        stack.compose("start", "billing-app")
        stack.wait_healthy("billing-app", timeout=180)


def test_broker_down_is_503_never_a_false_success(stack: Any) -> None:
    stack.compose("stop", "rabbit-queue")
    try:
        response = post_order(stack, VALID)
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["error"] == "billing queue unavailable"
        assert "message_id" not in body
    finally:
        restore(stack, "rabbit-queue", "billing-app")
    # Publisher and consumer both reconnected.
    wait_stored_once(stack, [queue_order(stack)], timeout=60)


def test_queued_orders_survive_a_broker_restart(stack: Any) -> None:
    stack.compose("stop", "billing-app")
    try:
        message_ids = [queue_order(stack) for _ in range(3)]
        stack.compose("restart", "rabbit-queue")
        stack.wait_healthy("rabbit-queue", timeout=180)
    finally:
        restore(stack, "rabbit-queue", "billing-app")
    wait_stored_once(stack, message_ids, timeout=60)
