"""`pip install .` gives a working `nbship` command: version from VERSION, dependencies declared,
benchmarks left out, and the project found from where it runs, not from where it is installed."""

from __future__ import annotations

import ast
import email
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from nbship.paths import ROOT, find_root


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from a copy of the sources (no build files left in the tree)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "VERSION"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (built,) = out.glob("nbship-*.whl")
    return built


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(archive.read(name))


def test_the_wheel_holds_nbship_with_its_command_and_no_benchmarks(wheel: Path) -> None:
    version = (ROOT / "VERSION").read_text(encoding="utf-8").strip()
    assert wheel.name.startswith(f"nbship-{version}-")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "nbship = nbship.cli:main" in archive.read(entry_points).decode()
    assert "nbship/cli.py" in names and "nbship/deploy/stack.py" in names
    assert "nbship/notebooks/templates/audit.html.j2" in names  # the audit's HTML page
    assert not [name for name in names if name.startswith("nbship_bench/")]


def test_every_library_the_package_imports_is_a_declared_dependency(wheel: Path) -> None:
    declared = {
        canonicalize_name(Requirement(line).name)
        for line in _metadata(wheel).get_all("Requires-Dist") or []
    }
    providers = packages_distributions()
    imported: set[str] = set()
    for path in (ROOT / "src" / "nbship").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {
        name
        for name in imported - {"nbship", "nbship_bench"}
        if name not in sys.stdlib_module_names
    }
    missing = {
        name: providers.get(name)
        for name in third_party
        if not {canonicalize_name(dist) for dist in providers.get(name, [])} & declared
    }
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_the_installed_command_runs_its_tasks_from_the_project_it_is_run_in(
    wheel: Path, tmp_path: Path
) -> None:
    """Installed apart from the source tree, `nbship` lists the tasks, bench ones excepted."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
         str(target), str(wheel)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    # The venv's libraries, the installed wheel, and not the source tree (src/) on the path.
    run = (
        "import sys; sys.path[:] = [p for p in sys.path if not p.endswith('/src')]; "
        f"sys.path.insert(0, {str(target)!r}); "
        "import nbship.cli, nbship.paths; "
        f"assert nbship.cli.__file__.startswith({str(target)!r}), nbship.cli.__file__; "
        "print('root', nbship.paths.ROOT); sys.argv = ['nbship'] + sys.argv[1:]; nbship.cli.main()"
    )
    site = sysconfig.get_paths()["purelib"]
    listing = subprocess.run(
        [sys.executable, "-S", "-c", f"import site; site.addsitedir({site!r}); {run}", "--list"],
        cwd=ROOT / "services",
        capture_output=True,
        text=True,
    )
    assert listing.returncode == 0, listing.stderr
    assert f"root {ROOT}" in listing.stdout  # found from the working directory, not the install
    assert "rollback" in listing.stdout and "nb.audit" in listing.stdout
    assert "bench." not in listing.stdout


def test_the_project_root_is_the_nearest_folder_with_the_compose_file(tmp_path: Path) -> None:
    project = tmp_path / "mine"
    (project / "deploy").mkdir(parents=True)
    (project / "deploy" / "compose.yaml").write_text("services: {}\n", encoding="utf-8")
    (project / "notebooks" / "deep").mkdir(parents=True)
    assert find_root(project / "notebooks" / "deep") == project
    assert find_root(tmp_path, override=str(project)) == project
