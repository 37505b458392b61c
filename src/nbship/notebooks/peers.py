"""The study's notebooks through the peers, nborder and nbqa + pyflakes, beside nbship's audit.

The peers are not dependencies of nbship: they are run as the command-line tools a user would
install (``pip install nborder nbqa pyflakes``), from a folder given by the caller, and their
findings are sorted into the same few kinds nbship reports so that the three can be counted side
by side.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbship.errors import NbshipError

KINDS = ("out-of-order", "hidden-state", "undefined-name", "unparsable", "other")
NBORDER_KINDS = {"NB101": "out-of-order", "NB201": "hidden-state", "NB102": "undefined-name"}
NBSHIP_KINDS = {
    "out-of-order": "out-of-order",
    "hidden-state": "hidden-state",
    "undefined-name": "undefined-name",
    "syntax": "unparsable",
}
# nbqa prints "path:cell_N:line:col: message" for each pyflakes finding.
_PYFLAKES_LINE = re.compile(r"^(?P<path>.+?\.ipynb):cell_(?P<cell>\d+):\d+:\d+:? (?P<message>.*)$")


@dataclass
class ToolRun:
    """One tool over the corpus: findings per notebook by kind, failures, time taken."""

    tool: str
    findings: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    detail: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    # CPU time: on a shared, loaded machine it says more about a tool's cost than wall time.
    cpu_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "seconds": round(self.seconds, 2),
            "cpu_seconds": round(self.cpu_seconds, 2),
            "failed": self.failed,
            "findings": {path: dict(kinds) for path, kinds in sorted(self.findings.items())},
            "detail": dict(sorted(self.detail.items())),
        }


def run_nbship(paths: list[Path]) -> ToolRun:
    """nbship's static audit, in this process, sorted into the peers' kinds."""
    from nbship.notebooks.audit import audit_notebook

    run = ToolRun("nbship")
    started, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        key = str(path)
        try:
            result = audit_notebook(path, execute=False)
        except Exception as exc:  # the study records crashes rather than stopping at one
            run.failed[key] = f"{type(exc).__name__}: {exc}"
            continue
        for finding in result.findings:
            kind = NBSHIP_KINDS.get(finding.check)
            if kind is None and finding.severity == "info":
                continue
            run.findings[key][kind or "other"] += 1
            if kind in ("hidden-state", "undefined-name"):
                run.detail[key].append(f"cell {finding.cell}: {finding.message}")
    run.seconds = time.perf_counter() - started
    run.cpu_seconds = time.process_time() - cpu
    return run


# nborder's CLI stops at the first notebook it cannot parse, and one process per notebook would
# time Python's start-up; so its public check function runs on each notebook in one process of
# its own interpreter, the way its CLI calls it (default severities: error and warning).
NBORDER_DRIVER = """
import json, sys, time
from pathlib import Path
from nborder.check import check_notebook, filter_visible_diagnostics
from nborder.config import load_config
from nborder.parser.reader import read_notebook
levels = frozenset({"error", "warning"})
started, cpu = time.perf_counter(), time.process_time()
for line in sys.stdin:
    path = Path(line.rstrip("\\n"))
    try:
        diagnostics = check_notebook(read_notebook(path), load_config(path), include_levels=levels)
        found = [[d.code, d.cell_index, d.message]
                 for d in filter_visible_diagnostics(diagnostics, include_levels=levels)]
        print(json.dumps({"path": str(path), "diagnostics": found}))
    except Exception as exc:
        print(json.dumps({"path": str(path), "failed": f"{type(exc).__name__}: {exc}"[:300]}))
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
"""


def run_nborder(paths: list[Path], bin_dir: Path) -> ToolRun:
    """nborder's checks on every notebook, in one process of the peers' interpreter."""
    run = ToolRun("nborder")
    done = subprocess.run(
        [_tool(bin_dir, "python"), "-c", NBORDER_DRIVER],
        input="".join(f"{path}\n" for path in paths),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()
        raise NbshipError(f"nborder failed: {reason[-1] if reason else done.returncode}")
    for line in done.stdout.splitlines():
        record = json.loads(line)
        if "seconds" in record:
            run.seconds, run.cpu_seconds = record["seconds"], record["cpu"]
        elif "failed" in record:
            run.failed[record["path"]] = record["failed"]
        else:
            key = record["path"]
            for code, cell, message in record["diagnostics"]:
                kind = NBORDER_KINDS.get(code, "other")
                run.findings[key][kind] += 1
                if kind in ("hidden-state", "undefined-name"):
                    run.detail[key].append(f"cell {cell}: {message}")
    return run


def run_nbqa_pyflakes(paths: list[Path], bin_dir: Path) -> ToolRun:
    """``nbqa pyflakes`` over every notebook in one process."""
    run = ToolRun("nbqa + pyflakes")
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(
        [_tool(bin_dir, "nbqa"), "pyflakes", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    run.seconds = time.perf_counter() - started
    run.cpu_seconds = _children_cpu() - cpu
    for line in (done.stdout + done.stderr).splitlines():
        match = _PYFLAKES_LINE.match(line)
        if match is None:
            continue
        message = match["message"]
        kind = "undefined-name" if message.startswith("undefined name") else "other"
        if "syntax" in message.lower() or "invalid" in message.lower():
            kind = "unparsable"
        run.findings[match["path"]][kind] += 1
        if kind == "undefined-name":
            run.detail[match["path"]].append(f"cell {match['cell']}: {message}")
    return run


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tool(bin_dir: Path, name: str) -> str:
    command = bin_dir / name
    if not command.is_file():
        raise NbshipError(f"{command}: not found; pip install nborder nbqa pyflakes into {bin_dir}")
    return str(command)


def compare(runs: list[ToolRun], paths: list[Path]) -> list[dict[str, Any]]:
    """One row per tool: notebooks flagged per kind, findings, notebooks it could not check."""
    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "tool": run.tool,
            "seconds": round(run.seconds, 2),
            "cpu seconds": round(run.cpu_seconds, 2),
            "not checked": len(run.failed),
        }
        for kind in KINDS:
            flagged = [p for p in map(str, paths) if run.findings.get(p, Counter())[kind]]
            total = sum(run.findings.get(p, Counter())[kind] for p in map(str, paths))
            row[kind] = f"{len(flagged)} ({total})"
        rows.append(row)
    return rows
