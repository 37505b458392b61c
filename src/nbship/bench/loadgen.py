"""A closed-loop HTTP load generator, sent to a container's Python as `python - PARAMS_JSON`.

It must run with the standard library and requests alone (what the gateway image has), so it
imports nothing from nbship. Targets are measured in alternating rounds (A B, B A, A B, ...) so
that drift on a shared machine touches both alike; a warm-up round of each is not recorded. It
prints one JSON object: every round's elapsed time, error count and raw latencies in ms; the
host turns those into percentiles.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import requests

TIMEOUT_SECONDS = 10


def run_round(url: str, sessions: list[requests.Session], seconds: float) -> dict[str, Any]:
    """Every session sends GET URL back to back for SECONDS; latencies of 200 answers only."""
    latencies: list[list[float]] = [[] for _ in sessions]
    errors = [0] * len(sessions)
    start = threading.Barrier(len(sessions) + 1)
    deadline = 0.0

    def worker(index: int, session: requests.Session) -> None:
        start.wait()
        mine = latencies[index]
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                ok = session.get(url, timeout=TIMEOUT_SECONDS).status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                mine.append(round((time.perf_counter() - sent) * 1000, 3))
            else:
                errors[index] += 1

    threads = [
        threading.Thread(target=worker, args=(index, session), daemon=True)
        for index, session in enumerate(sessions)
    ]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    return {
        "elapsed": round(time.perf_counter() - began, 4),
        "errors": sum(errors),
        "latencies_ms": [value for per_thread in latencies for value in per_thread],
    }


def run(params: dict[str, Any]) -> dict[str, Any]:
    """Warm up each target, then measure them in alternating rounds."""
    targets: dict[str, str] = params["targets"]
    threads = int(params["threads"])
    names = list(targets)
    # One keep-alive session per thread and target, reused across rounds, like a real client.
    sessions = {name: [requests.Session() for _ in range(threads)] for name in names}
    warmup = {
        name: run_round(targets[name], sessions[name], float(params["warmup_seconds"]))
        for name in names
    }
    rounds = []
    for index in range(int(params["rounds"])):
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            result = run_round(targets[name], sessions[name], float(params["round_seconds"]))
            rounds.append({"target": name, "round": index, **result})
    return {
        "warmup": {
            name: {"requests": len(result["latencies_ms"]), "errors": result["errors"]}
            for name, result in warmup.items()
        },
        "rounds": rounds,
    }


def main() -> None:
    json.dump(run(json.loads(sys.argv[1])), sys.stdout)


if __name__ == "__main__":
    main()
