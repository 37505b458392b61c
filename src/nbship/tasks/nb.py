"""Notebook tasks: extract exported cells into service modules, audit notebooks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

if TYPE_CHECKING:
    from nbship.notebooks.study import Manifest

# The notebook modules load nbformat, and with it jsonschema's format checkers (over a second):
# each task imports what it needs, so that `invoke --list` and `--help` stay instant.


@task(
    help={
        "check": "Write nothing; show a diff and fail if a generated module is stale or missing.",
    }
)
def extract(c: Context, check: bool = False) -> None:
    """Generate service modules from notebook cells tagged `export` (see notebooks/exports.toml)."""
    from nbship.notebooks.extract import ExtractError
    from nbship.notebooks.extract import extract as extract_modules

    try:
        result = extract_modules(Path(c.cwd), check=check)
    except ExtractError as exc:
        raise Exit(f"nb.extract: {exc}", code=1) from exc
    for path in result.written:
        print(f"wrote       {path}")
    for path in result.unchanged:
        print(f"up to date  {path}")
    if result.stale:
        for diff in result.stale.values():
            print(diff, end="" if diff.endswith("\n") else "\n")
        stale = ", ".join(str(path) for path in result.stale)
        raise Exit(
            f"nb.extract --check: stale or missing: {stale}; run `invoke nb.extract`", code=1
        )


@task(
    auto_shortflags=False,  # -h would read as --help
    help={
        "path": "Notebook file or folder to audit (default: the nb.notebooks setting, notebooks/).",
        "json": "Also write the report as JSON to this file (for CI).",
        "html": "Also write a self-contained HTML report, with execution-order pictures, here.",
        "sarif": "Also write the findings as SARIF 2.1.0 here (GitHub code scanning shows them).",
        "no_execute": "Static checks only: do not re-execute notebooks in a fresh kernel.",
    },
)
def audit(
    c: Context,
    path: str | None = None,
    json: str | None = None,
    html: str | None = None,
    no_execute: bool = False,
    sarif: str | None = None,
) -> None:
    """Audit notebooks: static checks, fresh re-execution, reproducibility verdicts."""
    from nbship.notebooks.audit import audit as audit_notebooks
    from nbship.notebooks.report import render_table, save_html, save_json
    from nbship.notebooks.sarif import save_sarif, workflow_commands

    settings = c.config.nb
    target = Path(c.cwd) / (path or settings.notebooks)
    try:
        report = audit_notebooks(
            [target],
            root=Path(c.cwd),
            execute=not no_execute,
            timeout=int(settings.timeout),
            runs=int(settings.runs),
        )
    except FileNotFoundError as exc:
        raise Exit(f"nb.audit: {exc}", code=1) from exc
    print(render_table(report))
    if json:
        save_json(report, Path(c.cwd) / json)
        print(f"JSON report: {json}")
    if html:
        save_html(report, Path(c.cwd) / html)
        print(f"HTML report: {html}")
    if sarif:
        save_sarif(report, Path(c.cwd), Path(c.cwd) / sarif)
        print(f"SARIF report: {sarif}")
    if os.environ.get("GITHUB_ACTIONS") == "true":  # annotations on the pull request's diff
        for command in workflow_commands(report, Path(c.cwd)):
            print(command)
    blocking = report.blocking()
    if blocking:
        names = ", ".join(nb.path for nb in blocking)
        raise Exit(f"nb.audit: not reproducible but feeding a service: {names}", code=1)


@task(
    help={
        "fetch": "First fetch the study's notebooks at their pinned commits with git "
        "(URLs from NBSHIP_STUDY_GIT_URL, default https://github.com/{owner}/{name}.git).",
        "update": "Write the findings observed now into the manifest as the new expectations.",
        "manifest": "The study manifest (default notebooks/study/manifest.json).",
        "limit": "How many differing notebooks to list (0: all).",
        "peers": "Also run nborder and nbqa + pyflakes from this bin folder on the corpus; "
        "their findings go to build/study/peers.json.",
        "execute": "Also re-run, in a fresh kernel, every notebook whose imports are all "
        "installed here; figures to build/study/runs.json (see docs/notebooks.md).",
        "sample": "With --execute: re-run at most this many, taken in turn from each "
        "repository (0: all that can be run).",
        "budget": "With --execute: seconds a whole notebook may run (cells also time out "
        "after the nb.timeout setting).",
    }
)
def study(
    c: Context,
    fetch: bool = False,
    update: bool = False,
    manifest: str | None = None,
    limit: int = 40,
    peers: str | None = None,
    execute: bool = False,
    sample: int = 0,
    budget: int = 90,
) -> None:
    """Re-run the notebook study: audit real notebooks from public repositories, compare."""
    # Imported here: only this task needs the study (and, through it, the audit).
    from nbship.errors import NbshipError
    from nbship.notebooks import study as studies

    if execute and budget < 1:
        raise Exit(f"nb.study: --budget must be at least 1 second, not {budget}", code=1)
    root = Path(c.cwd)
    path = root / (manifest or studies.MANIFEST)
    try:
        plan = studies.load_manifest(path)
        if fetch:
            print(f"fetched {len(studies.fetch(plan, root))} notebooks into {studies.CORPUS}")
        result = studies.audit_corpus(plan, root)
    except NbshipError as exc:
        raise Exit(f"nb.study: {exc}", code=1) from exc
    print(studies.render(plan, result, limit=limit))
    if not result.observed:
        raise Exit(f"nb.study: no notebook of the study in {studies.CORPUS}; use --fetch", code=1)
    if update:
        studies.save_manifest(studies.update(plan, result), path)
        print(f"updated {path.relative_to(root) if path.is_relative_to(root) else path}")
    if peers:
        try:
            print(studies.run_peers(plan, root, Path(peers)))
        except NbshipError as exc:
            raise Exit(f"nb.study: {exc}", code=1) from exc
    if execute:
        _execute_study(plan, root, sample, int(c.config.nb.timeout), budget)
    if result.differences and not update:
        raise Exit(f"nb.study: {len(result.differences)} difference(s) from the manifest", code=1)


def _execute_study(plan: Manifest, root: Path, sample: int, timeout: int, budget: int) -> None:
    """Re-run the study's runnable notebooks with nbship's audit; print and save the figures.

    The results file is rewritten after every notebook, so an interrupted re-run keeps what it
    measured (its "done" field says how far it got).
    """
    from nbship.notebooks import study as studies

    selection = studies.select_runnable(plan, root)
    chosen = studies.spread(selection.chosen, sample)
    results: list[dict[str, Any]] = []

    def done(result: dict[str, Any]) -> None:
        results.append(result)
        studies.save_runs(root, selection, results, timeout, budget, len(chosen))
        outcome = result["failure"] or result["verdict"]
        print(
            f"  {len(results)}/{len(chosen)} {result['repo']}:{result['path']}: {outcome}",
            flush=True,
        )

    print(f"re-running {len(chosen)} notebooks (cells {timeout} s, notebooks {budget} s) ...")
    studies.execute_sample(chosen, root, timeout, budget, done)
    print(studies.render_runs(selection, results))
    print(f"results: {studies.RUNS}")


ns = Collection("nb", extract, audit, study)
ns.configure({"nb": {"notebooks": "notebooks", "timeout": 60, "runs": 2}})
