"""Notebook tasks: extract exported cells into service modules, audit notebooks."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from nbship.notebooks.audit import audit as audit_notebooks
from nbship.notebooks.extract import ExtractError
from nbship.notebooks.extract import extract as extract_modules
from nbship.notebooks.report import render_table, save_html, save_json


@task(
    help={
        "check": "Write nothing; show a diff and fail if a generated module is stale or missing.",
    }
)
def extract(c: Context, check: bool = False) -> None:
    """Generate service modules from notebook cells tagged `export` (see notebooks/exports.toml)."""
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
        "no_execute": "Static checks only: do not re-execute notebooks in a fresh kernel.",
    },
)
def audit(
    c: Context,
    path: str | None = None,
    json: str | None = None,
    html: str | None = None,
    no_execute: bool = False,
) -> None:
    """Audit notebooks: static checks, fresh re-execution, reproducibility verdicts."""
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
    blocking = report.blocking()
    if blocking:
        names = ", ".join(nb.path for nb in blocking)
        raise Exit(f"nb.audit: not reproducible but feeding a service: {names}", code=1)


ns = Collection("nb", extract, audit)
ns.configure({"nb": {"notebooks": "notebooks", "timeout": 60, "runs": 2}})
