"""Turn the ``export``-tagged cells of notebooks into generated Python modules.

``notebooks/exports.toml`` is the single place that says which notebook feeds which service
package; notebooks it does not list are never extracted. A cell tagged ``export`` goes to the
notebook's default module, ``export:<name>`` to module ``<name>`` in the same package.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from nbship.files import atomic_write
from nbship.notebooks.names import BUILTIN_NAMES, analyse, magic_line, to_python
from nbship.notebooks.reading import NotebookError, cell_label, read_notebook

EXPORTS_FILE = Path("notebooks/exports.toml")
EXPORT_TAG = "export"
HEADER_WIDTH = 100


class ExtractError(Exception):
    """The exports cannot be turned into modules; the message names notebook, cell and name."""


@dataclass(frozen=True)
class ExportTarget:
    """One notebook and the package (directory) its exported cells go to."""

    notebook: Path  # relative to the repository root
    package: Path  # relative to the repository root
    module: str  # default module name for cells tagged plain ``export``


@dataclass(frozen=True)
class GeneratedModule:
    """The text a module must have, and where it goes."""

    path: Path  # relative to the repository root
    notebook: Path
    cell_ids: tuple[str, ...]
    text: str


@dataclass
class ExtractResult:
    """What an extraction did (or, with check, would do)."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    stale: dict[Path, str] = field(default_factory=dict)  # path -> unified diff

    @property
    def ok(self) -> bool:
        """True when no committed module is stale or missing."""
        return not self.stale


def load_exports(root: Path, config: Path | None = None) -> list[ExportTarget]:
    """Read the notebook -> package mapping from ``notebooks/exports.toml`` under ``root``."""
    config_path = root / (config or EXPORTS_FILE)
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ExtractError(f"{config_path}: cannot read export configuration: {exc}") from exc
    entries = data.get("notebook", [])
    if not isinstance(entries, list):
        raise ExtractError(f"{config_path}: 'notebook' must be an array of tables ([[notebook]])")
    targets = []
    for number, entry in enumerate(entries, start=1):
        missing = [
            key for key in ("path", "package", "module") if not isinstance(entry.get(key), str)
        ]
        if missing:
            raise ExtractError(
                f"{config_path}: [[notebook]] entry {number} lacks string field(s) {missing}"
            )
        _check_module_name(entry["module"], f"{config_path}: [[notebook]] entry {number}")
        targets.append(
            ExportTarget(
                notebook=(config_path.parent / entry["path"]).relative_to(root),
                package=Path(entry["package"]),
                module=entry["module"],
            )
        )
    return targets


def export_module_of(cell: NotebookNode, default: str) -> str | None:
    """The module an exported cell goes to, or None when the cell is not exported."""
    if cell.get("cell_type") != "code":
        return None
    for tag in cell.get("metadata", {}).get("tags", []):
        if tag == EXPORT_TAG:
            return default
        if isinstance(tag, str) and tag.startswith(EXPORT_TAG + ":"):
            return tag.split(":", 1)[1]
    return None


def build_modules(root: Path, target: ExportTarget) -> list[GeneratedModule]:
    """Build (in memory, formatted) every module the target notebook exports."""
    path = root / target.notebook
    try:
        nb = read_notebook(path)
    except NotebookError as exc:
        raise ExtractError(str(exc)) from exc
    groups: dict[str, list[tuple[int, NotebookNode]]] = {}
    for index, cell in enumerate(nb.cells):
        module = export_module_of(cell, target.module)
        if module is not None:
            _check_module_name(module, f"{target.notebook} {cell_label(cell, index)}")
            groups.setdefault(module, []).append((index, cell))
    if not groups:
        raise ExtractError(f"{target.notebook}: no cell is tagged '{EXPORT_TAG}'")
    modules = []
    for module, cells in groups.items():
        _check_cells(target.notebook, nb, cells)
        destination = target.package / f"{module}.py"
        ids = tuple(cell.get("id") or f"#{index}" for index, cell in cells)
        raw = _header(target.notebook, ids) + "\n\n\n".join(
            cell.source.strip("\n") for _, cell in cells
        )
        text = format_source(root, destination, raw + "\n")
        modules.append(GeneratedModule(destination, target.notebook, ids, text))
    return modules


def extract(root: Path, check: bool = False, config: Path | None = None) -> ExtractResult:
    """Regenerate every exported module under ``root``; with ``check``, only report stale ones."""
    result = ExtractResult()
    modules = [
        module for target in load_exports(root, config) for module in build_modules(root, target)
    ]
    _check_unique(modules)
    for module in modules:
        destination = root / module.path
        try:
            current = destination.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current == module.text:
            result.unchanged.append(module.path)
            continue
        if check:
            result.stale[module.path] = _diff(module.path, current, module.text)
            continue
        if not destination.parent.is_dir():
            raise ExtractError(
                f"{module.path}: package directory {module.path.parent} does not exist "
                f"(declared for {module.notebook} in {EXPORTS_FILE})"
            )
        atomic_write(destination, module.text)
        result.written.append(module.path)
    return result


def format_source(root: Path, destination: Path, source: str) -> str:
    """Format ``source`` with ruff, using the project's configuration for ``destination``."""
    command = [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(destination), "-"]
    try:
        completed = subprocess.run(
            command, input=source, capture_output=True, text=True, cwd=root, check=False
        )
    except OSError as exc:
        raise ExtractError(f"{destination}: cannot run ruff format: {exc}") from exc
    if completed.returncode != 0:
        raise ExtractError(
            f"{destination}: ruff format failed: {completed.stderr.strip() or completed.stdout}"
        )
    return completed.stdout


def _header(notebook: Path, ids: tuple[str, ...]) -> str:
    lines = [f"# GENERATED by nbship from {notebook.as_posix()} (cells: "]
    for index, cell_id in enumerate(ids):
        piece = cell_id + (", " if index < len(ids) - 1 else ")")
        if len(lines[-1]) + len(piece.rstrip()) > HEADER_WIDTH:
            lines[-1] = lines[-1].rstrip()
            lines.append("#   ")
        lines[-1] += piece
    lines.append("# - do not edit; change the notebook and run `invoke nb.extract`.")
    return "\n".join(lines) + "\n\n"


def _check_cells(notebook: Path, nb: NotebookNode, cells: list[tuple[int, NotebookNode]]) -> None:
    """Refuse magics, syntax errors and names the module would not define."""
    analysed = []
    for index, cell in cells:
        label = f"{notebook} {cell_label(cell, index)}"
        python, uses_magic = to_python(cell.source)
        found = magic_line(cell.source)
        if uses_magic or found:
            shown = f" at line {found[0]}: {found[1]!r}" if found else ""
            raise ExtractError(
                f"{label}: exported cell uses an IPython magic or shell escape{shown}"
            )
        try:
            names = analyse(python)
        except SyntaxError as exc:
            raise ExtractError(f"{label}: syntax error at line {exc.lineno}: {exc.msg}") from exc
        analysed.append((index, cell, label, names))
    exported = {name for *_, names in analysed for name in names.defined}
    elsewhere = _defined_outside(nb, {index for index, _ in cells})
    for _index, _cell, label, names in analysed:
        for name in sorted(names.used - exported - BUILTIN_NAMES):
            if name in elsewhere:
                raise ExtractError(
                    f"{label}: name {name!r} is defined only in non-exported "
                    f"{elsewhere[name]}; tag that cell '{EXPORT_TAG}' or define it here"
                )
            raise ExtractError(f"{label}: name {name!r} is not defined by any exported cell")


def _defined_outside(nb: NotebookNode, exported: set[int]) -> dict[str, str]:
    where: dict[str, str] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or index in exported:
            continue
        try:
            names = analyse(to_python(cell.source)[0])
        except SyntaxError:
            continue
        for name in names.defined:
            where.setdefault(name, cell_label(cell, index))
    return where


def _check_module_name(module: str, where: str) -> None:
    if not module.isidentifier():
        raise ExtractError(f"{where}: module name {module!r} is not a Python identifier")


def _check_unique(modules: list[GeneratedModule]) -> None:
    seen: dict[Path, Path] = {}
    for module in modules:
        if module.path in seen:
            raise ExtractError(
                f"{module.path}: generated from both {seen[module.path]} and {module.notebook}"
            )
        seen[module.path] = module.notebook


def _diff(path: Path, current: str | None, wanted: str) -> str:
    return "".join(
        difflib.unified_diff(
            (current or "").splitlines(keepends=True),
            wanted.splitlines(keepends=True),
            fromfile="/dev/null" if current is None else f"{path} (committed)",
            tofile=f"{path} (from notebook)",
        )
    )
