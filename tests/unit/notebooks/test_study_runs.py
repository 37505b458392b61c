"""Re-running the study: which notebooks can run here, and the figures of a real re-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invoke.config import Config
from invoke.context import Context
from invoke.exceptions import Exit

from nbship.notebooks import study
from nbship.tasks import nb

from .conftest import code, write_notebook

R_KERNEL = {"name": "ir", "display_name": "R", "language": "R"}


def corpus_notebook(root: Path, name: str, *cells: object, **kwargs: object) -> study.Entry:
    """Write ``name`` into the study corpus of ``root`` and return its manifest entry."""
    entry = study.Entry("owner/name", name, {})
    write_notebook(study.notebook_path(entry, root), list(cells), **kwargs)  # type: ignore[arg-type]
    return entry


def test_only_python3_notebooks_with_outputs_and_installed_imports_are_selected(
    tmp_path: Path,
) -> None:
    entries = [
        corpus_notebook(
            tmp_path, "ok.ipynb", code("import json, os.path\n!echo hi\n%time x = 1", 1)
        ),
        corpus_notebook(tmp_path, "local.ipynb", code("from . import sibling\nimport json", 1)),
        corpus_notebook(
            tmp_path,
            "missing.ipynb",
            code("import json", 1),
            code("def f():\n    from nbship_no_such_module.sub import g", 2),
            code("import nbship_no_such_other", 3),
        ),
        corpus_notebook(tmp_path, "py2.ipynb", code('print "hello"', 1)),
        corpus_notebook(tmp_path, "r.ipynb", code("x <- 1", 1), kernelspec=R_KERNEL),
        corpus_notebook(tmp_path, "unrun.ipynb", code("import json")),
        study.Entry("owner/name", "never-fetched.ipynb", {}),
    ]
    broken = study.notebook_path(study.Entry("owner/name", "broken.ipynb", {}), tmp_path)
    broken.write_text("{not json")
    entries.append(study.Entry("owner/name", "broken.ipynb", {}))
    manifest = study.Manifest([study.Repository("owner/name", "0" * 40, "book")], entries)

    selection = study.select_runnable(manifest, tmp_path)

    assert [entry.path for entry in selection.chosen] == ["ok.ipynb", "local.ipynb"]
    assert selection.excluded == {
        ("owner/name", "missing.ipynb"): "imports modules not installed: "
        "nbship_no_such_module nbship_no_such_other",
        ("owner/name", "py2.ipynb"): "a cell does not parse as Python 3",
        ("owner/name", "r.ipynb"): "not a Python kernel",
        ("owner/name", "unrun.ipynb"): "no saved outputs to compare against",
        ("owner/name", "never-fetched.ipynb"): "not fetched",
        ("owner/name", "broken.ipynb"): "unreadable",
    }
    assert selection.reasons()["imports modules not installed"] == 1
    assert selection.missing_modules() == {"nbship_no_such_module": 1, "nbship_no_such_other": 1}


def test_what_counts_as_installed_is_the_callers_to_say(tmp_path: Path) -> None:
    entry = corpus_notebook(tmp_path, "a.ipynb", code("import numpy, json", 1))
    path = study.notebook_path(entry, tmp_path)
    assert study.why_not_runnable(path, installed=lambda module: module == "json") == (
        "imports modules not installed: numpy"
    )
    assert study.why_not_runnable(path, installed=lambda module: True) is None


def test_a_sample_takes_notebooks_in_turn_from_each_repository() -> None:
    entries = [study.Entry(repo, f"{repo}{i}", {}) for repo in ("a/a", "b/b") for i in range(3)]
    assert [entry.path for entry in study.spread(entries, 3)] == ["a/a0", "b/b0", "a/a1"]
    assert len(study.spread(entries, 0)) == 6
    assert len(study.spread(entries, 10)) == 6


def result(verdict: str, failure: str | None = None) -> dict[str, object]:
    return {"runs_without_error": failure is None, "verdict": verdict, "failure": failure}


def test_figures_are_shares_of_the_whole_sample_and_failures_are_ranked() -> None:
    results = [
        result("reproducible"),
        result("runs but differs"),
        result("not executed"),  # ran, but saved nothing to compare: not reproduced
        result("fails", "FileNotFoundError"),
        result("fails", "FileNotFoundError"),
        result("fails", "timeout"),
        result("fails", "NameError"),
        result("fails", "FileNotFoundError"),
    ]
    figures = study.run_figures(results)
    assert figures["sample"] == 8
    assert figures["runs_without_error"] == {"count": 3, "share": 37.5}
    assert figures["reproduced"] == {"count": 1, "share": 12.5}
    assert figures["runs_but_differs"] == {"count": 1, "share": 12.5}
    assert list(figures["failures"].items()) == [
        ("FileNotFoundError", 3),
        ("timeout", 1),
        ("NameError", 1),
    ]
    assert study.run_figures([])["runs_without_error"] == {"count": 0, "share": None}


@pytest.mark.parametrize(
    ("check", "message", "kind"),
    [
        (
            "error",
            "fresh run stopped: FileNotFoundError: [Errno 2] No such file",
            "FileNotFoundError",
        ),
        ("error", "fresh run stopped: ", "error"),
        ("timeout", "fresh run stopped: cell did not finish within 5s", "timeout"),
        ("dead-kernel", "fresh run stopped: kernel died", "dead-kernel"),
    ],
)
def test_a_failure_is_named_by_its_exception(check: str, message: str, kind: str) -> None:
    assert study.failure_kind(check, message) == kind


def test_the_study_task_re_runs_the_sample_in_a_real_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [
        corpus_notebook(tmp_path, "same.ipynb", code("print(2 + 1)", 1, stdout="3\n")),
        corpus_notebook(tmp_path, "differs.ipynb", code("print(2)", 1, stdout="3\n")),
        corpus_notebook(
            tmp_path, "data.ipynb", code("print(open('data.csv').read())", 1, stdout="a,b\n")
        ),
        corpus_notebook(tmp_path, "other.ipynb", code("import nbship_no_such_module", 1)),
    ]
    manifest = study.Manifest([study.Repository("owner/name", "0" * 40, "book")], entries)
    study.save_manifest(manifest, tmp_path / study.MANIFEST)
    monkeypatch.chdir(tmp_path)
    context = Context(config=Config(overrides=nb.ns.configuration()))

    nb.study(context, update=True, execute=True)

    printed = capsys.readouterr().out
    assert "runs without error: 2/3 (66.67 %; Pimentel et al.: 24.11 %)" in printed
    assert "reproduced: 1/3 (33.33 %; Pimentel et al.: 4.03 %)" in printed
    assert "what stopped the runs: FileNotFoundError 1" in printed
    saved = json.loads((tmp_path / study.RUNS).read_text())
    assert saved["selected"] == 3 and saved["excluded"] == {"imports modules not installed": 1}
    assert saved["missing_modules"] == {"nbship_no_such_module": 1}
    verdicts = {run["path"]: run["verdict"] for run in saved["results"]}
    assert verdicts == {
        "same.ipynb": "reproducible",
        "differs.ipynb": "runs but differs",
        "data.ipynb": "fails",
    }


def test_a_notebook_past_its_budget_is_stopped_and_counted_as_failed(tmp_path: Path) -> None:
    slow = corpus_notebook(
        tmp_path,
        "slow.ipynb",
        code("print(1)", 1, stdout="1\n"),
        code("import time", 2),
        code("time.sleep(60)", 3),
    )
    (result,) = study.execute_sample([slow], tmp_path, timeout=60, budget=3)
    assert result["failure"] == "notebook timeout" and not result["runs_without_error"]
    assert result["verdict"] == "fails" and result["error_cell"] == 3


def test_a_budget_below_one_second_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    context = Context(config=Config(overrides=nb.ns.configuration()))
    with pytest.raises(Exit, match="--budget must be at least 1 second, not 0"):
        nb.study(context, execute=True, budget=0)
