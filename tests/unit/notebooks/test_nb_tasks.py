"""The nb task collection stays thin: flags in, package call, exit status out."""

from __future__ import annotations

from pathlib import Path

import pytest
from invoke.config import Config
from invoke.context import Context
from invoke.exceptions import Exit

from nbship.tasks import nb

from .conftest import code, write_notebook


def context() -> Context:
    return Context(config=Config(overrides=nb.ns.configuration()))


def test_collection_exposes_extract_and_audit_with_help() -> None:
    assert nb.ns.name == "nb" and set(nb.ns.task_names) == {"extract", "audit", "study"}
    assert set(nb.ns["audit"].help) == {"path", "json", "html", "no_execute", "sarif"}
    assert set(nb.ns["extract"].help) == {"check"}


def test_extract_check_exits_non_zero_on_stale_module(
    project: Path,
    demo_notebook: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_notebook(project / "notebooks" / "01_demo.ipynb", [code("A = 1", tags=["export"])])
    monkeypatch.chdir(project)
    with pytest.raises(Exit) as raised:
        nb.extract(context(), check=True)
    assert raised.value.code == 1 and "svc/pkg/demo.py" in str(raised.value.message)
    assert "+A = 1" in capsys.readouterr().out
    nb.extract(context())
    nb.extract(context(), check=True)


def test_audit_exits_non_zero_only_for_a_service_notebook(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = [code("y = x", 1), code("x = 1", 2)]
    write_notebook(project / "notebooks" / "90_teach.ipynb", bad)
    monkeypatch.chdir(project)
    nb.audit(context(), no_execute=True, json="build/a.json", html="build/a.html")
    assert (project / "build" / "a.json").is_file() and (project / "build" / "a.html").is_file()
    assert "hidden-state" in capsys.readouterr().out
    write_notebook(project / "notebooks" / "01_demo.ipynb", bad)
    with pytest.raises(Exit, match=r"01_demo\.ipynb"):
        nb.audit(context(), no_execute=True)


def test_audit_of_a_missing_path_is_a_clear_exit(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    with pytest.raises(Exit, match="no such notebook or folder"):
        nb.audit(context(), path="nope.ipynb")
