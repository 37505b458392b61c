"""Findings where reviewers look: SARIF 2.1.0 for code scanning, annotations in GitHub Actions.

schemas/sarif-schema-2.1.0.json is the official OASIS schema (errata 01), copied unchanged from
https://github.com/oasis-tcs/sarif-spec/blob/e0583813964ec43cea53b6b531b402866095ed1f/sarif-2.1/schema/sarif-schema-2.1.0.json
(its "id" is https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from invoke.config import Config
from invoke.context import Context
from nbformat import v4

from nbship.notebooks.audit import audit
from nbship.notebooks.sarif import cell_lines, to_sarif, workflow_commands
from nbship.tasks import nb

from .conftest import code, write_notebook, write_v3

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json").read_text())


def validate(document: dict[str, Any]) -> None:
    validator = jsonschema.Draft4Validator(
        SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    validator.validate(document)


def results(document: dict[str, Any]) -> list[dict[str, Any]]:
    return document["runs"][0]["results"]


@pytest.fixture
def teaching(tmp_path: Path) -> Path:
    """A notebook with a hidden-state error in its third cell (index 2 after the title), ids set."""
    return write_notebook(
        tmp_path / "notebooks" / "90_teach.ipynb",
        [code("y = x + 1", 1, cell_id="uses-x"), code("x = 1", 2, cell_id="sets-x")],
    )


def test_sarif_of_a_faulty_notebook_validates_against_the_official_schema(
    tmp_path: Path, teaching: Path
) -> None:
    document = to_sarif(audit([teaching], root=tmp_path, execute=False), tmp_path)
    validate(document)
    assert document["version"] == "2.1.0"
    hidden = [r for r in results(document) if r["ruleId"] == "hidden-state"]
    assert len(hidden) == 1 and hidden[0]["level"] == "error"
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    assert rules[hidden[0]["ruleIndex"]]["id"] == "hidden-state"


def test_a_cell_finding_points_at_the_notebook_file_and_the_cells_line(
    tmp_path: Path, teaching: Path
) -> None:
    document = to_sarif(audit([teaching], root=tmp_path, execute=False), tmp_path)
    (hidden,) = [r for r in results(document) if r["ruleId"] == "hidden-state"]
    (location,) = hidden["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "notebooks/90_teach.ipynb"
    assert hidden["message"]["text"].startswith("cell 1 (id uses-x): ")
    assert location["logicalLocations"][0]["name"] == "cell 1 (id uses-x)"
    # The region starts inside cell 1's JSON object: the next id below it is that cell's.
    lines = teaching.read_text().splitlines()
    following = [line for line in lines[physical["region"]["startLine"] - 1 :] if '"id"' in line]
    assert '"uses-x"' in following[0]


def test_cells_without_ids_are_named_by_index_and_located(tmp_path: Path) -> None:
    nb4 = v4.new_notebook(
        cells=[
            v4.new_code_cell("a = 1", execution_count=2),
            v4.new_code_cell("b = 2", execution_count=1),
        ]
    )
    nb4.nbformat_minor = 4
    data = json.loads(json.dumps(nb4))
    for cell in data["cells"]:
        del cell["id"]
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(data, indent=1))
    document = to_sarif(audit([path], root=tmp_path, execute=False), tmp_path)
    validate(document)
    (late,) = [r for r in results(document) if r["ruleId"] == "out-of-order"]
    assert late["message"]["text"].startswith("cell 1: ")
    line = late["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert '"b = 2"' in "\n".join(path.read_text().splitlines()[line - 1 : line + 8])


def test_nbformat_3_cells_are_located_across_worksheets(tmp_path: Path) -> None:
    path = write_v3(tmp_path / "v3.ipynb")
    path.write_text(json.dumps(json.loads(path.read_text()), indent=1))
    assert set(cell_lines(path)) == {0, 1}
    document = to_sarif(audit([path], root=tmp_path, execute=False), tmp_path)
    validate(document)
    assert results(document)


def test_a_file_that_is_not_a_notebook_is_one_result_on_line_1(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    document = to_sarif(audit([path], root=tmp_path, execute=False), tmp_path)
    validate(document)
    (only,) = results(document)
    assert only["ruleId"] == "malformed" and only["level"] == "error"
    assert only["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    assert "logicalLocations" not in only["locations"][0]


def test_cells_that_cannot_be_told_apart_in_the_text_fall_back_to_line_1(tmp_path: Path) -> None:
    """An output holding a "cell_type" key would shift every guess: no line is better."""
    cell = code("a = 1", 2)
    cell.outputs = [v4.new_output("execute_result", data={"application/json": {"cell_type": 1}})]
    path = write_notebook(tmp_path / "n.ipynb", [cell, code("b = 2", 1)])
    assert cell_lines(path) == {}
    document = to_sarif(audit([path], root=tmp_path, execute=False), tmp_path)
    validate(document)
    assert {
        r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results(document)
    } == {1}


def test_the_schema_rejects_what_is_not_sarif_2_1_0(tmp_path: Path, teaching: Path) -> None:
    """The validation above means something: the same document with a wrong level fails."""
    document = to_sarif(audit([teaching], root=tmp_path, execute=False), tmp_path)
    results(document)[0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate(document)


def test_workflow_commands_point_at_the_notebook_and_escape_what_github_would_split(
    tmp_path: Path,
) -> None:
    path = write_notebook(
        tmp_path / "a, b: c.ipynb", [code("y = x", 1, cell_id="c1"), code("x = 1", 2)]
    )
    report = audit([path], root=tmp_path, execute=False)
    commands = workflow_commands(report, tmp_path)
    (hidden,) = [c for c in commands if "title=nbship hidden-state" in c]
    line = cell_lines(path)[1]
    assert hidden.startswith(f"::error file=a%2C b%3A c.ipynb,line={line},")
    assert hidden.split("::", 2)[2].startswith("cell 1 (id c1): ")
    assert all(c.startswith(("::error ", "::warning ", "::notice ")) for c in commands)
    assert all("\n" not in c for c in commands)


def context() -> Context:
    return Context(config=Config(overrides=nb.ns.configuration()))


def test_nb_audit_writes_sarif_and_annotates_only_in_github_actions(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_notebook(project / "notebooks" / "90_teach.ipynb", [code("y = x", 1), code("x = 1", 2)])
    monkeypatch.chdir(project)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    nb.audit(context(), no_execute=True, sarif="build/audit.sarif")
    document = json.loads((project / "build" / "audit.sarif").read_text())
    validate(document)
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results(document)
    }
    assert uris == {"notebooks/90_teach.ipynb"}
    assert "::error" not in capsys.readouterr().out
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    nb.audit(context(), no_execute=True)
    assert "::error file=notebooks/90_teach.ipynb,line=" in capsys.readouterr().out
