"""Gateway overhead: GET /api/movies/ID through the gateway against the same call to inventory.

inventory's port is not published, so the load generator runs inside the gateway container and
calls both the gateway (127.0.0.1:3000) and inventory (inventory-app:8080) over the same loopback
and bridge network, in alternating rounds of the same length and concurrency.
"""

from __future__ import annotations

import json
from math import nan
from pathlib import Path
from typing import Any

import requests

from nbship.bench import stats
from nbship.bench.results import Metric, Result
from nbship.bench.stack import BenchStack
from nbship.errors import NbshipError

NAME = "gateway"
TITLE = "Gateway overhead on GET /api/movies/<id>"
# The gateway may add at most 50% over calling inventory directly.
MAX_OVERHEAD = 1.5
LOADGEN = Path(__file__).with_name("loadgen.py")


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


def run(
    bench: BenchStack,
    threads: int = 8,
    rounds: int = 10,
    round_seconds: float = 3.0,
    warmup_seconds: float = 3.0,
) -> Result:
    """Measure both paths in one run and compare them."""
    movie_id = _create_movie(bench.gateway_url)
    params = {
        "targets": {
            "gateway": f"http://127.0.0.1:3000/api/movies/{movie_id}",
            "direct": f"http://inventory-app:8080/api/movies/{movie_id}",
        },
        "threads": threads,
        "rounds": rounds,
        "round_seconds": round_seconds,
        "warmup_seconds": warmup_seconds,
    }
    print(
        f"nbship: gateway vs direct, {threads} threads, {rounds} x {round_seconds:g}s rounds each "
        f"(about {2 * (rounds * round_seconds + warmup_seconds):.0f}s)",
        flush=True,
    )
    try:
        out = bench.compose(
            "exec",
            "-T",
            "api-gateway-app",
            "python",
            "-",
            json.dumps(params),
            input=LOADGEN.read_text(encoding="utf-8"),
        )
    finally:
        requests.delete(f"{bench.gateway_url}/api/movies/{movie_id}", timeout=10)
    try:
        data = json.loads(out.stdout)
    except ValueError:
        raise NbshipError(f"the load generator printed no JSON: {out.stdout[:200]!r}") from None
    figures = compare(data["rounds"])
    gateway, direct = figures["gateway"], figures["direct"]
    per_round = figures["throughput_ratio_per_round"]
    metrics = [
        Metric("gateway p50 latency / direct", figures["p50_ratio"], "x", MAX_OVERHEAD, "<="),
        Metric("gateway p99 latency / direct", figures["p99_ratio"], "x", MAX_OVERHEAD, "<="),
        Metric("direct throughput / gateway", figures["throughput_ratio"], "x", MAX_OVERHEAD),
        Metric("gateway throughput", gateway["throughput_rps"], "req/s"),
        Metric("direct throughput", direct["throughput_rps"], "req/s"),
        Metric("gateway p50 latency", gateway.get("p50_ms", nan), "ms"),
        Metric("gateway p99 latency", gateway.get("p99_ms", nan), "ms"),
        Metric("direct p50 latency", direct.get("p50_ms", nan), "ms"),
        Metric("direct p99 latency", direct.get("p99_ms", nan), "ms"),
    ]
    notes = []
    if gateway["errors"] or direct["errors"]:
        notes.append(f"errors: gateway {gateway['errors']}, direct {direct['errors']}")
    notes.append(
        "per-round throughput ratio (direct/gateway) ranged "
        f"{min(per_round):.2f}-{max(per_round):.2f}"
    )
    return Result(
        name=NAME,
        title=TITLE,
        parameters={k: v for k, v in params.items() if k != "targets"}
        | {"stack": bench.stack.project, "path": "/api/movies/<id>", "images": bench.images},
        metrics=metrics,
        raw={
            "gateway": gateway,
            "direct": direct,
            "throughput_ratio_per_round": per_round,
            "warmup": data.get("warmup", {}),
        },
        notes=notes,
    )
