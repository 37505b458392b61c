"""Read notebooks of any supported version into nbformat v4 nodes, with errors naming the file."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4.rwbase import rejoin_lines, strip_transient

from nbship.errors import NbshipError

# nbformat 4.5: a cell id is 1-64 letters, digits, "-" or "_".
_CELL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class NotebookError(NbshipError):
    """A file that should be a notebook cannot be read as one; the message names the file."""


def read_notebook(path: Path) -> NotebookNode:
    """Read ``path`` as a notebook and return it as nbformat v4 (v3 notebooks are converted)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NotebookError(f"{path}: cannot read notebook: {exc}") from exc
    return parse_notebook(text, path)


def parse_notebook(text: str, path: Path) -> NotebookNode:
    """Parse notebook JSON ``text`` (read from ``path``, used in messages) as nbformat v4."""
    try:
        # Every object is made a NotebookNode as it is decoded: nbformat's own from_dict does
        # the same afterwards in Python, and took a quarter of the time of reading a notebook.
        data = json.loads(text, object_hook=NotebookNode)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    if not isinstance(data, dict) or type(data.get("nbformat")) is not int:
        raise NotebookError(f"{path}: not a Jupyter notebook (no integer 'nbformat' field)")
    major = data["nbformat"]
    if major not in (3, 4):
        raise NotebookError(f"{path}: unsupported nbformat version {major} (expected 3 or 4)")
    _check_shape(data, major, path)
    if major == 3 or type(data.get("nbformat_minor")) is not int:
        # Only the v3 conversion reads it, to pick a schema that exists for minor 0 alone.
        data["nbformat_minor"] = 0
    notebook = _to_v4(data, path) if major == 3 else _read_v4(data)
    for index, cell in enumerate(notebook.cells):
        _normalise_cell(cell, major, index, path)
    return notebook


def _read_v4(data: dict[str, Any]) -> NotebookNode:
    """What nbformat's v4 reader makes of decoded JSON, minus its copy into NotebookNodes.

    Skips full schema validation on purpose: it dominates the cost of a static audit, and
    every field this package relies on is checked by ``_check_shape``.
    """
    notebook: NotebookNode = strip_transient(rejoin_lines(data))
    return notebook


def _to_v4(data: dict[str, Any], path: Path) -> NotebookNode:
    """Convert a v3 notebook with nbformat; its warnings are said in one line by the checks."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            node = nbformat.versions[3].to_notebook_json(data, minor=data["nbformat_minor"])
            node = nbformat.convert(node, 4)
    except Exception as exc:  # nbformat raises a variety of types for broken structures
        raise NotebookError(
            f"{path}: malformed notebook ({type(exc).__name__}: {exc})".replace("\n", " ")
        ) from exc
    notebook: NotebookNode = node
    return notebook


def _check_shape(data: dict[str, Any], major: int, path: Path) -> None:
    """Refuse, in one line naming the field, what nbformat's conversion would trip over.

    Fields nbformat needs and a hand-edited file may lack (metadata) are filled in on ``data``.
    """
    if not isinstance(data.get("metadata", {}), dict):
        raise NotebookError(f"{path}: notebook 'metadata' is not an object")
    data.setdefault("metadata", NotebookNode())
    if major == 3:
        worksheets = data.get("worksheets")
        if not isinstance(worksheets, list):
            raise NotebookError(
                f"{path}: not a Jupyter notebook ('worksheets' is missing or not a list)"
            )
        for number, sheet in enumerate(worksheets):
            if not isinstance(sheet, dict) or not isinstance(sheet.get("cells", []), list):
                raise NotebookError(f"{path}: worksheet {number} has no list of 'cells'")
            sheet.setdefault("cells", [])  # a list: NotebookNode.setdefault does not convert
        cells: list[Any] = [cell for sheet in worksheets for cell in sheet.get("cells", [])]
    else:
        found = data.get("cells")
        if not isinstance(found, list):
            raise NotebookError(
                f"{path}: not a Jupyter notebook ('cells' is missing or not a list)"
            )
        cells = found
    text_key = "input" if major == 3 else "source"
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise NotebookError(f"{path}: cell {index} has no 'cell_type'")
        for key in {text_key, "source"}:
            if not _is_text(cell.get(key, "")):
                raise NotebookError(f"{path}: cell {index} has a malformed {key!r}")
        for key in ("metadata", "attachments"):
            if not isinstance(cell.get(key, {}), dict):
                raise NotebookError(f"{path}: cell {index} {key!r} is not an object")
        if not all(isinstance(bundle, dict) for bundle in cell.get("attachments", {}).values()):
            raise NotebookError(f"{path}: cell {index} has an attachment that is not an object")
        _check_outputs(cell.get("outputs", []), f"{path}: cell {index}")
        # nbformat's conversion assumes every cell has metadata, and code cells outputs.
        cell.setdefault("metadata", NotebookNode())
        if cell["cell_type"] == "code":
            cell.setdefault("outputs", [])
        tags = cell["metadata"].get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise NotebookError(f"{path}: cell {index} 'metadata.tags' is not a list of strings")


def _is_text(value: object) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(line, str) for line in value)
    )


def _check_outputs(outputs: object, where: str) -> None:
    if not isinstance(outputs, list) or not all(isinstance(out, dict) for out in outputs):
        raise NotebookError(f"{where}: 'outputs' is not a list of objects")
    for out in outputs:
        if not isinstance(out.get("data", {}), dict) or not isinstance(
            out.get("metadata", {}), dict
        ):
            raise NotebookError(f"{where}: an output's 'data' or 'metadata' is not an object")
        if not isinstance(out.get("output_type"), str):
            raise NotebookError(f"{where}: an output has no 'output_type'")
        if not _is_text(out.get("text", "")):
            raise NotebookError(f"{where}: an output's 'text' is not text")


def _normalise_cell(cell: NotebookNode, major: int, index: int, path: Path) -> None:
    """Give every cell the fields the audit reads, so a missing one is never a crash."""
    cell.setdefault("source", "")
    cell.setdefault("metadata", nbformat.NotebookNode())
    cell_id = cell.get("id")
    if major == 3 or not (isinstance(cell_id, str) and _CELL_ID.fullmatch(cell_id)):
        # v3 cells have no ids: the ones nbformat invents at random are not in the file. An id
        # outside nbformat's pattern is ignored too: it ends up in messages and module headers.
        cell.pop("id", None)
    if cell.cell_type == "code":
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)


def cell_label(cell: NotebookNode, index: int) -> str:
    """Name a cell for messages: its position and, when the notebook has them, its id."""
    cell_id = cell.get("id")
    return f"cell {index} (id {cell_id})" if cell_id else f"cell {index}"


def kernel_language(nb: NotebookNode) -> str:
    """Best guess at the notebook's kernel language, lower-case ('python' when unspecified)."""
    info, spec = _kernel_metadata(nb)
    for language in (info.get("name"), spec.get("language")):
        if isinstance(language, str) and language:
            return language.lower()
    name = str(spec.get("name") or "python").lower()
    display = str(spec.get("display_name") or "").lower()
    # Conda and virtualenv kernels have names like "py36" or "conda-env-tf-py".
    if "python" in name or "python" in display or re.search(r"(^|\W)py\d*($|\W)", name):
        return "python"
    return name


def is_python2(nb: NotebookNode) -> bool:
    """True when the notebook says it was written for a Python 2 kernel."""
    info, spec = _kernel_metadata(nb)
    version = str(info.get("version") or "")
    mode = info.get("codemirror_mode")
    mode_version = mode.get("version") if isinstance(mode, dict) else None
    name = f"{spec.get('name') or ''} {spec.get('display_name') or ''}".lower()
    return (
        version.startswith("2.")
        or mode_version == 2
        or bool(re.search(r"python\s*2|py2\b|python2", name))
    )


def _kernel_metadata(nb: NotebookNode) -> tuple[dict[str, Any], dict[str, Any]]:
    """(language_info, kernelspec), each an empty dict when missing or malformed."""
    meta = nb.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    info, spec = meta.get("language_info"), meta.get("kernelspec")
    return (info if isinstance(info, dict) else {}), (spec if isinstance(spec, dict) else {})
