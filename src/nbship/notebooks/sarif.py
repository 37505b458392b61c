"""Audit findings where reviewers already look: SARIF 2.1.0 and GitHub Actions annotations.

GitHub code scanning shows a SARIF file's results on the pull request that changed the file;
a workflow command such as ``::error file=...,line=...::`` printed by any step becomes an
annotation on the diff. Both point at the notebook file and, for findings about one cell, at the
line of the notebook's JSON where that cell starts, and name the cell (index, and id if any).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nbship.files import atomic_write
from nbship.notebooks.audit import AuditReport, Finding, NotebookAudit

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "nbship"
# SARIF's levels, and GitHub's workflow commands, for the audit's severities.
SARIF_LEVELS = {"error": "error", "warning": "warning", "info": "note"}
ANNOTATIONS = {"error": "error", "warning": "warning", "info": "notice"}
# What each check means, for the rule list reviewers see in code scanning; a check missing here
# still gets a rule, described by its name.
RULES = {
    "malformed": "The file cannot be read as a Jupyter notebook.",
    "empty": "The notebook has no code cells.",
    "never-executed": "The notebook was saved without any executed code cell.",
    "out-of-order": "Cells were executed out of their order in the document.",
    "repeated-count": "Two cells carry the same execution count.",
    "skipped-count": "Execution counts are missing: cells were re-run or deleted after running.",
    "unexecuted-cell": "A code cell between executed cells was never executed.",
    "kernel": "The notebook's kernel is not Python, or did not start.",
    "hidden-state": "A cell reads a name that only a later cell defines.",
    "undefined-name": "A cell reads a name that no cell defines.",
    "star-import": "A star import hides which names a cell defines.",
    "magic": "IPython magics or shell escapes do not run as plain Python.",
    "syntax": "A cell does not parse as Python.",
    "credential": "A credential is written in the notebook.",
    "absolute-path": "An absolute path ties the notebook to one machine.",
    "unlocked-import": "An exported cell imports a package the service does not lock.",
    "output-differs": "A fresh run does not reproduce the saved output.",
    "nondeterministic": "Two fresh runs produce different outputs.",
    "nothing-saved": "The notebook runs but was saved without outputs to reproduce.",
}
# A cell object's "cell_type" key in notebook JSON. Inside a JSON string a quote is escaped, so
# this only matches keys; cell positions are trusted only when the count matches the cells'.
_CELL_KEY = re.compile(r'(?<!\\)"cell_type"\s*:')


def cell_lines(path: Path) -> dict[int, int]:
    """The 1-based line where each cell (by index) starts in the notebook file, when certain.

    Empty when the file cannot be read, or when its cells cannot be told apart in the text (say,
    an output that itself holds a "cell_type" key): findings then point at the file's first line.
    """
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    starts = []
    line, position = 1, 0
    for match in _CELL_KEY.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        starts.append(line)
    return dict(enumerate(starts)) if len(starts) == _cell_count(data) else {}


def _cell_count(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("cells"), list):
        return len(data["cells"])
    worksheets = data.get("worksheets")  # nbformat 3
    if isinstance(worksheets, list) and all(
        isinstance(sheet, dict) and isinstance(sheet.get("cells"), list) for sheet in worksheets
    ):
        return sum(len(sheet["cells"]) for sheet in worksheets)
    return None


def cell_name(finding: Finding) -> str | None:
    """How messages name a finding's cell: ``cell 3`` or ``cell 3 (id a1b2)``; None: notebook."""
    if finding.cell is None:
        return None
    return f"cell {finding.cell}" + (f" (id {finding.cell_id})" if finding.cell_id else "")


def _text(finding: Finding) -> str:
    where = cell_name(finding)
    return f"{where}: {finding.message}" if where else finding.message


def _file(nb: NotebookAudit, root: Path) -> Path:
    path = Path(nb.path)
    return path if path.is_absolute() else root / path


def _uri(nb: NotebookAudit) -> str:
    """The notebook as a SARIF artifact URI: relative to the repository, as GitHub expects."""
    path = Path(nb.path)
    return path.as_uri() if path.is_absolute() else quote(path.as_posix())


def to_sarif(report: AuditReport, root: Path) -> dict[str, Any]:
    """The report as one SARIF 2.1.0 run; ``root`` is what the notebooks' paths are relative to."""
    checks = sorted({finding.check for nb in report.notebooks for finding in nb.findings})
    rule_index = {check: index for index, check in enumerate(checks)}
    results = []
    for nb in report.notebooks:
        lines = cell_lines(_file(nb, root)) if nb.findings else {}
        for finding in nb.findings:
            results.append(_result(nb, finding, lines, rule_index[finding.check]))
    rules = [
        {"id": check, "name": check, "shortDescription": {"text": RULES.get(check, check)}}
        for check in checks
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": {"name": TOOL_NAME, "rules": rules}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def _result(
    nb: NotebookAudit, finding: Finding, lines: dict[int, int], rule: int
) -> dict[str, Any]:
    line = lines.get(finding.cell, 1) if finding.cell is not None else 1
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(nb)},
            "region": {"startLine": line},
        }
    }
    where = cell_name(finding)
    if where is not None:
        location["logicalLocations"] = [
            {"name": where, "fullyQualifiedName": f"{nb.path}#{where}", "kind": "element"}
        ]
    return {
        "ruleId": finding.check,
        "ruleIndex": rule,
        "level": SARIF_LEVELS[finding.severity],
        "message": {"text": _text(finding)},
        "locations": [location],
    }


def save_sarif(report: AuditReport, root: Path, path: Path) -> None:
    """Write the report as SARIF to ``path`` atomically (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(to_sarif(report, root), indent=2) + "\n")


def workflow_commands(report: AuditReport, root: Path) -> list[str]:
    """GitHub Actions workflow commands, one per finding, pointing at the notebook's cell."""
    commands = []
    for nb in report.notebooks:
        lines = cell_lines(_file(nb, root)) if nb.findings else {}
        for finding in nb.findings:
            line = lines.get(finding.cell, 1) if finding.cell is not None else 1
            properties = ",".join(
                f"{key}={_escape_property(value)}"
                for key, value in (
                    ("file", nb.path),
                    ("line", str(line)),
                    ("title", f"nbship {finding.check}"),
                )
            )
            command = ANNOTATIONS[finding.severity]
            commands.append(f"::{command} {properties}::{_escape_data(_text(finding))}")
    return commands


def _escape_data(text: str) -> str:
    # GitHub's runner escaping for a command's message (actions/toolkit, command.ts).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
