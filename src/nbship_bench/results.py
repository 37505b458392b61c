"""Benchmark results: one JSON file per benchmark and a README table of the latest figures.

A result records where and when it was measured (machine, date, git commit), how busy the machine
was while it ran (load average, CPU steal time), the parameters, the raw numbers, and its headline
metrics with their targets. A speed target is a ratio against a baseline measured in the same run,
with both absolute figures kept beside it: on a shared machine the absolute figures move with the
neighbours' load, the ratio much less. A missed target is reported, never raised: benchmarks
describe the system, the tests judge it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nbship.files import atomic_write
from nbship.paths import ROOT

RESULTS_DIR = ROOT / "bench" / "results"
README = "README.md"


@dataclass(frozen=True)
class Metric:
    """One headline figure; with a target, `passed` says whether the value meets it."""

    name: str
    value: float  # an int for counts, which print without decimals
    unit: str = ""
    target: float | None = None
    # "<=": the value must be at most the target; ">=": at least.
    op: str = "<="
    # For a ratio: the two absolute figures it compares, both measured in the same run.
    measured: float | None = None
    baseline: float | None = None
    measured_unit: str = ""

    def __post_init__(self) -> None:
        if self.op not in {"<=", ">="}:
            raise ValueError(f"op must be '<=' or '>=', not {self.op!r}")

    @property
    def passed(self) -> bool | None:
        """True or False against the target; None when there is no target or no value."""
        if self.target is None or math.isnan(self.value):
            return None
        return self.value <= self.target if self.op == "<=" else self.value >= self.target

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "value": _json_number(self.value), "passed": self.passed}

    @property
    def is_ratio(self) -> bool:
        """Whether the value is a ratio of two figures (unit "x") rather than a figure itself."""
        return self.unit == "x"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metric:
        """A metric as `to_dict` wrote it; files from before ratios had baselines read too."""
        return cls(
            name=data["name"],
            value=_number(data.get("value")),
            unit=data.get("unit", ""),
            target=data.get("target"),
            op=data.get("op", "<="),
            measured=data.get("measured"),
            baseline=data.get("baseline"),
            measured_unit=data.get("measured_unit", ""),
        )


def ratio(
    name: str,
    measured: float,
    baseline: float,
    unit: str,
    target: float | None = None,
    op: str = ">=",
) -> Metric:
    """MEASURED / BASELINE as a metric, with both figures kept beside the ratio."""
    value = round(measured / baseline, 2) if baseline else math.nan
    return Metric(name, value, "x", target, op, measured, baseline, unit)


def _number(value: Any) -> float:
    """A JSON metric value: null is NaN, an int stays an int (a count)."""
    if value is None:
        return math.nan
    return value if isinstance(value, int) else float(value)


@dataclass
class Result:
    """Everything one benchmark run measured."""

    name: str
    title: str
    parameters: dict[str, Any]
    metrics: list[Metric]
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    date: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    git: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    # How busy the machine was during the run (see LoadProbe); empty in files from before it.
    load: dict[str, Any] = field(default_factory=dict)

    @property
    def missed(self) -> list[Metric]:
        """The metrics whose target was not met."""
        return [metric for metric in self.metrics if metric.passed is False]

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "title": self.title,
            "date": self.date,
            "git": self.git,
            "machine": self.machine,
            "load": self.load,
            "parameters": self.parameters,
            "metrics": [metric.to_dict() for metric in self.metrics],
            "targets_met": not self.missed,
            "notes": self.notes,
            "raw": self.raw,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        return cls(
            name=data["benchmark"],
            title=data.get("title", data["benchmark"]),
            parameters=data.get("parameters", {}),
            metrics=[Metric.from_dict(item) for item in data.get("metrics", [])],
            raw=data.get("raw", {}),
            notes=data.get("notes", []),
            date=data.get("date", ""),
            git=data.get("git", {}),
            machine=data.get("machine", {}),
            load=data.get("load", {}),
        )


def _json_number(value: float) -> float | None:
    """JSON has no NaN or infinity: both become null."""
    return value if math.isfinite(value) else None


def write(result: Result, directory: Path = RESULTS_DIR) -> Path:
    """Write RESULT to DIRECTORY/NAME.json (atomically) and return the path."""
    path = directory / f"{result.name}.json"
    text = json.dumps(result.to_dict(), indent=2, sort_keys=False, allow_nan=False) + "\n"
    atomic_write(path, text)
    return path


def load_all(directory: Path = RESULTS_DIR) -> list[Result]:
    """Every result in DIRECTORY, by benchmark name."""
    results = []
    for path in sorted(directory.glob("*.json")):
        try:
            results.append(Result.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, KeyError):
            continue  # not a result file (or a broken one): the README lists what it can read
    return results


def format_value(value: float, unit: str = "") -> str:
    """A metric value as people read it: 3 significant figures, big numbers grouped."""
    if isinstance(value, int):  # a count
        return f"{value:,} {unit}".strip()
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    # Thresholds are where the rounded text gains a digit: 999.7 reads "1,000", 99.96 "100".
    if abs(value) >= 999.5:
        text = f"{value:,.0f}"
    elif abs(value) >= 99.95:
        text = f"{value:.0f}"
    elif abs(value) >= 9.995:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def format_target(metric: Metric) -> str:
    if metric.target is None:
        return ""
    op = "≤" if metric.op == "<=" else "≥"
    return f"{op} {format_value(metric.target, metric.unit)}"


def verdict(metric: Metric) -> str:
    return {True: "met", False: "MISSED", None: ""}[metric.passed]


def rows(results: list[Result]) -> list[tuple[str, str, str, str, str]]:
    """(benchmark, metric, value, target, verdict) for every metric of every result."""
    return [
        (
            result.name,
            metric.name,
            format_value(metric.value, metric.unit),
            format_target(metric),
            verdict(metric),
        )
        for result in results
        for metric in result.metrics
    ]


def terminal_table(results: list[Result]) -> str:
    """A plain-text table of the results' metrics, columns aligned."""
    header = ("benchmark", "metric", "value", "target", "")
    table = [header, *rows(results)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths).rstrip())
    return "\n".join(lines)


def markdown(results: list[Result]) -> str:
    """The README of bench/results: a table of the latest figures, then where they came from."""
    lines = [
        "# Benchmark results",
        "",
        "Generated by `invoke bench` from the JSON files next to this one (raw numbers, parameters",
        "and machine details are there); do not edit. Speed figures are ratios of two things",
        "measured side by side in one run, so they hold on a shared, noisy machine.",
        "Plots and history: [docs/benchmarks.md](../../docs/benchmarks.md).",
        "",
        "| Benchmark | Metric | Value | Target | Result |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {' | '.join(row)} |" for row in rows(results)]
    lines += ["", "| Benchmark | Measured | Commit | Machine |", "| --- | --- | --- | --- |"]
    for result in results:
        sha = result.git.get("sha", "?") + (" (dirty)" if result.git.get("dirty") else "")
        where = describe_machine(result)
        lines.append(f"| [{result.name}]({result.name}.json) | {result.date} | {sha} | {where} |")
    notes = [(result.name, note) for result in results for note in result.notes]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {name}: {note}" for name, note in notes]
    return "\n".join(lines) + "\n"


def write_readme(directory: Path = RESULTS_DIR) -> Path:
    """Regenerate DIRECTORY/README.md from every result file there."""
    path = directory / README
    atomic_write(path, markdown(load_all(directory)))
    return path


def git_info() -> dict[str, Any]:
    """The commit measured, and whether the working tree had uncommitted changes.

    The results folder itself does not count: each benchmark of `invoke bench` rewrites it, and
    the ones after the first would otherwise all be marked dirty.
    """

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    others = f":(exclude){RESULTS_DIR.relative_to(ROOT)}"
    return {
        "sha": git("rev-parse", "--short=12", "HEAD") or "unknown",
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", others)),
    }


def machine_info(docker_version: str = "") -> dict[str, Any]:
    """What the figures were measured on (no host names or users)."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        models = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        ]
        if models:
            info["cpu_model"] = models[0]
        meminfo = Path("/proc/meminfo").read_text(encoding="utf-8").split()
        info["memory_gb"] = round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    if docker_version:
        info["docker"] = docker_version
    return info


PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class CpuTimes:
    """The machine's CPU time counters (all cores, in clock ticks) at one moment."""

    total: int
    idle: int
    steal: int

    @classmethod
    def parse(cls, stat: str) -> CpuTimes:
        """The `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal ...

        guest and guest_nice are already counted in user and nice, so the total stops at steal.
        """
        for line in stat.splitlines():
            fields = line.split()
            if fields and fields[0] == "cpu":
                ticks = [int(tick) for tick in fields[1:9]]
                ticks += [0] * (8 - len(ticks))  # kernels before 2.6.11 had no steal column
                return cls(total=sum(ticks), idle=ticks[3] + ticks[4], steal=ticks[7])
        raise ValueError("no aggregate 'cpu' line")

    @classmethod
    def now(cls) -> CpuTimes | None:
        """The counters now; None where /proc/stat cannot be read (not Linux)."""
        try:
            return cls.parse(PROC_STAT.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def cpu_shares(start: CpuTimes, end: CpuTimes) -> dict[str, float]:
    """Percent of CPU time between START and END stolen by the hypervisor, and busy (not idle)."""
    elapsed = end.total - start.total
    if elapsed <= 0:
        return {}
    return {
        "steal_percent": round(100 * (end.steal - start.steal) / elapsed, 1),
        "busy_percent": round(100 * (elapsed - (end.idle - start.idle)) / elapsed, 1),
    }


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


class LoadProbe:
    """How busy the machine was over one benchmark run: what makes two runs comparable or not.

    Started before the benchmark and finished after it: the 1-minute load average at both ends
    and, from /proc/stat, the share of CPU time the hypervisor stole (other guests' work) and the
    share that was busy. A run with high steal measured a slower machine than its neighbours did.
    """

    def __init__(self) -> None:
        self._load = _loadavg()
        self._cpu = CpuTimes.now()
        self._started = time.monotonic()

    def finish(self) -> dict[str, Any]:
        """The figures from start until now, for `Result.load`."""
        figures: dict[str, Any] = {
            "seconds": round(time.monotonic() - self._started, 1),
            "loadavg_1m_start": self._load,
            "loadavg_1m_end": _loadavg(),
        }
        end = CpuTimes.now()
        if self._cpu is not None and end is not None:
            figures |= cpu_shares(self._cpu, end)
        return figures


def describe_machine(result: Result) -> str:
    """Cores, CPU model, load and steal of a result's run, in one line of text."""
    machine, load = result.machine, result.load
    where = f"{machine.get('cpus', '?')} cores"
    if machine.get("cpu_model"):
        where += f", {machine['cpu_model']}"
    if not load:
        return where + "; load and steal not recorded"
    start, end = load.get("loadavg_1m_start"), load.get("loadavg_1m_end")
    where += f"; load {_or_unknown(start)} → {_or_unknown(end)}"
    where += f", steal {_or_unknown(load.get('steal_percent'))} %"
    return where + f", busy {_or_unknown(load.get('busy_percent'))} %"


def _or_unknown(value: Any) -> str:
    return "?" if value is None else str(value)
