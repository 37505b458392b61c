"""The static audit on every notebook shape that broke or fooled it in the wild (see shapes.py).

Each shape must give a report, never a traceback, with the findings it calls for and none of the
false alarms it once raised; findings name the cell by index, and by id only when it has one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbship.notebooks.audit import INTERNAL_ERROR, NotebookAudit, audit, audit_notebook

from .shapes import BROKEN, SHAPES, Shape, cell, v4


def write(path: Path, notebook: object) -> Path:
    path.write_text(notebook if isinstance(notebook, str) else json.dumps(notebook))
    return path


def found(result: NotebookAudit) -> set[tuple[str, int | None]]:
    return {(finding.check, finding.cell) for finding in result.findings}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape_gives_its_findings_and_no_false_alarm(tmp_path: Path, name: str) -> None:
    shape: Shape = SHAPES[name]
    result = audit_notebook(write(tmp_path / f"{name}.ipynb", shape.notebook), execute=False)
    assert result.readable, result.findings
    assert shape.expected <= found(result), (shape.seen_in, result.findings)
    assert not shape.absent & {check for check, _ in found(result)}, result.findings


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_findings_name_cells_by_index_and_only_real_ids(tmp_path: Path, name: str) -> None:
    result = audit_notebook(write(tmp_path / "n.ipynb", SHAPES[name].notebook), execute=False)
    with_ids = {"v4-5-with-ids"}
    for finding in result.findings:
        assert finding.cell_id is None or name in with_ids, finding
        if name in with_ids and finding.cell is not None:
            assert finding.cell_id == ["use", "define"][finding.cell]


@pytest.mark.parametrize("minor", range(6))
def test_every_v4_minor_version_reads_and_audits(tmp_path: Path, minor: int) -> None:
    cells = [cell("y = x", 2), cell("x = 1", 1)]
    if minor == 5:
        cells = [c | {"id": f"c{i}"} for i, c in enumerate(cells)]
    result = audit_notebook(write(tmp_path / "n.ipynb", v4(cells, minor=minor)), execute=False)
    assert ("hidden-state", 0) in found(result) and result.out_of_order
    hidden = next(f for f in result.findings if f.check == "hidden-state")
    assert hidden.cell_id == ("c0" if minor == 5 else None)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_is_one_line_naming_file_and_field(tmp_path: Path, name: str) -> None:
    text, words = BROKEN[name]
    path = tmp_path / f"{name}.ipynb"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    result = audit_notebook(path, execute=True)
    assert not result.readable and [f.check for f in result.findings] == ["malformed"]
    message = result.findings[0].message
    assert message.startswith(f"{path}: ") and words in message and "\n" not in message


def test_folder_audit_reports_every_notebook_even_the_broken_ones(tmp_path: Path) -> None:
    for name, shape in SHAPES.items():
        write(tmp_path / f"{name}.ipynb", shape.notebook)
    for name, (text, _) in BROKEN.items():
        path = tmp_path / "broken" / f"{name}.ipynb"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    report = audit([tmp_path], root=tmp_path, execute=False)
    assert len(report.notebooks) == len(SHAPES) + len(BROKEN)
    assert sum(not nb.readable for nb in report.notebooks) == len(BROKEN)
    assert not [f for nb in report.notebooks for f in nb.findings if f.check == INTERNAL_ERROR]
