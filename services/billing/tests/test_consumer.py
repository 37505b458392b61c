"""The consumer's message checks and lifecycle (the broker/database path is integration-tested)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask

from billing import gunicorn_conf
from billing.consumer import InvalidMessage, consumer_of, parse_message

MESSAGE_ID = "6f1c1d5e-2b4a-4c49-9a57-0d1c7a4b8e21"
VALID = {"message_id": MESSAGE_ID, "user_id": 3, "number_of_items": 5, "total_amount": "180.00"}


def test_valid_message_becomes_an_order() -> None:
    message_id, order = parse_message(json.dumps(VALID).encode())
    assert message_id == uuid.UUID(MESSAGE_ID)
    assert (order.user_id, order.number_of_items) == (3, 5)
    assert order.total_amount == Decimal("180.00")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "message"),
        (b"\xff\xfe", "message"),
        (b"[1, 2]", "message"),
        (b"[" * 50_000, "message"),
        (json.dumps({**VALID, "message_id": "not-a-uuid"}).encode(), "message_id"),
        (json.dumps({**VALID, "message_id": ""}).encode(), "message_id"),
        (json.dumps({**VALID, "user_id": -1}).encode(), "user_id"),
        (json.dumps({**VALID, "total_amount": 180}).encode(), "total_amount"),
        (json.dumps({k: v for k, v in VALID.items() if k != "user_id"}).encode(), "user_id"),
    ],
)
def test_messages_that_can_never_be_stored_are_invalid(body: bytes, field: str) -> None:
    with pytest.raises(InvalidMessage) as raised:
        parse_message(body)
    assert field in raised.value.details


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_gunicorn_hooks_start_and_stop_the_consumer(app: Flask) -> None:
    consumer = consumer_of(app)
    assert consumer is not None
    # Stand-ins for gunicorn's objects: the hooks only read `worker.wsgi`.
    worker: Any = SimpleNamespace(wsgi=app)
    arbiter: Any = None

    gunicorn_conf.post_worker_init(worker)
    thread = consumer._thread
    assert thread is not None and thread.is_alive()
    # With the database away it keeps retrying, and /readyz says why it is not consuming.
    assert wait_for(lambda: "OperationalError" in app.test_client().get("/readyz").get_data(True))
    started = time.monotonic()
    gunicorn_conf.worker_exit(arbiter, worker)

    assert not thread.is_alive()
    assert time.monotonic() - started < 3
    assert not consumer.consuming


def test_worker_exit_in_the_master_is_harmless() -> None:
    # gunicorn also calls worker_exit in the master, whose worker object never loaded the app.
    master_side_worker: Any = SimpleNamespace()
    arbiter: Any = None
    gunicorn_conf.worker_exit(arbiter, master_side_worker)
