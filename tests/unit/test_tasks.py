"""The Invoke front door: every task documented, and every default visible to every task."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from invoke.collection import Collection
from invoke.program import Program

from nbship.paths import ROOT, VERSION_FILE


def load_ns() -> Collection:
    spec = importlib.util.spec_from_file_location("nbship_tasks_under_test", ROOT / "tasks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ns


def test_root_configuration_holds_every_subcollection_default() -> None:
    """Root tasks such as demo call sub-collection tasks, which read their own defaults."""
    ns = load_ns()
    root = ns.configuration()
    for name, sub in ns.collections.items():
        for key, value in sub.configuration().items():
            assert root.get(key) == value, f"{name}: default {key!r} missing at the root"


def test_every_task_and_flag_has_help() -> None:
    ns = load_ns()
    for name in ns.task_names:
        task = ns[name]
        assert (task.__doc__ or "").strip(), f"{name} has no docstring"
        for argument in task.get_arguments():
            assert argument.help, f"{name} --{argument.name} has no help"


def run_cli(ns: Collection, *args: str) -> int:
    """Run `invoke ARGS` in this process as the `invoke` binary does; return its exit status.

    Any exception but SystemExit escaping here would be a traceback on a user's terminal.
    """
    try:
        Program(namespace=ns, binary="invoke").run(["invoke", *args])
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def test_every_task_answers_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`invoke TASK --help` and `-h` print the task's help, positional arguments or not."""
    ns = load_ns()
    for name in ns.task_names:
        for flag in ("--help", "-h"):
            code = run_cli(ns, name, flag)
            out, err = capsys.readouterr()
            assert code == 0, f"invoke {name} {flag}: exit {code}: {err}"
            assert out.startswith(f"Usage: invoke [--core-opts] {name} "), (name, out)
            summary = (ns[name].__doc__ or "").strip().splitlines()[0]
            assert summary in out and err == "", (name, err)


# Every task with arguments it must refuse in one line, before touching anything (the fixture
# points the registry at a closed port and the state at a temporary folder); no Docker needed.
BAD_ARGUMENTS: dict[str, list[tuple[str, ...]]] = {
    "demo": [("--version", "banana")],
    "test": [("--unit", "--k")],
    "lock": [("--bogus",)],
    "lint": [("--bogus",)],
    "build": [("--version", "1.2")],
    "push": [("--version", "banana")],
    "promote": [("banana", "--to", "prod"), ("--to", "prod")],
    "deploy": [("--version", "1.2")],
    "rollback": [("--to", "banana"), ("--restore-data", "--downgrade")],
    "down": [("--remove-data", "yes")],
    "releases": [("--bogus",)],
    "status": [("--json", "table")],
    "snapshot": [("--database", "nope-db")],
    "snapshots": [("--verify", "all")],
    "restore": [("nope.dump",), ("nope.dump", "--yes"), ()],
    "bench.all": [("--rounds", "1.5")],
    "bench.audit": [("--notebooks", "banana")],
    "bench.billing": [("--orders", "many")],
    "bench.gateway": [("--port", "http")],
    "bench.rebuild": [("--repeats", "twice")],
    "bench.release": [("--keep-images", "yes")],
    "bench.report": [("--bogus",)],
    "bench.size": [("--keep-images", "yes")],
    "bench.snapshot": [("--orders", "many")],
    "bench.startup": [("--repeats", "some")],
    "bench.swarm": [("--keep-images", "yes")],
    "cluster.up": [("--name", "Not-A-Name"), ("--size", "many")],
    "cluster.down": [("--name", "much-too-long-a-name")],
    "cluster.status": [("--bogus",)],
    "image.inspect": [("nope",)],
    "image.sbom": [("nope",)],
    "nb.audit": [("--path", "/nonexistent/notebook.ipynb")],
    "nb.extract": [("--bogus",)],
    "nb.study": [("--limit", "all")],
    "registry.up": [("--bogus",)],
    "registry.down": [()],  # the configured registry is not a local one
    "registry.gc": [()],
    "registry.ls": [()],  # nothing answers on the configured port
    "version.show": [("--bogus",)],
    "version.bump": [("banana",), ("1.2",), ()],
}


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings that point every task away from the developer's own stack and registry."""
    # A closed port, and a namespace after it so that no task takes it for its local registry.
    monkeypatch.setenv("INVOKE_NBSHIP_REGISTRY", "127.0.0.1:9/nbship-unit")
    monkeypatch.setenv("INVOKE_NBSHIP_REGISTRY_PROJECT", "nbship-unit-bad-arguments-registry")
    monkeypatch.setenv("INVOKE_NBSHIP_REGISTRY_VOLUME", "nbship-unit-bad-arguments-data")
    monkeypatch.setenv("INVOKE_NBSHIP_PROJECT", "nbship-unit-bad-arguments")
    monkeypatch.setenv("INVOKE_NBSHIP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("INVOKE_NBSHIP_ENV_FILE", str(tmp_path / "stack.env"))
    return tmp_path


def test_bad_arguments_stop_every_task_in_one_line(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = load_ns()
    assert set(BAD_ARGUMENTS) == set(ns.task_names), "every task needs its bad arguments here"
    version_before = VERSION_FILE.read_bytes()
    for name, cases in BAD_ARGUMENTS.items():
        for args in cases:
            code = run_cli(ns, name, *args)
            out, err = capsys.readouterr()
            shown = " ".join(["invoke", name, *args])
            lines = err.strip().splitlines()
            assert code != 0, f"{shown} succeeded: {out}{err}"
            assert len(lines) == 1, f"{shown} said more than one line:\n{err}"
    assert VERSION_FILE.read_bytes() == version_before
    assert not (isolated / "state").exists()


def test_output_into_a_closed_pipe_ends_quietly() -> None:
    """`invoke version | head -0`: the reader is gone before the first line, no traceback."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "invoke", "version"],
            cwd=ROOT,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (0, "")
