"""Builders for small notebooks written into a temporary project, one failure mode at a time."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import v4

PYTHON_KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def code(
    source: str,
    count: int | None = None,
    stdout: str | None = None,
    tags: list[str] | None = None,
    cell_id: str | None = None,
) -> nbformat.NotebookNode:
    """A code cell with an optional saved execution count and printed output."""
    outputs = [v4.new_output("stream", name="stdout", text=stdout)] if stdout is not None else []
    cell = v4.new_code_cell(source, execution_count=count, outputs=outputs)
    if tags:
        cell.metadata["tags"] = tags
    if cell_id:
        cell.id = cell_id
    return cell


def write_notebook(path: Path, cells: list[Any], kernelspec: dict[str, str] | None = None) -> Path:
    """Write a v4 notebook (markdown title first) with the given cells to ``path``."""
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# Title\n\nOne line.", id="title"), *cells])
    nb.metadata["kernelspec"] = kernelspec or PYTHON_KERNEL
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A minimal repository: ruff config, notebooks/exports.toml, one empty service package."""
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "svc" / "pkg").mkdir(parents=True)
    (tmp_path / "notebooks" / "exports.toml").write_text(
        '[[notebook]]\npath = "01_demo.ipynb"\npackage = "svc/pkg"\nmodule = "demo"\n'
    )
    return tmp_path


@pytest.fixture
def demo_notebook(project: Path) -> Callable[..., Path]:
    """Writes notebooks/01_demo.ipynb (the exported one) in ``project`` from the given cells."""

    def write(*cells: Any) -> Path:
        return write_notebook(project / "notebooks" / "01_demo.ipynb", list(cells))

    return write


def write_v3(path: Path) -> Path:
    """A minimal nbformat v3 notebook (worksheets, ``input`` instead of ``source``)."""
    data = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": "old"},
        "worksheets": [
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "language": "python",
                        "input": ["x = 1\n", "print(y)"],
                        "outputs": [],
                        "prompt_number": 2,
                    },
                    {
                        "cell_type": "code",
                        "language": "python",
                        "input": ["y = 2"],
                        "outputs": [],
                        "prompt_number": 1,
                    },
                ]
            }
        ],
    }
    path.write_text(json.dumps(data))
    return path
