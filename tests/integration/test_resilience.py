"""Failures in the middle of traffic: a broker restart while orders are being published, the
consumer killed with messages in flight; and the gateway's log file an operator reads after.

Each destructive test puts the stack back to healthy in `finally`, so later tests start clean.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import uuid
from typing import Any

import pytest
import requests
from polling import eventually

from billing.consumer import BATCH_SIZE
from nbship.deploy import naming
from nbship.errors import NbshipError

pytestmark = pytest.mark.integration

TIMEOUT = 30
VALID = {"user_id": "4", "number_of_items": "2", "total_amount": "19.90"}
GATEWAY_LOG = "/var/log/gateway/gateway.log"
# Message ids per SQL query: keeps the psql command line short whatever the test published.
SQL_CHUNK = 200


def queue_orders(stack: Any, count: int) -> list[str]:
    """Post COUNT valid orders over one kept-alive connection; their message ids, in order."""
    with requests.Session() as session:
        return [queue_order(stack, session) for _ in range(count)]


def queue_order(stack: Any, client: Any = requests) -> str:
    """Post a valid order; the message id the gateway confirmed it with."""
    response = client.post(f"{stack.gateway_url}/api/billing", json=VALID, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return str(response.json()["message_id"])


def stored_counts(stack: Any, message_ids: list[str]) -> dict[str, int]:
    """How many rows billing_db holds for each message id (ids are UUIDs: safe to inline)."""
    counts: dict[str, int] = dict.fromkeys(message_ids, 0)
    for start in range(0, len(message_ids), SQL_CHUNK):
        ids = ", ".join(f"'{uuid.UUID(m)}'" for m in message_ids[start : start + SQL_CHUNK])
        rows = stack.sql(
            "billing-db",
            f"SELECT message_id, count(*) FROM orders WHERE message_id IN ({ids}) GROUP BY 1",
        )
        counts.update({str(row[0]): int(row[1]) for row in rows})
    return counts


def wait_stored_once(stack: Any, message_ids: list[str], timeout: float) -> None:
    """Wait until every message id has a row, then require exactly one row each."""
    eventually(
        lambda: all(stored_counts(stack, message_ids).values()),
        timeout=timeout,
        what=f"{len(message_ids)} orders in billing_db",
    )
    counts = stored_counts(stack, message_ids)
    assert {m: n for m, n in counts.items() if n != 1} == {}


def gateway_ready(stack: Any) -> bool:
    try:
        return requests.get(f"{stack.gateway_url}/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def restore(stack: Any, *services: str) -> None:
    """Start `services` (a no-op for running ones); wait for the whole stack to be healthy."""
    stack.compose("start", *services)
    stack.wait_healthy(timeout=180)
    eventually(lambda: gateway_ready(stack), timeout=120, what="the gateway to be ready")


def compose_text(stack: Any, *args: str) -> str:
    out = stack.compose(*args).stdout
    return out.decode() if isinstance(out, bytes) else str(out)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` as a JSON object; a line that is not one fails the test."""
    entries = []
    for line in text.splitlines():
        if line.strip():
            entry = json.loads(line)
            assert isinstance(entry, dict), line
            entries.append(entry)
    return entries


# --- following a request through the logs -----------------------------------------------------


LAST_LINES = "import collections, sys; print(''.join(collections.deque(open(sys.argv[1]), 20)))"


def test_gateway_writes_json_request_lines_to_its_log_volume(stack: Any) -> None:
    request_id = f"resilience-{uuid.uuid4().hex}"
    response = requests.get(
        f"{stack.gateway_url}/api/movies",
        params={"limit": "1"},
        headers={"X-Request-ID": request_id},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200

    def logged_line() -> dict[str, Any] | None:
        # The image has no coreutils (a FROM-scratch runtime): read the file with its Python.
        tail = compose_text(
            stack, "exec", "-T", "api-gateway-app", "python3", "-c", LAST_LINES, GATEWAY_LOG
        )
        for entry in json_lines(tail):
            if entry.get("request_id") == request_id and entry.get("message") == "request":
                return entry
        return None

    entry = eventually(logged_line, timeout=15, what=f"{request_id} in {GATEWAY_LOG}")
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/api/movies", 200)
    assert isinstance(entry["duration_ms"], int | float) and entry["duration_ms"] >= 0

    # The file lives in the named volume, so it outlives the container.
    container = compose_text(stack, "ps", "-q", "api-gateway-app").strip()
    inspected = subprocess.run(
        ["docker", "inspect", "--format", "{{json .Mounts}}", container],
        capture_output=True,
        text=True,
        check=True,
    )
    mounts = {m["Destination"]: m for m in json.loads(inspected.stdout)}
    assert mounts["/var/log/gateway"]["Type"] == "volume"
    assert mounts["/var/log/gateway"]["Name"] == naming.volume(
        stack.pipeline.project, "gateway-logs"
    )


# --- a broker restart while orders are being published ----------------------------------------


class Publisher:
    """Posts orders from background threads until stopped, sorting every answer."""

    def __init__(self, stack: Any, threads: int = 2, pause: float = 0.05) -> None:
        self._url = f"{stack.gateway_url}/api/billing"
        self._pause = pause
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.confirmed: list[str] = []
        self.refused = 0
        self.unexpected: list[str] = []
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Publisher:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT + 5)

    def confirmed_count(self) -> int:
        with self._lock:
            return len(self.confirmed)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                try:
                    response = session.post(self._url, json=VALID, timeout=TIMEOUT)
                except requests.RequestException as exc:
                    with self._lock:
                        self.unexpected.append(f"no answer: {exc}")
                    continue
                with self._lock:
                    if response.status_code == 200:
                        self.confirmed.append(str(response.json()["message_id"]))
                    elif response.status_code == 503:
                        self.refused += 1
                    else:
                        self.unexpected.append(f"{response.status_code}: {response.text[:200]}")
                # Paced, so a minute of publishing stays a few hundred orders.
                self._stop.wait(self._pause)


def test_every_order_confirmed_during_a_broker_restart_is_stored_once(stack: Any) -> None:
    try:
        with Publisher(stack) as publisher:
            eventually(lambda: publisher.confirmed_count() >= 10, what="orders confirmed")
            stack.compose("restart", "rabbit-queue")
            stack.wait_healthy("rabbit-queue", timeout=180)
            after_restart = publisher.confirmed_count()
            # The gateway must confirm orders again on its own once the broker is back.
            eventually(
                lambda: publisher.confirmed_count() >= after_restart + 10,
                timeout=120,
                what="orders confirmed after the restart",
            )
    finally:
        restore(stack, "rabbit-queue", "billing-app")
    assert publisher.unexpected == []
    assert publisher.refused, "no order was refused: the restart did not overlap publishing"
    # A 503 means "not accepted": such orders may be missing. Every 200 must be stored, once.
    wait_stored_once(stack, publisher.confirmed, timeout=180)


# --- the consumer killed with messages in flight -----------------------------------------------

BLOCKER_TAG = "nbship-resilience-blocker"
# The blocker's session, not the session asking about it (whose query text names the tag too).
BLOCKER_SESSIONS = (
    f"FROM pg_stat_activity WHERE query LIKE '%{BLOCKER_TAG}%' AND pid <> pg_backend_pid()"
)


def hold_order_row(stack: Any, message_id: str, seconds: int) -> threading.Thread:
    """Insert `message_id` in a transaction left open for `seconds`, then rolled back.

    The consumer's insert of the batch holding the same message id waits on that row's unique
    key, so the batches before it are stored and the rest are in flight: a kill now is a kill
    mid-stream.
    """
    query = (
        f"/* {BLOCKER_TAG} */ BEGIN; INSERT INTO orders "
        "(message_id, user_id, number_of_items, total_amount) "
        f"VALUES ('{uuid.UUID(message_id)}', 1, 1, 1); SELECT pg_sleep({seconds}); ROLLBACK;"
    )

    def run() -> None:
        # psql fails when release_order_row terminates it: that is the plan.
        with contextlib.suppress(NbshipError):
            stack.sql("billing-db", query)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    eventually(
        lambda: stack.sql("billing-db", f"SELECT count(*) {BLOCKER_SESSIONS}") == [("1",)],
        what="the blocking transaction",
    )
    return thread


def release_order_row(stack: Any) -> None:
    stack.sql("billing-db", f"SELECT pg_terminate_backend(pid) {BLOCKER_SESSIONS}")


def consumer_waits_on_a_lock(stack: Any) -> bool:
    rows: list[tuple[str, ...]] = stack.sql(
        "billing-db",
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = 'billing' AND wait_event_type = 'Lock'",
    )
    return rows == [("1",)]


def test_orders_survive_the_consumer_being_killed_mid_stream(stack: Any) -> None:
    # More than a batch before the held order, so at least one batch commits before the kill.
    held = BATCH_SIZE + 50
    total = held + 50
    blocker: threading.Thread | None = None
    stack.compose("stop", "billing-app")
    try:
        message_ids = queue_orders(stack, total)
        blocker = hold_order_row(stack, message_ids[held], seconds=300)
        stack.compose("start", "billing-app")
        eventually(lambda: consumer_waits_on_a_lock(stack), timeout=120, what="the consumer")
        stack.compose("kill", "billing-app")  # SIGKILL: no chance to finish or hand back
        # Read while the row is still held: a consumer restarted by Docker waits on it too.
        before_kill = stored_counts(stack, message_ids)
        release_order_row(stack)
        blocker.join(TIMEOUT)
    finally:
        if blocker is not None and blocker.is_alive():
            release_order_row(stack)
        restore(stack, "billing-app")
    # Killed mid-stream: whole batches before the held order were stored (in queue order), the
    # batch holding it and everything after it were not.
    stored = [before_kill[m] for m in message_ids]
    committed = stored.count(1)
    assert stored == [1] * committed + [0] * (total - committed)
    assert 0 < committed <= held
    wait_stored_once(stack, message_ids, timeout=120)
