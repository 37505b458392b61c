"""The front door starts fast: importing tasks.py loads none of the heavy libraries.

Every Invoke command, even `invoke --list` or `--help`, imports tasks.py first; issue 13 found
2 s spent there, 1.3 s of it in jsonschema's format checkers loaded through nbformat. The tasks
import such modules in their bodies. This checks what loads, not how long it takes (the timing
is `invoke bench.startup`'s job): each probe runs in a fresh interpreter, as Invoke would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nbship.paths import ROOT
from nbship_bench.startup import heavy_imports


def test_importing_tasks_py_loads_no_heavy_module() -> None:
    assert heavy_imports(ROOT) == []


def test_the_probe_sees_a_heavy_module_when_one_is_imported(tmp_path: Path) -> None:
    """Guards the test above against passing vacuously: a tasks.py importing nbformat is caught."""
    (tmp_path / "tasks.py").write_text("import nbformat\n")
    assert heavy_imports(tmp_path) == ["jsonschema", "nbformat", "rfc3987_syntax"]


def test_invoke_list_and_audit_help_still_work_without_them() -> None:
    invoke = [sys.executable, "-m", "invoke"]
    listing = subprocess.run([*invoke, "--list"], cwd=ROOT, capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    assert "nb.audit" in listing.stdout and "bench.startup" in listing.stdout
    usage = subprocess.run(
        [*invoke, "nb.audit", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert usage.returncode == 0, usage.stderr
    assert "--no-execute" in usage.stdout
