"""The GitHub Actions workflows, checked statically: GitHub cannot be reached (nor `act` run) here.

Each workflow must pass GitHub's workflow schema (check-jsonschema's vendored copy), hold the
least privilege (`permissions: {}` on top, writes only in the jobs that need them), pin every
action by commit, and call only tasks and flags that tasks.py really has.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke.collection import Collection
from invoke.program import Program
from invoke.tasks import Task

from nbship.paths import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# Which job of which workflow may write what: pushing images and moving environment tags write
# packages; only the release-note job writes the repository (the GitHub release); the notebook
# audit uploads its SARIF findings to code scanning.
WRITERS = {
    "packages": {("release.yml", "push"), ("rollback.yml", "promote")},
    "contents": {("release.yml", "release-notes")},
    "security-events": {("ci.yml", "notebooks")},
}
CLI = {"./nbship", "invoke", ".venv/bin/invoke"}
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
PINNED = re.compile(
    r"^\s*(?:-\s*)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s+#\s*v\d+\.\d+\.\d+\s*$"
)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job["steps"]]


@pytest.fixture(scope="module")
def ns() -> Collection:
    """tasks.py's collection, loaded the way invoke loads it."""
    spec = importlib.util.spec_from_file_location("nbship_tasks_under_test", ROOT / "tasks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ns


def test_there_are_ci_release_and_rollback_workflows() -> None:
    assert {path.name for path in WORKFLOWS} == {"ci.yml", "release.yml", "rollback.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_matches_githubs_schema(path: Path) -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_least_privilege_timeouts_and_concurrency(path: Path) -> None:
    workflow = _load(path)
    assert workflow["permissions"] == {}
    assert "group" in workflow["concurrency"]
    for job_id, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"{job_id}: timeout-minutes"
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{job_id}: permissions of its own"
        for scope, level in permissions.items():
            if level == "write":
                assert (path.name, job_id) in WRITERS.get(scope, set()), f"{job_id}: {scope}"


def test_packages_write_only_where_images_or_tags_change() -> None:
    granted = {
        (path.name, job_id)
        for path in WORKFLOWS
        for job_id, job in _load(path)["jobs"].items()
        if job.get("permissions", {}).get("packages") == "write"
    }
    assert granted == WRITERS["packages"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_actions_are_pinned_by_commit_with_a_version_comment(path: Path) -> None:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert lines, "no actions at all?"
    for line in lines:
        assert PINNED.match(line), f"not pinned by a 40-hex SHA with a # vX.Y.Z comment: {line}"
    for job_id, step in _steps(_load(path)):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, job_id


def _calls(script: str) -> list[list[str]]:
    """Every ./nbship or invoke command line in a run: script, as argument lists."""
    script = EXPRESSION.sub("EXPRESSION", script.replace("\\\n", " "))
    calls = []
    lines = script.splitlines()
    lines += [inner for line in lines for inner in re.findall(r"\$\(([^()]*)\)", line)]
    for line in lines:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        for index, token in enumerate(tokens):
            if token in CLI:
                args = []
                for arg in tokens[index + 1 :]:
                    if set(arg) <= set("();<>|&"):
                        break
                    args.append(arg)
                calls.append(args)
    return calls


def _is_value(ns: Collection, following: list[str]) -> bool:
    """Whether the token after an unknown flag is its value (not a flag or the next task)."""
    if not following or following[0].startswith("-"):
        return False
    try:
        ns[following[0]]
    except (KeyError, ValueError):
        return True
    return False


def _check_call(ns: Collection, args: list[str]) -> list[str]:
    """What is wrong with `invoke ARGS` (empty when every task and flag exists)."""
    core = {f"-{n}" if len(n) == 1 else f"--{n}" for a in Program().core_args() for n in a.names}
    problems = []
    index = 0
    while index < len(args) and args[index].startswith("-"):
        if args[index] not in core:
            problems.append(f"unknown core option {args[index]}")
        index += 1
    while index < len(args):
        name = args[index]
        try:
            task: Task = ns[name]
        except (KeyError, ValueError):
            return [*problems, f"{name!r} is not a task of tasks.py"]
        index += 1
        arguments = task.get_arguments()
        flags = {}
        for argument in arguments:
            for alias in argument.names:
                flags[f"-{alias}" if len(alias) == 1 else f"--{alias}"] = argument
        positional = [argument for argument in arguments if argument.positional]
        while index < len(args):
            arg = args[index]
            if arg.startswith("-"):
                flag, has_value, _ = arg.partition("=")
                known = flags.get(flag)
                if known is None:
                    problems.append(f"{name}: no flag {flag}")
                    if not has_value and _is_value(ns, args[index + 1 : index + 2]):
                        index += 1
                elif known.kind is not bool and not has_value:
                    index += 1  # the flag's value, opaque (a shell variable or an expression)
                index += 1
            elif positional:
                positional.pop(0)
                index += 1
            else:
                break  # the next task of the same invoke call
        problems += [f"{name}: missing {missing.name}" for missing in positional]
    return problems


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_task_call_names_a_real_task_and_real_flags(path: Path, ns: Collection) -> None:
    calls = [call for _, step in _steps(_load(path)) for call in _calls(step.get("run", ""))]
    assert calls, "a workflow that calls no ./nbship task"
    for call in calls:
        assert _check_call(ns, call) == [], shlex.join(call)


def test_the_checker_catches_unknown_tasks_flags_and_missing_arguments(ns: Collection) -> None:
    assert _check_call(ns, ["push", "--version", "1.0.0", "--registry", "ghcr.io/x"]) == []
    assert _check_call(ns, ["nb.extract", "--check", "registry.ls"]) == []
    assert _check_call(ns, ["--list"]) == []
    assert _check_call(ns, ["shipit"]) == ["'shipit' is not a task of tasks.py"]
    assert _check_call(ns, ["push", "--tag", "x"]) == ["push: no flag --tag"]
    assert _calls('run ./nbship push --version "${{ x.y }}" && ./nbship test | tee log') == [
        ["push", "--version", "EXPRESSION"],
        ["test"],
    ]
    assert _calls('v="$(./nbship version.show | head -n 1)"') == [["version.show"]]


def test_release_builds_once_and_rollback_never_builds() -> None:
    release = [
        call[0]
        for _, step in _steps(_load(ROOT / ".github/workflows/release.yml"))
        for call in _calls(step.get("run", ""))
    ]
    rollback = [
        call
        for _, step in _steps(_load(ROOT / ".github/workflows/rollback.yml"))
        for call in _calls(step.get("run", ""))
    ]
    assert release.count("build") == 1 and "push" in release
    assert [call[0] for call in rollback] == ["promote"] and "--to" in rollback[0]
    trigger = _load(ROOT / ".github/workflows/release.yml")["on"]
    assert trigger == {"push": {"tags": ["v*.*.*"]}}


def test_ci_uploads_the_sarif_file_the_notebook_audit_writes() -> None:
    steps = _steps(_load(ROOT / ".github/workflows/ci.yml"))
    audits = [c for _, s in steps for c in _calls(s.get("run", "")) if c[0] == "nb.audit"]
    written = {call[call.index("--sarif") + 1] for call in audits if "--sarif" in call}
    uploaded = {
        step["with"]["sarif_file"]
        for _, step in steps
        if str(step.get("uses", "")).startswith("github/codeql-action/upload-sarif@")
    }
    assert written and uploaded == written
