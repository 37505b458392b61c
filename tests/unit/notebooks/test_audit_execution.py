"""nb.audit dynamic checks: fresh-kernel re-execution, compared with saved outputs and itself."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nbship.notebooks.audit import DIFFERS, FAILS, NOT_EXECUTED, REPRODUCIBLE, audit_notebook

from .conftest import code, write_notebook

REPO = Path(__file__).resolve().parents[3]


def executed(path: Path) -> Path:
    """Run the notebook once and save it with its outputs, as an author would."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=30, kernel_name="python3").execute()
    nbformat.write(nb, path)
    return path


def test_clean_notebook_reproduces_its_outputs(tmp_path: Path) -> None:
    path = executed(
        write_notebook(
            tmp_path / "n.ipynb",
            [code("class Thing: pass\nx = 21"), code("print(x * 2, Thing())")],
        )
    )
    result = audit_notebook(path, timeout=30)
    assert result.verdict == REPRODUCIBLE, result.findings
    assert result.runs_without_error and result.reproduces_outputs and result.deterministic


def test_error_is_recorded_with_the_cell_that_raised(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "n.ipynb",
        [code("x = 1", 1, cell_id="ok"), code("1 / 0", 2, cell_id="boom"), code("y = 2", 3)],
    )
    result = audit_notebook(path, timeout=30, runs=1)
    assert result.verdict == FAILS and result.runs_without_error is False
    assert result.error is not None
    assert (result.error.cell, result.error.cell_id) == (2, "boom")
    assert "ZeroDivisionError" in result.error.message


def test_saved_output_that_no_longer_reproduces_runs_but_differs(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "n.ipynb", [code("print(6 * 7)", 1, stdout="41\n", cell_id="answer")]
    )
    result = audit_notebook(path, timeout=30, runs=1)
    assert result.verdict == DIFFERS
    assert [(f.check, f.cell_id) for f in result.findings] == [("output-differs", "answer")]


def test_unseeded_randomness_is_caught_by_the_second_run(tmp_path: Path) -> None:
    path = executed(
        write_notebook(
            tmp_path / "n.ipynb",
            [code("import random\nprint(random.random())", cell_id="draw")],
        )
    )
    result = audit_notebook(path, timeout=30, runs=2)
    assert result.verdict == DIFFERS and result.deterministic is False
    assert ("nondeterministic", 1) in [(f.check, f.cell) for f in result.findings]


def test_cell_timeout_is_a_failure_naming_the_cell(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "n.ipynb", [code("import time\ntime.sleep(60)", 1, cell_id="slow")]
    )
    result = audit_notebook(path, timeout=2, runs=1)
    assert result.verdict == FAILS
    assert result.error is not None and result.error.check == "timeout"
    assert result.error.cell_id == "slow"


def test_python2_notebook_fails_without_crashing_the_audit(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb", [code('print "hi"', 1, stdout="hi\n")])
    result = audit_notebook(path, timeout=30, runs=1)
    assert result.verdict == FAILS and "SyntaxError" in (
        result.error.message if result.error else ""
    )


def test_notebook_saved_without_outputs_has_nothing_to_reproduce(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb", [code("print(1)")])
    result = audit_notebook(path, timeout=30, runs=1)
    assert result.runs_without_error and result.verdict == NOT_EXECUTED


def test_teaching_notebook_shows_every_pitfall() -> None:
    result = audit_notebook(REPO / "notebooks" / "90_teaching_pitfalls.ipynb", timeout=60)
    found = {(f.check, f.cell_id) for f in result.findings}
    assert ("out-of-order", "discount-rate") in found
    assert ("hidden-state", "total") in found
    assert ("undefined-name", "with-shipping") in found  # defined in a deleted cell
    assert any(check == "skipped-count" for check, _ in found)
    assert ("nondeterministic", "lucky-draw") in found
    assert ("output-differs", "lucky-draw") in found
    assert result.verdict == FAILS and not result.feeds_service


@pytest.mark.parametrize("name", ["01_inventory_search.ipynb", "02_billing_orders.ipynb"])
def test_service_notebooks_are_reproducible(name: str) -> None:
    result = audit_notebook(REPO / "notebooks" / name, timeout=60)
    assert result.verdict == REPRODUCIBLE, result.findings
    assert not [f for f in result.findings if f.severity != "info"]
