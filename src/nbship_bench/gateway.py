"""Gateway overhead: GET /api/movies/ID through the gateway against the same call to inventory.

inventory's port is not published, so the load generator (loadgen.py) runs inside the gateway
container and calls both the gateway (127.0.0.1:3000) and inventory (inventory-app:8080), in
alternating rounds of the same length and concurrency: once with one client (the latency the
gateway adds to a request) and once with several (what it costs when the cores are busy).
"""

from __future__ import annotations

from math import nan
from typing import Any

import requests

from nbship.errors import NbshipError
from nbship_bench import stats
from nbship_bench.results import Metric, Result
from nbship_bench.stack import BenchStack

NAME = "gateway"
TITLE = "Gateway overhead on GET /api/movies/<id>"
# The gateway may add at most 50% over calling inventory directly.
MAX_OVERHEAD = 1.5


def compare(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-target summaries and the gateway/direct ratios, from the load generator's rounds."""
    summaries: dict[str, dict[str, Any]] = {}
    for target in ("gateway", "direct"):
        mine = [item for item in rounds if item["target"] == target]
        if not mine:
            raise NbshipError(f"the load generator returned no {target} rounds")
        latencies = [value for item in mine for value in item["latencies_ms"]]
        seconds = sum(item["elapsed"] for item in mine)
        errors = sum(item["errors"] for item in mine)
        summaries[target] = stats.latency_summary(latencies, seconds, errors)
    gateway, direct = summaries["gateway"], summaries["direct"]
    per_round = []
    for index in sorted({item["round"] for item in rounds}):
        pair = {item["target"]: item for item in rounds if item["round"] == index}
        rps = {
            target: stats.ratio(len(pair[target]["latencies_ms"]), pair[target]["elapsed"])
            for target in pair
        }
        per_round.append(round(stats.ratio(rps["direct"], rps["gateway"]), 3))
    return {
        "gateway": gateway,
        "direct": direct,
        "p50_ratio": stats.ratio(gateway.get("p50_ms", 0), direct.get("p50_ms", 0)),
        "p99_ratio": stats.ratio(gateway.get("p99_ms", 0), direct.get("p99_ms", 0)),
        "throughput_ratio": stats.ratio(direct["throughput_rps"], gateway["throughput_rps"]),
        "throughput_ratio_per_round": per_round,
    }


def _create_movie(gateway_url: str) -> int:
    response = requests.post(
        f"{gateway_url}/api/movies",
        json={"title": "Benchmark movie", "description": "Created by invoke bench.gateway."},
        timeout=10,
    )
    if response.status_code != 201:
        raise NbshipError(
            f"creating a movie through {gateway_url} answered HTTP {response.status_code}"
        )
    return int(response.json()["id"])


def _measure(
    bench: BenchStack, movie_id: int, clients: int, rounds: int, seconds: float
) -> dict[str, Any]:
    """Alternating gateway/direct rounds at one concurrency; the figures of compare()."""
    params = {
        "mode": "rounds",
        "targets": {
            "gateway": f"http://127.0.0.1:3000/api/movies/{movie_id}",
            "direct": f"http://inventory-app:8080/api/movies/{movie_id}",
        },
        "clients": clients,
        "rounds": rounds,
        "round_seconds": seconds,
        "warmup_seconds": seconds,
    }
    print(
        f"nbship: gateway vs direct, {clients} client(s), {rounds} x {seconds:g}s rounds each "
        f"(about {2 * (rounds + 1) * seconds:.0f}s)",
        flush=True,
    )
    data = bench.loadgen(params)
    return {**compare(data["rounds"]), "warmup": data.get("warmup", {})}


def _metrics(figures: dict[str, Any], label: str) -> list[Metric]:
    gateway, direct = figures["gateway"], figures["direct"]
    return [
        Metric(f"gateway p50 latency / direct, {label}", figures["p50_ratio"], "x",
               MAX_OVERHEAD, "<="),
        Metric(f"gateway p99 latency / direct, {label}", figures["p99_ratio"], "x",
               MAX_OVERHEAD, "<="),
        Metric(f"direct throughput / gateway, {label}", figures["throughput_ratio"], "x",
               MAX_OVERHEAD),
        Metric(f"gateway throughput, {label}", gateway["throughput_rps"], "req/s"),
        Metric(f"direct throughput, {label}", direct["throughput_rps"], "req/s"),
        Metric(f"gateway p50 latency, {label}", gateway.get("p50_ms", nan), "ms"),
        Metric(f"direct p50 latency, {label}", direct.get("p50_ms", nan), "ms"),
        Metric(f"gateway p99 latency, {label}", gateway.get("p99_ms", nan), "ms"),
        Metric(f"direct p99 latency, {label}", direct.get("p99_ms", nan), "ms"),
    ]  # fmt: skip


def run(
    bench: BenchStack,
    clients: int = 8,
    rounds: int = 10,
    round_seconds: float = 3.0,
) -> Result:
    """Measure both paths in one run, unloaded (one client) and loaded (CLIENTS), and compare.

    One client sends the next request only when the last is answered: nothing queues, so the
    ratio is the latency the gateway adds to a request. CLIENTS at once keep both CPU cores busy:
    then the ratio is what the extra hop costs in capacity, every process on the path (gateway,
    inventory, PostgreSQL, the load generator) sharing the same two cores.
    """
    movie_id = _create_movie(bench.gateway_url)
    levels = {"1 client": 1}
    if clients > 1:
        levels[f"{clients} clients"] = clients
    try:
        measured = {
            label: _measure(bench, movie_id, count, rounds, round_seconds)
            for label, count in levels.items()
        }
    finally:
        requests.delete(f"{bench.gateway_url}/api/movies/{movie_id}", timeout=10)
    metrics = [metric for label, figures in measured.items() for metric in _metrics(figures, label)]
    notes = []
    for label, figures in measured.items():
        gateway, direct = figures["gateway"], figures["direct"]
        per_round = figures["throughput_ratio_per_round"]
        if gateway["errors"] or direct["errors"]:
            notes.append(f"{label}: errors: gateway {gateway['errors']}, direct {direct['errors']}")
        notes.append(
            f"{label}: per-round throughput ratio (direct/gateway) ranged "
            f"{min(per_round):.2f}-{max(per_round):.2f}"
        )
    return Result(
        name=NAME,
        title=TITLE,
        parameters={
            "clients": list(levels.values()),
            "rounds": rounds,
            "round_seconds": round_seconds,
            "stack": bench.stack.project,
            "path": "/api/movies/<id>",
            "images": bench.images,
        },
        metrics=metrics,
        raw={label: figures for label, figures in measured.items()},
        notes=notes,
    )
