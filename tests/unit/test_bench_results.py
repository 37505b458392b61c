"""Benchmark results: targets judged, JSON written and read back, README table generated."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from nbship_bench import results
from nbship_bench.results import Metric, Result


def sample(name: str = "gateway", value: float = 1.8) -> Result:
    return Result(
        name=name,
        title="Gateway overhead",
        parameters={"threads": 8},
        metrics=[
            Metric("p50 / direct", value, "x", target=1.5, op="<="),
            Metric("throughput", 1234.5, "req/s"),
            Metric("cached", 3, "of 3", target=3, op=">="),
        ],
        raw={"gateway": {"requests": 10}},
        notes=["noisy machine"],
        git={"sha": "abc123", "dirty": True},
        machine={"cpus": 2, "memory_gb": 8.0},
    )


@pytest.mark.parametrize(
    ("value", "target", "op", "passed"),
    [(1.5, 1.5, "<=", True), (1.51, 1.5, "<=", False), (999, 1000, ">=", False),
     (1000, 1000, ">=", True), (1.0, None, "<=", None), (math.nan, 1.0, "<=", None)],
)  # fmt: skip
def test_metric_is_judged_against_its_target(
    value: float, target: float | None, op: str, passed: bool | None
) -> None:
    assert Metric("m", value, target=target, op=op).passed is passed


def test_metric_refuses_an_unknown_comparison() -> None:
    with pytest.raises(ValueError, match="op"):
        Metric("m", 1.0, op="<")


def test_missed_lists_only_metrics_that_fail_their_target() -> None:
    assert [m.name for m in sample(value=1.8).missed] == ["p50 / direct"]
    assert sample(value=1.2).missed == []


def test_written_result_holds_targets_verdicts_and_reads_back(tmp_path: Path) -> None:
    path = results.write(sample(), tmp_path)
    data = json.loads(path.read_text())
    assert path.name == "gateway.json"
    assert data["targets_met"] is False
    assert data["metrics"][0] == {
        "name": "p50 / direct", "value": 1.8, "unit": "x", "target": 1.5, "op": "<=",
        "measured": None, "baseline": None, "measured_unit": "", "passed": False,
    }  # fmt: skip
    assert data["git"] == {"sha": "abc123", "dirty": True}
    [loaded] = results.load_all(tmp_path)
    assert loaded.metrics == sample().metrics
    assert loaded.raw == sample().raw


def test_non_finite_values_are_written_as_null(tmp_path: Path) -> None:
    result = sample(value=math.inf)
    data = json.loads(results.write(result, tmp_path).read_text())
    assert data["metrics"][0]["value"] is None
    assert math.isnan(results.load_all(tmp_path)[0].metrics[0].value)


def test_readme_tabulates_every_result_and_skips_foreign_json(tmp_path: Path) -> None:
    results.write(sample("gateway", 1.8), tmp_path)
    results.write(sample("billing", 1.2), tmp_path)
    (tmp_path / "other.json").write_text('{"not": "a result"}')
    text = results.write_readme(tmp_path).read_text()
    assert "| gateway | p50 / direct | 1.80 x | ≤ 1.50 x | MISSED |" in text
    assert "| billing | p50 / direct | 1.20 x | ≤ 1.50 x | met |" in text
    assert "| billing | throughput | 1,234 req/s |  |  |" in text
    assert "| billing | cached | 3 of 3 | ≥ 3 of 3 | met |" in text
    assert "abc123 (dirty)" in text
    assert "- gateway: noisy machine" in text


def test_terminal_table_aligns_columns() -> None:
    lines = results.terminal_table([sample()]).splitlines()
    assert lines[0].split() == ["benchmark", "metric", "value", "target"]
    assert lines[2].index("1.80 x") == lines[3].index("1,234 req/s")


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [(0.3456, "x", "0.35 x"), (12.34, "s", "12.3 s"), (123.4, "MB", "123 MB"),
     (12345.6, "", "12,346"), (math.nan, "x", "n/a"), (math.inf, "x", "inf"),
     (3, "of 3", "3 of 3"), (58.0, "MB", "58.0 MB"), (999.7, "req/s", "1,000 req/s"),
     (99.96, "MB", "100 MB"), (9.996, "s", "10.0 s")],
)  # fmt: skip
def test_values_are_formatted_for_reading(value: float | int, unit: str, text: str) -> None:
    assert results.format_value(value, unit) == text


def test_ratio_keeps_both_absolute_figures_beside_it(tmp_path: Path) -> None:
    metric = results.ratio("e2e / naive", 1200.0, 400.0, "orders/s", target=2.0)
    assert (metric.value, metric.unit, metric.passed) == (3.0, "x", True)
    result = Result("billing", "Billing", {}, [metric])
    [loaded] = results.load_all(results.write(result, tmp_path).parent)
    assert loaded.metrics[0] == metric
    assert (loaded.metrics[0].measured, loaded.metrics[0].baseline) == (1200.0, 400.0)
    assert loaded.metrics[0].measured_unit == "orders/s"


def test_ratio_against_a_zero_baseline_is_not_a_number() -> None:
    assert math.isnan(results.ratio("r", 5.0, 0.0, "orders/s", target=1.0).value)


STAT_START = "cpu  1000 10 500 8000 100 0 20 200 50 0\ncpu0 500 5 250 4000 50 0 10 100 25 0\n"
STAT_END = "cpu  1300 10 600 8300 100 0 20 300 90 0\ncpu0 650 5 300 4150 50 0 15 150 45 0\n"


def test_steal_and_busy_shares_come_from_the_aggregate_cpu_line() -> None:
    start, end = results.CpuTimes.parse(STAT_START), results.CpuTimes.parse(STAT_END)
    # 800 ticks passed (guest is inside user): 100 stolen, 300 idle.
    assert end.total - start.total == 800
    assert results.cpu_shares(start, end) == {"steal_percent": 12.5, "busy_percent": 62.5}


def test_no_time_passed_gives_no_shares() -> None:
    start = results.CpuTimes.parse(STAT_START)
    assert results.cpu_shares(start, start) == {}


def test_stat_without_an_aggregate_line_is_refused() -> None:
    with pytest.raises(ValueError, match="cpu"):
        results.CpuTimes.parse("intr 12 3\nctxt 99\n")


def test_load_probe_reads_this_machine() -> None:
    probe = results.LoadProbe()
    time.sleep(0.1)  # a few clock ticks (USER_HZ is 100) between the two readings
    load = probe.finish()
    assert load["loadavg_1m_start"] >= 0 and load["loadavg_1m_end"] >= 0
    assert 0 <= load["steal_percent"] <= 100
    assert 0 <= load["busy_percent"] <= 100


def test_readme_shows_load_and_steal_of_each_run(tmp_path: Path) -> None:
    result = sample()
    result.load = {"loadavg_1m_start": 0.5, "loadavg_1m_end": 1.75, "steal_percent": 20.0,
                   "busy_percent": 80.0}  # fmt: skip
    results.write(result, tmp_path)
    text = results.write_readme(tmp_path).read_text()
    assert "2 cores; load 0.5 → 1.75, steal 20.0 %, busy 80.0 %" in text
