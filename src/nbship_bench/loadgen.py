"""A closed-loop HTTP load generator, sent to the gateway container's Python as `python - PARAMS`.

It runs with what the gateway image has (the standard library and gevent), so it imports nothing
from nbship. Each client is a greenlet holding one keep-alive connection: one process
and thread for every client, so the load generator takes as little of the machine's CPU from
the services it measures as a Python client can.

Two modes, chosen by PARAMS["mode"]:
- "rounds": GET each target back to back for a number of seconds, targets measured in
  alternating rounds (A B, B A, A B, ...) so that drift on a shared machine touches both alike,
  after an unrecorded warm-up round of each. Prints every round's elapsed time, error count
  and raw latencies in ms; the host turns those into percentiles.
- "orders": POST PARAMS["count"] benchmark orders (see `order`) to one URL from
  PARAMS["clients"] clients. Prints how many were answered 200 and when the burst started and
  ended (epoch seconds: the host and the containers share one clock).

gevent is imported by main(), which patches the standard library (sockets, time) so that the
clients cooperate; importing this module (the unit tests do) patches nothing.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 30


def order(number: int) -> dict[str, object]:
    """The NUMBERth benchmark order: valid, and varied enough not to be one repeated row."""
    return {
        "user_id": 1 + number % 1000,
        "number_of_items": 1 + number % 9,
        "total_amount": f"{1 + number % 50_000 / 100:.2f}",
    }


class Client:
    """One kept-alive connection to a URL's host, as a load-generating client holds it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._connection: http.client.HTTPConnection | None = None

    def send(self, method: str, body: bytes | None = None) -> int:
        """The status of one request; 0 when it got no answer (the connection is then renewed).

        A GET on a kept connection the server closed while it sat idle (gunicorn's keep-alive
        timeout) is sent again on a new one, as browsers and HTTP libraries do.
        """
        kept = self._connection is not None
        status = self._send(method, body)
        if status == 0 and kept and method == "GET":
            status = self._send(method, body)
        return status

    def _send(self, method: str, body: bytes | None) -> int:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(*self._address, timeout=TIMEOUT_SECONDS)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            self._connection.request(method, self.path, body=body, headers=headers)
            response = self._connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            self._connection.close()
            self._connection = None
            return 0
        if response.will_close:
            self._connection.close()
            self._connection = None
        return response.status


def run_round(clients: list[Client], seconds: float) -> dict[str, Any]:
    """Every client sends GET back to back for SECONDS; latencies of 200 answers only."""
    import gevent

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    def one_client(client: Client) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            if client.send("GET") == 200:
                latencies.append(round((time.perf_counter() - sent) * 1000, 3))
            else:
                errors += 1

    began = time.perf_counter()
    gevent.joinall([gevent.spawn(one_client, client) for client in clients])
    return {
        "elapsed": round(time.perf_counter() - began, 4),
        "errors": errors,
        "latencies_ms": latencies,
    }


def rounds(params: dict[str, Any]) -> dict[str, Any]:
    """Warm up each target, then measure them in alternating rounds."""
    targets: dict[str, str] = params["targets"]
    names = list(targets)
    # One keep-alive connection per client and target, reused across rounds, like a real client.
    clients = {name: [Client(targets[name]) for _ in range(params["clients"])] for name in names}
    warmup = {name: run_round(clients[name], float(params["warmup_seconds"])) for name in names}
    measured = []
    for index in range(int(params["rounds"])):
        sequence = names if index % 2 == 0 else names[::-1]
        for name in sequence:
            result = run_round(clients[name], float(params["round_seconds"]))
            measured.append({"target": name, "round": index, **result})
    return {
        "warmup": {
            name: {"requests": len(result["latencies_ms"]), "errors": result["errors"]}
            for name, result in warmup.items()
        },
        "rounds": measured,
    }


def orders(params: dict[str, Any]) -> dict[str, Any]:
    """POST COUNT orders to URL from CLIENTS clients at once; count the 200s."""
    import gevent

    numbers = iter(range(int(params["count"])))
    answered = {"accepted": 0, "failed": 0}

    def one_client() -> None:
        client = Client(params["url"])
        for number in numbers:  # the clients share one iterator: each number is sent once
            status = client.send("POST", json.dumps(order(number)).encode())
            answered["accepted" if status == 200 else "failed"] += 1

    started = time.time()
    gevent.joinall([gevent.spawn(one_client) for _ in range(int(params["clients"]))])
    return {**answered, "started": started, "finished": time.time()}


def main() -> None:
    from gevent import monkey

    # Before any socket is opened, so each client's waiting lets the others run.
    monkey.patch_all()
    params = json.loads(sys.argv[1])
    run = {"rounds": rounds, "orders": orders}[params["mode"]]
    json.dump(run(params), sys.stdout)


if __name__ == "__main__":
    main()
