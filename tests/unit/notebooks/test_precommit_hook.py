"""The static audit as a pre-commit hook: `nbship-audit`, installed and run by pre-commit itself.

The end-to-end tests do what a user's repository does: pre-commit (from PyPI, in the dev lock)
installs this repository as a package from .pre-commit-hooks.yaml and pyproject.toml, and runs
the hook on the notebooks given. They need PyPI, as pre-commit always does to install a hook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nbship.notebooks.hook import main
from nbship.paths import ROOT

from .conftest import code, write_notebook


def clean(folder: Path) -> Path:
    """A notebook run top to bottom once: no finding of error level."""
    return write_notebook(folder / "clean.ipynb", [code("x = 1", 1), code("y = x + 1", 2)])


def faulty(folder: Path) -> Path:
    """A notebook whose first cell reads a name only the second defines (hidden state)."""
    return write_notebook(folder / "faulty.ipynb", [code("y = x + 1", 1), code("x = 1", 2)])


def test_the_hook_passes_a_clean_notebook_and_fails_naming_a_faulty_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert main([str(clean(tmp_path).name)]) == 0
    assert main(["clean.ipynb", str(faulty(tmp_path).name)]) == 1
    captured = capsys.readouterr()
    assert "error-level findings in: faulty.ipynb" in captured.err
    assert "clean.ipynb" not in captured.err and "hidden-state" in captured.out


def test_the_hook_writes_sarif_and_refuses_a_missing_path_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    faulty(tmp_path)
    assert main(["faulty.ipynb", "--sarif", "out/audit.sarif"]) == 1
    document = json.loads((tmp_path / "out" / "audit.sarif").read_text())
    assert {r["ruleId"] for r in document["runs"][0]["results"]} >= {"hidden-state"}
    capsys.readouterr()
    assert main(["nope.ipynb"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "nbship-audit: nope.ipynb: no such notebook or folder"
    ]


def test_the_hook_definition_runs_the_console_script_on_notebooks_only() -> None:
    import tomllib

    import yaml

    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert hook["id"] == "nbship-audit" and hook["language"] == "python"
    assert scripts[hook["entry"]] == "nbship.notebooks.hook:main"
    assert hook["types"] == ["jupyter"]


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One hook environment for the module's runs: installing it is the slow part."""
    return tmp_path_factory.mktemp("pre-commit-home")


def _try_repo(repo: Path, home: Path, *files: str) -> subprocess.CompletedProcess[str]:
    pre_commit = Path(sys.executable).parent / "pre-commit"
    env = {**os.environ, "PRE_COMMIT_HOME": str(home)}
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run(
        [str(pre_commit), "try-repo", str(ROOT), "nbship-audit", "--files", *files],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    """Someone else's git repository, with one clean and one faulty notebook committed."""
    clean(tmp_path)
    faulty(tmp_path)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "notebooks"], check=True)
    return tmp_path


def test_pre_commit_runs_the_hook_and_it_passes_a_clean_notebook(
    user_repo: Path, pre_commit_home: Path
) -> None:
    result = _try_repo(user_repo, pre_commit_home, "clean.ipynb")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nbship notebook audit (static)" in result.stdout and "Passed" in result.stdout


def test_pre_commit_fails_the_commit_naming_the_faulty_notebook(
    user_repo: Path, pre_commit_home: Path
) -> None:
    result = _try_repo(user_repo, pre_commit_home, "clean.ipynb", "faulty.ipynb")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed" in result.stdout
    assert "error-level findings in: faulty.ipynb" in result.stdout
    assert "findings in: clean.ipynb" not in result.stdout
