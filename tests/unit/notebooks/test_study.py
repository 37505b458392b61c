"""The study's fetch and comparison: real git repositories on disk, real audits, plain JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from invoke.config import Config
from invoke.context import Context
from invoke.exceptions import Exit

from nbship.errors import NbshipError
from nbship.notebooks import study
from nbship.tasks import nb

from .conftest import code, write_notebook

CLEAN: dict[str, Any] = {
    "readable": True,
    "language": "python",
    "code_cells": 2,
    "out_of_order": False,
    "findings": {},
}


def entry(expected: dict[str, Any], hand: str | None = None) -> study.Entry:
    return study.Entry("owner/name", "a.ipynb", expected, hand)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[Path, str]:
    """A public repository stand-in: two notebooks (one run out of order) and a data file."""
    repo = tmp_path / "mirrors" / "owner+name"
    write_notebook(repo / "clean.ipynb", [code("x = 1", 1), code("print(x)", 2)])
    write_notebook(repo / "sub" / "messy.ipynb", [code("y = x", 2), code("x = 1", 1)])
    (repo / "data.csv").write_text("a,b\n1,2\n")
    git(repo, "init", "--quiet")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "nbs")
    return repo, git(repo, "rev-parse", "HEAD")


def plan(commit: str) -> study.Manifest:
    return study.Manifest(
        [study.Repository("owner/name", commit, "book")],
        [
            study.Entry("owner/name", "clean.ipynb", {}),
            study.Entry("owner/name", "sub/messy.ipynb", {}, hand="x is defined below: hidden"),
        ],
    )


def test_an_unchanged_audit_has_no_differences() -> None:
    assert study.compare(entry(CLEAN), dict(CLEAN)) == []


def test_each_changed_count_or_flag_is_one_line_naming_the_notebook() -> None:
    found = {**CLEAN, "out_of_order": True, "findings": {"hidden-state": 2}}
    lines = [str(d) for d in study.compare(entry(CLEAN), found)]
    assert lines == [
        "owner/name:a.ipynb: out_of_order was False, now True",
        "owner/name:a.ipynb: hidden-state findings were 0, now 2",
    ]


def test_a_crash_is_a_difference_and_so_is_its_fix() -> None:
    crashed = {"crash": "AttributeError: id"}
    assert "crash was None, now 'AttributeError: id'" in str(
        study.compare(entry(CLEAN), crashed)[0]
    )
    assert any(
        "crash was 'AttributeError: id'" in str(d) for d in study.compare(entry(crashed), CLEAN)
    )


def test_update_takes_the_observed_findings_and_keeps_the_hand_notes() -> None:
    manifest = study.Manifest(
        [study.Repository("owner/name", "c" * 40, "book")],
        [entry(CLEAN, hand="checked"), study.Entry("owner/name", "b.ipynb", CLEAN)],
    )
    found = {**CLEAN, "findings": {"syntax": 1}}
    result = study.StudyResult(observed={("owner/name", "a.ipynb"): found})
    updated = study.update(manifest, result)
    assert updated.notebooks[0].expected == found and updated.notebooks[0].hand == "checked"
    assert updated.notebooks[1].expected == CLEAN  # not fetched: its expectation stays


def test_figures_count_out_of_order_among_executed_and_names_among_python() -> None:
    observed: list[dict[str, Any]] = [
        {**CLEAN, "out_of_order": True, "findings": {"out-of-order": 1, "hidden-state": 1}},
        {**CLEAN, "findings": {"never-executed": 1}},
        {**CLEAN, "language": "julia", "findings": {"skipped-count": 1}},
        {"crash": "AttributeError: id"},
    ]
    shares = study.figures(observed)
    assert shares["out_of_order"] == {"count": 1, "of": 2, "share": 50.0}
    assert shares["skipped_counts"] == {"count": 1, "of": 2, "share": 50.0}
    assert shares["hidden_state"] == {"count": 1, "of": 2, "share": 50.0}


def test_a_malformed_manifest_is_one_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"repositories": [{"repo": "a/b"}], "notebooks": []}))
    with pytest.raises(NbshipError, match=r"manifest\.json: malformed study manifest"):
        study.load_manifest(path)
    with pytest.raises(NbshipError, match="no study manifest"):
        study.load_manifest(tmp_path / "absent.json")


def test_the_git_url_template_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert study.url_for("a/b") == "https://github.com/a/b.git"
    monkeypatch.setenv(study.URL_TEMPLATE_ENV, "/mirror/{owner}+{name}/repo")
    assert study.url_for("a/b") == "/mirror/a+b/repo"


def test_fetch_writes_exactly_the_manifest_notebooks_byte_for_byte(
    tmp_path: Path, upstream: tuple[Path, str]
) -> None:
    repo, commit = upstream
    root = tmp_path / "project"
    template = str(tmp_path / "mirrors" / "{owner}+{name}")
    written = study.fetch(plan(commit), root, template)
    corpus = root / study.CORPUS / "owner+name"
    assert sorted(p.relative_to(corpus).as_posix() for p in written) == [
        "clean.ipynb",
        "sub/messy.ipynb",
    ]
    assert (corpus / "sub" / "messy.ipynb").read_bytes() == (
        repo / "sub" / "messy.ipynb"
    ).read_bytes()
    assert not (corpus / "data.csv").exists()
    # Fetching again reuses the pinned commit already there and rewrites the same bytes.
    assert study.fetch(plan(commit), root, template) == written


def test_fetch_of_an_unknown_commit_is_one_clear_error(
    tmp_path: Path, upstream: tuple[Path, str]
) -> None:
    template = str(tmp_path / "mirrors" / "{owner}+{name}")
    with pytest.raises(NbshipError, match=r"git fetch in owner\+name failed"):
        study.fetch(plan("0" * 40), tmp_path / "project", template)


def test_the_study_audits_the_corpus_and_reports_what_changed(
    tmp_path: Path, upstream: tuple[Path, str]
) -> None:
    _, commit = upstream
    root = tmp_path / "project"
    study.fetch(plan(commit), root, str(tmp_path / "mirrors" / "{owner}+{name}"))
    first = study.audit_corpus(plan(commit), root)
    messy = first.observed["owner/name", "sub/messy.ipynb"]
    assert messy["out_of_order"] and messy["findings"]["hidden-state"] == 1
    assert first.observed["owner/name", "clean.ipynb"]["findings"] == {}
    manifest = study.update(plan(commit), first)
    assert study.audit_corpus(manifest, root).differences == []
    (root / study.CORPUS / "owner+name" / "clean.ipynb").unlink()
    again = study.audit_corpus(manifest, root)
    assert again.missing == [("owner/name", "clean.ipynb")] and again.differences == []


def test_the_study_task_without_a_corpus_says_to_fetch(
    tmp_path: Path, upstream: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, commit = upstream
    root = tmp_path / "project"
    study.save_manifest(plan(commit), root / study.MANIFEST)
    monkeypatch.chdir(root)
    context = Context(config=Config(overrides=nb.ns.configuration()))
    with pytest.raises(Exit, match="use --fetch"):
        nb.study(context)
    monkeypatch.setenv(study.URL_TEMPLATE_ENV, str(tmp_path / "mirrors" / "{owner}+{name}"))
    nb.study(context, fetch=True, update=True)
    nb.study(context)  # the updated manifest now matches
    saved = study.load_manifest(root / study.MANIFEST)
    assert saved.notebooks[1].hand == "x is defined below: hidden"


def test_peer_rows_count_flagged_notebooks_and_findings_per_kind() -> None:
    from nbship.notebooks import peers

    run = peers.ToolRun("tool", seconds=1.5, cpu_seconds=1.0)
    run.findings["a.ipynb"]["undefined-name"] += 2
    run.findings["b.ipynb"]["undefined-name"] += 1
    run.failed["c.ipynb"] = "NotebookParseError"
    (row,) = peers.compare([run], [Path("a.ipynb"), Path("b.ipynb"), Path("c.ipynb")])
    assert row["undefined-name"] == "2 (3)" and row["hidden-state"] == "0 (0)"
    assert row["not checked"] == 1 and row["cpu seconds"] == 1.0
