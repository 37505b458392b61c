"""Start-up: how long `invoke --list` and `invoke nb.audit --help` take (issue 13: ≤ 0.3 s).

Every Invoke command imports tasks.py first, so whatever it imports at module level is paid by
every command, even `--help`. The heavy libraries (the Jupyter stack, with jsonschema's format
checkers; requests; the SBOM library) are imported inside the tasks that use them. Each command
runs as its own process, interleaved with Invoke's own floor (an empty tasks.py) so the two are
measured side by side on a noisy machine; the median counts. The target applies to the CPU
time a command uses (user + system, from the kernel's accounting of the child): on a machine
shared with other jobs the wall time also counts the wait for a free core, which is reported
beside it with the load average of the moment.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbship.paths import ROOT
from nbship_bench.results import Metric, Result

TARGET_SECONDS = 0.3
# Modules that must not load when tasks.py is imported: each costs from a tenth of a second to
# over a second (nbformat validates with jsonschema, whose format checkers build a grammar).
HEAVY_MODULES = (
    "nbformat",
    "nbclient",
    "jupyter_client",
    "IPython",
    "zmq",
    "jsonschema",
    "rfc3987_syntax",
    "requests",
    "urllib3",
    "docker",
    "cyclonedx",
    "tenacity",
)
# Prints which of HEAVY_MODULES importing tasks.py (from the current directory) loaded.
HEAVY_PROBE = """
import json, sys
sys.path.insert(0, ".")
import tasks
heavy = json.loads(sys.argv[1])
print(json.dumps(sorted(name for name in heavy if name in sys.modules)))
"""
EMPTY_TASKS = '''"""Invoke's own start-up, for comparison."""
from invoke import task


@task
def hello(c):
    """Say hello."""
'''


def heavy_imports(root: Path = ROOT) -> list[str]:
    """Which heavy modules importing ``root``/tasks.py loads, in a fresh interpreter."""
    child = subprocess.run(
        [sys.executable, "-c", HEAVY_PROBE, json.dumps(HEAVY_MODULES)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(child.stdout.strip().splitlines()[-1]))


def _time(args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of running ARGS to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(repeats: int = 10) -> Result:
    """Time each command REPEATS times, interleaved with Invoke's floor; medians count."""
    invoke = str(Path(sys.executable).parent / "invoke")
    commands = {
        "invoke --list": [invoke, "--list"],
        "invoke nb.audit --help": [invoke, "nb.audit", "--help"],
    }
    wall: dict[str, list[float]] = {name: [] for name in [*commands, "floor"]}
    cpu: dict[str, list[float]] = {name: [] for name in [*commands, "floor"]}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="nbship-bench-startup-") as tmp:
        (Path(tmp) / "tasks.py").write_text(EMPTY_TASKS)
        for _ in range(repeats):
            for name, args, cwd in [
                ("floor", [invoke, "--list"], Path(tmp)),
                *((name, args, ROOT) for name, args in commands.items()),
            ]:
                seconds, used = _time(args, cwd)
                wall[name].append(seconds)
                cpu[name].append(used)
    load = max(load, os.getloadavg()[0])
    median = {name: statistics.median(values) for name, values in cpu.items()}
    median_wall = {name: statistics.median(values) for name, values in wall.items()}
    ratio = median["invoke --list"] / median["floor"]
    heavy = heavy_imports()
    return Result(
        name="startup",
        title="Start-up of the Invoke front door",
        parameters={"repeats": repeats, "heavy_modules_checked": list(HEAVY_MODULES)},
        metrics=[
            *(
                Metric(f"{name}, CPU time (median)", median[name], "s", TARGET_SECONDS, "<=")
                for name in commands
            ),
            Metric("invoke --list / empty tasks.py, CPU time", ratio, "x"),
            Metric("empty tasks.py: invoke --list, CPU time", median["floor"], "s"),
            *(Metric(f"{name}, wall time (median)", median_wall[name], "s") for name in commands),
            Metric("heavy modules loaded by tasks.py", len(heavy), "", 0, "<="),
        ],
        raw={"wall": wall, "cpu": cpu, "load_average_1min": load, "heavy_loaded": heavy},
        notes=[
            f"median of {repeats} runs each, interleaved with Invoke's floor (a one-task "
            "tasks.py); heavy modules loaded: " + (", ".join(heavy) or "none"),
            f"1-minute load average up to {load:.1f} on {os.cpu_count()} CPUs while measuring: "
            "wall times include waiting for a core",
        ],
    )
