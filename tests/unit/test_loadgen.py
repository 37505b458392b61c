"""The benchmark load generator, run as the benchmarks run it (`python loadgen.py PARAMS`)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from nbship_bench import loadgen
from nbship_common.orders import parse_order


class Target(ThreadingHTTPServer):
    """A stand-in server: 200 to GETs; to POSTs 200, or 503 for every tenth order."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[dict[str, Any]] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.idle_timeout: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Target

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def do_GET(self) -> None:
        self._answer(200)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.bodies.append(body)
            refused = len(self.server.bodies) % 10 == 0
        self._answer(503 if refused else 200)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def target(serve_http: Callable[[Target], Target]) -> Target:
    """A server the load generator sends its requests to."""
    return serve_http(Target())


def run(params: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, loadgen.__file__, json.dumps(params)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer: dict[str, Any] = json.loads(out.stdout)
    return answer


def rounds_of(target: Target, rounds: int, seconds: float) -> dict[str, Any]:
    """Params for alternating rounds against two paths of TARGET, two clients each."""
    return {
        "mode": "rounds",
        "targets": {"a": f"{target.url}/a", "b": f"{target.url}/b"},
        "clients": 2,
        "rounds": rounds,
        "round_seconds": seconds,
        "warmup_seconds": 0.1,
    }


def test_orders_are_each_posted_once_and_answers_counted(target: Target) -> None:
    result = run({"mode": "orders", "url": f"{target.url}/api/billing", "count": 50, "clients": 4})
    assert (result["accepted"], result["failed"]) == (45, 5)
    assert result["finished"] >= result["started"]
    assert sorted(target.bodies, key=json.dumps) == sorted(
        (loadgen.order(n) for n in range(50)), key=json.dumps
    )
    assert target.connections == 4  # one kept-alive connection per client


def test_rounds_alternate_targets_and_time_every_answer(target: Target) -> None:
    result = run(rounds_of(target, rounds=3, seconds=0.2))
    assert [(r["round"], r["target"]) for r in result["rounds"]] == [
        (0, "a"), (0, "b"), (1, "b"), (1, "a"), (2, "a"), (2, "b"),
    ]  # fmt: skip
    for measured in result["rounds"]:
        assert measured["errors"] == 0
        assert measured["latencies_ms"] and min(measured["latencies_ms"]) > 0
    assert set(result["warmup"]) == {"a", "b"}


def test_a_get_on_a_connection_closed_while_idle_is_sent_again(target: Target) -> None:
    # Like gunicorn's keep-alive timeout: each target sits idle while the other is measured.
    target.idle_timeout = 0.1
    result = run(rounds_of(target, rounds=2, seconds=0.3))
    assert [r["errors"] for r in result["rounds"]] == [0, 0, 0, 0]
    assert target.connections > 4  # the closed connections were replaced


def test_benchmark_orders_pass_the_real_order_validation_and_vary() -> None:
    for number in (0, 1, 999, 49_999, 50_000, 123_456):
        assert parse_order(loadgen.order(number)).number_of_items >= 1
    assert len({json.dumps(loadgen.order(n)) for n in range(100)}) == 100
