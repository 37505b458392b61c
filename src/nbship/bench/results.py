"""Benchmark results: one JSON file per benchmark and a README table of the latest figures.

A result records where and when it was measured (machine, date, git commit), the parameters, the
raw numbers, and its headline metrics with their targets. A missed target is reported, never
raised: benchmarks describe the system, the tests judge it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import subprocess
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metric:
        value = data.get("value")
        return cls(
            name=data["name"],
            value=math.nan if value is None else value if isinstance(value, int) else float(value),
            unit=data.get("unit", ""),
            target=data.get("target"),
            op=data.get("op", "<="),
        )


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
        "",
        "| Benchmark | Metric | Value | Target | Result |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {' | '.join(row)} |" for row in rows(results)]
    lines += ["", "| Benchmark | Measured | Commit | Machine |", "| --- | --- | --- | --- |"]
    for result in results:
        sha = result.git.get("sha", "?") + (" (dirty)" if result.git.get("dirty") else "")
        machine = result.machine
        where = f"{machine.get('cpus', '?')} CPUs, {machine.get('memory_gb', '?')} GB RAM"
        if machine.get("cpu_model"):
            where += f", {machine['cpu_model']}"
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
