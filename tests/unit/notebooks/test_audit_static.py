"""nb.audit static checks: what the saved notebook alone reveals, without running a kernel."""

from __future__ import annotations

import json
from pathlib import Path

from nbformat import v4

from nbship.notebooks.audit import (
    NOT_EXECUTED,
    NotebookAudit,
    audit,
    audit_notebook,
    normalise_outputs,
)
from nbship.notebooks.report import render_html, render_table, report_to_json

from .conftest import code, write_notebook, write_v3


def checks(result: NotebookAudit) -> list[tuple[str, int | None]]:
    return [(finding.check, finding.cell) for finding in result.findings]


def static(path: Path) -> NotebookAudit:
    return audit_notebook(path, execute=False)


def test_cell_run_out_of_order_is_flagged(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "n.ipynb", [code("a = 1", 1), code("b = 2", 3), code("c = 3", 2)]
    )
    result = static(path)
    assert result.out_of_order
    assert ("out-of-order", 3) in checks(result)


def test_repeated_execution_count_is_out_of_order(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb", [code("a = 1", 1), code("b = 2", 1)])
    result = static(path)
    assert result.out_of_order
    assert {"out-of-order", "repeated-count"} <= {check for check, _ in checks(result)}


def test_skipped_execution_counts_are_flagged(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb", [code("a = 1", 1), code("b = 2", 4)])
    result = static(path)
    skipped = [f for f in result.findings if f.check == "skipped-count"]
    assert len(skipped) == 1 and "2, 3" in skipped[0].message
    assert not result.out_of_order


def test_cell_never_executed_between_executed_cells_is_flagged(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "n.ipynb", [code("a = 1", 1), code("b = 2"), code("c = 3", 2), code("d = 4")]
    )
    assert [cell for check, cell in checks(static(path)) if check == "unexecuted-cell"] == [2]


def test_name_defined_only_in_a_later_cell_is_hidden_state(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "n.ipynb",
        [code("total = price * 2", 2, cell_id="use"), code("price = 5", 1, cell_id="define")],
    )
    result = static(path)
    assert ("hidden-state", 1) in checks(result)
    assert [(e.use, e.definition, e.name) for e in result.hidden_edges] == [(1, 2, "price")]


def test_reading_a_name_before_rebinding_it_counts_as_a_use(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb", [code("n = n + 1", 1), code("n = 0", 2)])
    assert ("hidden-state", 1) in checks(static(path))


def test_function_may_call_a_name_defined_by_a_later_cell(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "n.ipynb",
        [
            code("def run():\n    return helper()", 1),
            code("def helper():\n    return [i for i in range(3)]", 2),
            code("for q in 'ab':\n    print([c for c in q])", 3),
        ],
    )
    result = static(path)
    assert result.findings == [] and result.hidden_edges == []


def test_name_defined_nowhere_is_flagged(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "n.ipynb",
        [code("print(shipping_fee)", 1), code("def f():\n    return ghost", 2)],
    )
    found = [(f.check, f.cell, f.severity) for f in static(path).findings]
    assert ("undefined-name", 1, "error") in found
    assert ("undefined-name", 2, "warning") in found


def test_absolute_paths_and_credentials_are_flagged_without_echoing_secrets(
    tmp_path: Path,
) -> None:
    secret = "hunter2-very-secret"
    path = write_notebook(
        tmp_path / "n.ipynb",
        [
            code("data = open('/home/alice/orders.csv')", 1),
            code(f"password = '{secret}'", 2),
            code("url = 'amqp://guest:guest@localhost/'", 3),
            code("key = 'AKIAABCDEFGHIJKLMNOP'", 4),
        ],
    )
    result = static(path)
    assert ("absolute-path", 1) in checks(result)
    assert {cell for check, cell in checks(result) if check == "credential"} == {2, 3, 4}
    assert all(secret not in finding.message for finding in result.findings)


def test_magics_are_understood_not_reported_as_syntax_errors(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "n.ipynb",
        [
            code("%matplotlib inline\nx = 1", 1),
            code("!ls\n%time y = x", 2),
            code("%%bash\necho", 3),
        ],
    )
    found = checks(static(path))
    assert ("magic", 1) in found and ("magic", 3) in found
    assert not any(check == "syntax" for check, _ in found)


def test_python2_syntax_is_reported_not_raised(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb", [code('print "hello"', 1), code("x = 1", 2)])
    syntax = [f for f in static(path).findings if f.check == "syntax"]
    assert len(syntax) == 1 and syntax[0].cell == 1 and "Python 2" in syntax[0].message


def test_empty_notebook_is_not_executed(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb", [])
    result = audit_notebook(path, execute=True)
    assert result.verdict == NOT_EXECUTED and not result.executed
    assert ("empty", None) in checks(result)


def test_notebook_saved_without_outputs_is_reported(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb", [code("x = 1"), code("print(x)")])
    result = static(path)
    assert ("never-executed", None) in checks(result)
    assert not result.out_of_order


def test_non_python_kernel_is_reported_and_never_executed(tmp_path: Path) -> None:
    kernel = {"name": "ir", "display_name": "R", "language": "R"}
    path = write_notebook(tmp_path / "n.ipynb", [code("x <- c(1, 2)", 1)], kernelspec=kernel)
    result = audit_notebook(path, execute=True)
    assert result.language == "r" and result.verdict == NOT_EXECUTED and not result.executed
    assert any(f.check == "kernel" and "non-Python" in f.message for f in result.findings)


def test_malformed_json_is_a_finding_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    result = audit_notebook(path, execute=True)
    assert not result.readable and result.verdict == NOT_EXECUTED
    assert result.findings[0].check == "malformed"
    assert "broken.ipynb: not valid JSON" in result.findings[0].message


def test_v3_notebook_is_converted_and_checked(tmp_path: Path) -> None:
    result = static(write_v3(tmp_path / "old.ipynb"))
    assert result.out_of_order
    assert [(e.use, e.definition, e.name) for e in result.hidden_edges] == [(0, 1, "y")]


def test_noise_is_masked_but_real_differences_are_kept() -> None:
    first = [
        v4.new_output("stream", name="stdout", text="<Obj at 0x7f3a2b1c> 2024-05-01T10:00:00Z\n"),
        v4.new_output("stream", name="stdout", text="took 1.52 s\n"),
    ]
    second = [
        v4.new_output("stream", name="stdout", text="<Obj at 0x7fffd00d> 2026-11-22 15:01:02\n"),
        v4.new_output("stream", name="stdout", text="took 980 ms\n"),
    ]
    assert normalise_outputs(first) == normalise_outputs(second)
    third = [v4.new_output("execute_result", data={"text/plain": "0.4242"}, execution_count=1)]
    fourth = [v4.new_output("execute_result", data={"text/plain": "0.1337"}, execution_count=1)]
    assert normalise_outputs(third) != normalise_outputs(fourth)


def test_only_service_notebooks_block(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "exports.toml").write_text(
        '[[notebook]]\npath = "01_svc.ipynb"\npackage = "pkg"\nmodule = "m"\n'
    )
    bad = [code("y = x", 1), code("x = 1", 2)]
    write_notebook(tmp_path / "notebooks" / "01_svc.ipynb", bad)
    write_notebook(tmp_path / "notebooks" / "90_teach.ipynb", bad)
    report = audit([tmp_path / "notebooks"], root=tmp_path, execute=False)
    assert [nb.path for nb in report.blocking()] == ["notebooks/01_svc.ipynb"]


def test_reports_render_as_table_json_and_self_contained_html(tmp_path: Path) -> None:
    write_notebook(tmp_path / "a.ipynb", [code("y = x", 3), code("x = 1", 1), code("z = 2", 2)])
    (tmp_path / "b.ipynb").write_text("[]")
    report = audit([tmp_path], root=tmp_path, execute=False)
    table = render_table(report)
    assert "a.ipynb" in table and "out of order" in table and "out-of-order cells: 1/1" in table
    data = json.loads(json.dumps(report_to_json(report)))
    assert data["summary"]["notebooks"] == 2 and data["summary"]["readable"] == 1
    page = render_html(report)
    assert page.count("<svg") == 1 and 'class="jump"' in page and 'class="hidden"' in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in page and "not a Jupyter notebook" in page


def test_the_html_page_escapes_what_comes_from_notebooks(tmp_path: Path) -> None:
    """Paths, kernel names and findings are the notebook author's text: the page escapes them."""
    hostile = tmp_path / "<img src=x onerror=alert(1)>.ipynb"
    write_notebook(hostile, [code("print(<script>alert(2)</script>)", 1)])
    page = render_html(audit([tmp_path], root=tmp_path, execute=False))
    assert "&lt;img src=x onerror=alert(1)&gt;.ipynb" in page
    assert "<img" not in page and "<script" not in page


def test_static_audit_handles_a_folder_of_200_notebooks(tmp_path: Path) -> None:
    """A folder is audited notebook by notebook (its speed is measured by `invoke bench.audit`)."""
    cells = [code(f"v{i} = v{i - 1} + 1" if i else "v0 = 0", i + 1) for i in range(20)]
    source = write_notebook(tmp_path / "nb" / "n000.ipynb", cells)
    for index in range(1, 200):
        (tmp_path / "nb" / f"n{index:03}.ipynb").write_bytes(source.read_bytes())
    report = audit([tmp_path / "nb"], root=tmp_path, execute=False)
    assert len(report.notebooks) == 200
    assert all(not nb.findings for nb in report.notebooks)


def test_exported_imports_must_be_in_the_service_lock(project: Path) -> None:
    (project / "svc" / "requirements.lock").write_text(
        "flask==3.1.3 \\\n    --hash=sha256:00\npsycopg[binary]==3.3.9\n"
    )
    write_notebook(
        project / "notebooks" / "01_demo.ipynb",
        [
            code("import json\nimport flask\nfrom psycopg import sql", 1, tags=["export"]),
            code("import yaml", 2, tags=["export"], cell_id="yaml"),
            code("import requests", 3),  # exploration only: never shipped
        ],
    )
    report = audit([project / "notebooks"], root=project, execute=False)
    found = [(f.check, f.cell_id, f.message) for f in report.notebooks[0].findings]
    assert found == [
        (
            "unlocked-import",
            "yaml",
            "exported code imports 'yaml', not covered by svc/requirements.lock",
        )
    ]
