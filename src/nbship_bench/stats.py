"""The arithmetic of benchmark figures: percentiles, latency summaries and ratios."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks.

    Same definition as numpy's default ("linear"): p0 is the minimum, p100 the maximum.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    """The 50th percentile."""
    return percentile(values, 50)


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; infinite when only the denominator is zero, NaN when both are."""
    if denominator == 0:
        return math.nan if numerator == 0 else math.inf
    return numerator / denominator


def latency_summary(
    latencies_ms: Sequence[float], seconds: float, errors: int = 0
) -> dict[str, Any]:
    """Count, errors, throughput (successful requests/s) and latency percentiles in ms."""
    summary: dict[str, float | int] = {
        "requests": len(latencies_ms),
        "errors": errors,
        "seconds": round(seconds, 3),
        "throughput_rps": round(ratio(len(latencies_ms), seconds), 1),
    }
    if latencies_ms:
        summary |= {
            "mean_ms": round(sum(latencies_ms) / len(latencies_ms), 3),
            **{f"p{q}_ms": round(percentile(latencies_ms, q), 3) for q in (50, 90, 99)},
            "max_ms": round(max(latencies_ms), 3),
        }
    return summary


def rate(count: int, seconds: float) -> float:
    """Events per second, rounded to one decimal (0 when nothing happened in no time)."""
    value = ratio(count, seconds)
    return 0.0 if math.isnan(value) else round(value, 1)
