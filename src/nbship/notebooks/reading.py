"""Read notebooks of any supported version into nbformat v4 nodes, with errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat import NotebookNode


class NotebookError(Exception):
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
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("nbformat"), int):
        raise NotebookError(f"{path}: not a Jupyter notebook (no integer 'nbformat' field)")
    major = data["nbformat"]
    if major not in (3, 4):
        raise NotebookError(f"{path}: unsupported nbformat version {major} (expected 3 or 4)")
    container = data.get("cells") if major == 4 else data.get("worksheets")
    if not isinstance(container, list):
        key = "cells" if major == 4 else "worksheets"
        raise NotebookError(f"{path}: not a Jupyter notebook ('{key}' is missing or not a list)")
    try:
        # Skips full schema validation on purpose: it dominates the cost of a static audit, and
        # every field this package relies on is checked below.
        node = nbformat.versions[major].to_notebook_json(data, minor=data.get("nbformat_minor", 0))
        node = nbformat.convert(node, 4)
    except Exception as exc:  # nbformat raises a variety of types for broken structures
        raise NotebookError(f"{path}: malformed notebook: {exc}") from exc
    for index, cell in enumerate(node.get("cells", [])):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise NotebookError(f"{path}: cell {index} has no 'cell_type'")
        if not isinstance(cell.get("source", ""), str):
            raise NotebookError(f"{path}: cell {index} has a malformed 'source'")
        cell.setdefault("source", "")
        cell.setdefault("metadata", nbformat.NotebookNode())
    return node


def cell_label(cell: NotebookNode, index: int) -> str:
    """Name a cell for messages: its position and, when the notebook has them, its id."""
    cell_id = cell.get("id")
    return f"cell {index} (id {cell_id})" if cell_id else f"cell {index}"


def kernel_language(nb: NotebookNode) -> str:
    """Best guess at the notebook's kernel language, lower-case ('python' when unspecified)."""
    meta = nb.get("metadata", {})
    language = meta.get("language_info", {}).get("name") or meta.get("kernelspec", {}).get(
        "language"
    )
    if not language:
        name = str(meta.get("kernelspec", {}).get("name", "python"))
        language = "python" if name.startswith("python") else name
    return str(language).lower()
