"""Benchmark arithmetic: percentiles, latency summaries and ratios."""

from __future__ import annotations

import math

import pytest

from nbship_bench import stats


def test_percentile_interpolates_linearly_between_ranks() -> None:
    values = [40.0, 10.0, 30.0, 20.0]  # unsorted on purpose
    assert stats.percentile(values, 0) == 10.0
    assert stats.percentile(values, 100) == 40.0
    assert stats.percentile(values, 50) == pytest.approx(25.0)
    assert stats.percentile(values, 99) == pytest.approx(39.7)


def test_percentile_of_one_value_is_that_value() -> None:
    assert stats.percentile([7.5], 99) == 7.5


@pytest.mark.parametrize("q", [-1, 100.5])
def test_percentile_refuses_out_of_range_q(q: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        stats.percentile([1.0], q)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        stats.percentile([], 50)


def test_ratio_handles_a_zero_denominator() -> None:
    assert stats.ratio(3, 2) == 1.5
    assert math.isinf(stats.ratio(1, 0))
    assert math.isnan(stats.ratio(0, 0))


def test_latency_summary_counts_successes_and_reports_percentiles() -> None:
    summary = stats.latency_summary([float(ms) for ms in range(1, 101)], seconds=2.0, errors=3)
    assert summary["requests"] == 100
    assert summary["errors"] == 3
    assert summary["throughput_rps"] == 50.0
    assert summary["p50_ms"] == pytest.approx(50.5)
    assert summary["p99_ms"] == pytest.approx(99.01)
    assert summary["max_ms"] == 100.0


def test_latency_summary_without_successes_has_no_percentiles() -> None:
    summary = stats.latency_summary([], seconds=1.0, errors=5)
    assert summary["throughput_rps"] == 0
    assert "p50_ms" not in summary


def test_rate_is_zero_when_nothing_happened() -> None:
    assert stats.rate(0, 0) == 0.0
    assert stats.rate(1000, 4) == 250.0
