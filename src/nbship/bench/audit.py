"""Static audit speed: 200 notebooks on one core (issue 4's budget: under 2 seconds).

The notebooks are copies of the project's own (the two that feed services and the teaching one,
with every kind of finding), so the audit does its full static work on each. The audit runs in
a child process pinned to one CPU; the best of several repeats counts, as the least disturbed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from nbship.bench.results import Metric, Result
from nbship.paths import ROOT

TARGET_SECONDS = 2.0
CHILD = """
import json, os, sys, time
from pathlib import Path
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from nbship.notebooks.audit import audit
folder = Path(sys.argv[1])
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    report = audit([folder], root=folder, execute=False)
    times.append(time.perf_counter() - started)
print(json.dumps({"times": times, "notebooks": len(report.notebooks),
                  "findings": sum(len(nb.findings) for nb in report.notebooks)}))
"""


def run(count: int = 200, repeats: int = 5) -> Result:
    """Audit COUNT notebooks statically, REPEATS times, on one core; report the best time."""
    sources = sorted((ROOT / "notebooks").glob("*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="nbship-bench-audit-") as tmp:
        folder = Path(tmp)
        for index in range(count):
            shutil.copyfile(sources[index % len(sources)], folder / f"{index:03}_copy.ipynb")
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(folder), str(repeats)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    best = min(measured["times"])
    return Result(
        name="audit",
        title=f"Static audit of {count} notebooks on one core",
        parameters={"notebooks": count, "repeats": repeats, "sources": [p.name for p in sources]},
        metrics=[
            Metric(f"static audit of {count} notebooks", best, "s", TARGET_SECONDS, "<="),
            Metric("notebooks per second", count / best, "/s"),
        ],
        raw=measured,
        notes=[
            f"best of {repeats}; all runs (s): " + ", ".join(f"{t:.2f}" for t in measured["times"])
        ],
    )
