"""Whole-project tasks: the demo pipeline, the test suite and dependency locking."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit

from nbship import version as versions
from nbship.catalogue import IMAGES
from nbship.paths import ROOT
from nbship.tasks import _common as common
from nbship.tasks import nb, release
from nbship.tasks._common import task


@task(help={"version": "version to build, push and deploy (default: the VERSION file)"})
def demo(c: Context, version: str | None = None) -> None:
    """Run the whole pipeline: audit, extract, build, registry, push, deploy, health-gated."""
    v = versions.parse(version) if version else versions.current()
    steps: list[tuple[str, Callable[[], object]]] = [
        ("audit notebooks (fresh-kernel re-run)", lambda: nb.audit(c)),
        ("extract exported cells into services/", lambda: nb.extract(c)),
        (f"build images {v}", lambda: release.build(c, version=str(v))),
        ("start the local registry", lambda: common.local_registry(c).up(common.conf(c).base)),
        (f"push {v}", lambda: release.push(c, version=str(v))),
        (f"deploy {v}", lambda: release.deploy(c, version=str(v))),
    ]
    for number, (title, step) in enumerate(steps, 1):
        print(f"\n== [{number}/{len(steps)}] {title}", flush=True)
        step()
    print(f"\nnbship: done. Try: curl -s http://127.0.0.1:{common.conf(c).gateway_port}/api/movies")


@task(
    help={
        "unit": "only the unit tests (no Docker needed)",
        "k": "only tests matching this pytest -k expression",
    }
)
def test(c: Context, unit: bool = False, k: str | None = None) -> None:
    """Run the unit and integration tests (integration ones build and run real containers)."""
    args = [sys.executable, "-m", "pytest"]
    if unit:
        args += ["-m", "not integration"]
    if k:
        args += ["-k", k]
    code = subprocess.call(args, cwd=ROOT)
    if code:
        raise Exit(code=code)


@task
def lock(c: Context) -> None:
    """Re-pin requirements/dev.lock and each service's requirements.lock, with hashes."""
    uv = [sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--generate-hashes"]
    jobs = [(ROOT / "requirements/dev.in", ["--universal"])]
    for image in IMAGES:
        req = image.folder / "requirements.in"
        if req.exists():
            # Service images run Debian bookworm's CPython 3.11 on x86-64.
            jobs.append((req, ["--python-platform", "x86_64-manylinux_2_28"]))
    for source, extra in jobs:
        out = source.with_suffix(".lock")
        print(f"nbship: locking {out.relative_to(ROOT)}")
        subprocess.run(
            [
                *uv,
                "--python-version",
                "3.11",
                *extra,
                str(source.relative_to(ROOT)),
                "-o",
                str(out.relative_to(ROOT)),
            ],
            cwd=ROOT,
            check=True,
        )


@task
def lint(c: Context) -> None:
    """Check style, types and layers: ruff, ruff format, mypy --strict, lint-imports."""
    bin_dir = Path(sys.executable).parent
    checks = [
        [str(bin_dir / "ruff"), "check", "."],
        [str(bin_dir / "ruff"), "format", "--check", "."],
        [str(bin_dir / "mypy")],  # strict, over src/ and services/ (pyproject.toml)
        [str(bin_dir / "lint-imports"), "--no-cache"],
    ]
    failed = [
        " ".join([Path(cmd[0]).name, *cmd[1:]]) for cmd in checks if subprocess.call(cmd, cwd=ROOT)
    ]
    if failed:
        raise Exit(f"nbship: lint failed: {'; '.join(failed)}", code=1)
