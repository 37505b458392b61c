"""Audit notebooks for reproducibility: static checks on the saved file, then fresh re-execution.

Verdicts follow the published studies of notebook reproducibility (Pimentel et al., MSR 2019):
a notebook *fails* when a fresh top-to-bottom run raises, *runs but differs* when it completes but
does not reproduce its saved outputs (or two fresh runs disagree), is *reproducible* when it
reproduces them, and is *not executed* when it was not (or could not be) run, or was saved
without any outputs to reproduce.
"""

from __future__ import annotations

import ast
import copy
import gc
import importlib.metadata
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from nbformat import NotebookNode
from packaging.utils import canonicalize_name

from nbship.locks import pins
from nbship.notebooks.extract import ExportTarget, ExtractError, export_module_of, load_exports
from nbship.notebooks.names import (
    BUILTIN_NAMES,
    PYTHON2_BUILTINS,
    CellNames,
    analyse,
    evident_names,
    is_ipython_name,
    parse_cell,
)
from nbship.notebooks.reading import NotebookError, is_python2, kernel_language, read_notebook

Severity = Literal["error", "warning", "info"]
REPRODUCIBLE = "reproducible"
DIFFERS = "runs but differs"
FAILS = "fails"
NOT_EXECUTED = "not executed"
VERDICTS = (REPRODUCIBLE, DIFFERS, FAILS, NOT_EXECUTED)
DEFAULT_TIMEOUT = 60
DEFAULT_RUNS = 2
INTERNAL_ERROR = "internal-error"  # the check name of a bug in the audit itself
_SHOWN = 10  # numbers listed in a message before "(+N more)"

_ABSOLUTE_PATH = re.compile(
    r"^(?:/(?:home|Users|root|tmp|mnt|media|data|opt|srv|var|etc|usr|work|workspace)/"
    r"|[A-Za-z]:[\\/][\w.-]|~[\\/]|file://)"
)
_SECRET_NAME = re.compile(
    r"(?i)(passw(or)?d|secret|token|api_?key|access_?key|private_?key|credential)"
)
_SECRET_VALUE = re.compile(
    r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_\w{20,}|xox[abprs]-[\w-]{10,}|sk-[A-Za-z0-9_-]{20,}|://[^/\s:@]+:[^/\s@]+@"
)
# Cheap pre-filter, searched in the lower-cased cell: a cell matching none of these cannot
# trigger the two checks above. Every alternative starts with a fixed character, which lets the
# regex engine skip ahead; ignoring case or starting with a letter class (the drive letter of
# "C:/") made it try every position, and the pre-filter then cost as much as it saved.
_MAYBE_SENSITIVE = re.compile(
    r"passw|secret|token|api_?key|access_?key|private|credential|akia|gh[pousr]_|github_pat"
    r"|xox|sk-|:[\\/]|~[\\/]"
    r"|/(?:home|users|root|tmp|mnt|media|data|opt|srv|var|etc|usr|work|workspace)/"
)
# Shared first-party packages every service image installs alongside its own.
_FIRST_PARTY = frozenset({"nbship_common"})
_PYTHON2 = re.compile(r"^\s*(print\s+[^\s(=]|exec\s+[\"'])|except\s+[\w.]+\s*,\s*\w+\s*:", re.M)
# Output noise that legitimately changes between runs; each pattern is replaced by a placeholder.
_NOISE = [
    (re.compile(r"0x[0-9a-fA-F]{4,}"), "0x…"),
    (re.compile(r"datetime\.datetime\([\d, ]+(, tzinfo=[^)]*\))?\)"), "<datetime>"),
    (
        re.compile(
            r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}|\+00:00)?"
        ),
        "<datetime>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(\.\d+)?\b"), "<time>"),
    (re.compile(r"\b\d+(\.\d+)?\s?(ns|µs|us|ms|s|sec|secs|seconds|min|minutes)\b"), "<duration>"),
    (re.compile(r"[\d,]+ loops? each"), "N loops each"),
    (re.compile(r"/tmp/ipykernel_\d+/\d+\.py"), "<cell>"),
    (re.compile(r"\x1b\[[0-9;]*m"), ""),
]


@dataclass
class Finding:
    """One problem found in a notebook; ``cell`` is the position in the notebook, from 0."""

    check: str
    message: str
    severity: Severity = "warning"
    cell: int | None = None
    cell_id: str | None = None


@dataclass
class CellPoint:
    """A code cell's place in the document and its saved execution count (None: never run)."""

    cell: int
    execution_count: int | None


@dataclass
class HiddenEdge:
    """Cell ``use`` reads ``name`` that only the later cell ``definition`` defines."""

    use: int
    definition: int
    name: str


@dataclass
class NotebookAudit:
    """Everything the audit learned about one notebook."""

    path: str
    feeds_service: bool = False
    language: str = "python"
    points: list[CellPoint] = field(default_factory=list)
    hidden_edges: list[HiddenEdge] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    out_of_order: bool = False
    readable: bool = True
    executed: bool = False
    runs_without_error: bool | None = None
    reproduces_outputs: bool | None = None
    deterministic: bool | None = None
    error: Finding | None = None
    verdict: str = NOT_EXECUTED
    seconds: float = 0.0

    def count(self, severity: Severity) -> int:
        """How many findings of ``severity`` this notebook has."""
        return sum(1 for finding in self.findings if finding.severity == severity)


@dataclass
class AuditReport:
    """The audit of a set of notebooks, with the summary the studies report."""

    notebooks: list[NotebookAudit]
    executed: bool

    def summary(self) -> dict[str, Any]:
        """Shares that run without error, reproduce their own outputs, have out-of-order cells."""
        readable = [nb for nb in self.notebooks if nb.readable]
        ran = [nb for nb in self.notebooks if nb.executed]
        return {
            "notebooks": len(self.notebooks),
            "readable": len(readable),
            "executed": len(ran),
            "runs_without_error": _share(sum(bool(nb.runs_without_error) for nb in ran), len(ran)),
            "reproduces_own_outputs": _share(
                sum(nb.verdict == REPRODUCIBLE for nb in ran), len(ran)
            ),
            "out_of_order_cells": _share(sum(nb.out_of_order for nb in readable), len(readable)),
            "verdicts": {verdict: _count_verdict(self.notebooks, verdict) for verdict in VERDICTS},
        }

    def blocking(self) -> list[NotebookAudit]:
        """Notebooks that feed a service and are not shown reproducible: they fail the task.

        When notebooks were executed the verdict decides; with execution skipped, error-level
        static findings (hidden state, out-of-order counts, undefined names, ...) do.
        """
        if self.executed:
            return [nb for nb in self.notebooks if nb.feeds_service and nb.verdict != REPRODUCIBLE]
        return [nb for nb in self.notebooks if nb.feeds_service and nb.count("error")]


@dataclass
class _Run:
    outputs: dict[int, list[str]]
    error: Finding | None
    started: bool = True


def find_notebooks(path: Path) -> list[Path]:
    """The notebooks at ``path``: the file itself, or every ``*.ipynb`` under a folder, sorted."""
    if path.is_dir():
        return sorted(
            found for found in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in found.parts
        )
    if path.exists():
        return [path]
    raise FileNotFoundError(f"{path}: no such notebook or folder")


def audit(
    paths: Iterable[Path],
    root: Path,
    execute: bool = True,
    timeout: int = DEFAULT_TIMEOUT,
    runs: int = DEFAULT_RUNS,
) -> AuditReport:
    """Audit every notebook under ``paths``; ``root`` is the repository (for exports.toml)."""
    feeding = _feeding_notebooks(root)
    notebooks = [path for given in paths for path in find_notebooks(given)]
    audits = []
    for path in notebooks:
        target = feeding.get(path.resolve())
        display = _display_path(path, root)
        try:
            result = audit_notebook(
                path,
                feeds_service=target is not None,
                execute=execute,
                timeout=timeout,
                runs=runs,
                display=display,
                export=(target, root) if target is not None else None,
            )
        except Exception as exc:  # a bug in the audit must not hide the other notebooks' reports
            result = NotebookAudit(path=display, feeds_service=target is not None, readable=False)
            message = f"{display}: the audit itself failed ({type(exc).__name__}: {exc})"
            result.findings.append(Finding(INTERNAL_ERROR, message, "error"))
        audits.append(result)
    return AuditReport(audits, executed=execute)


def audit_notebook(
    path: Path,
    feeds_service: bool = False,
    execute: bool = True,
    timeout: int = DEFAULT_TIMEOUT,
    runs: int = DEFAULT_RUNS,
    display: str | None = None,
    export: tuple[ExportTarget, Path] | None = None,
) -> NotebookAudit:
    """Audit one notebook: static checks, then (with ``execute``) fresh runs compared.

    ``export`` is the notebook's entry in exports.toml and the repository root, when it feeds a
    service: its exported imports are then checked against the service's lock file.
    """
    started = time.perf_counter()
    result = NotebookAudit(path=display or str(path), feeds_service=feeds_service)
    nb = _audit_saved(path, result, export, keep=execute)
    if not result.readable:
        return result
    if nb is not None:
        _dynamic_checks(nb, path, result, timeout=timeout, runs=runs)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _audit_saved(
    path: Path,
    result: NotebookAudit,
    export: tuple[ExportTarget, Path] | None,
    keep: bool,
) -> NotebookNode | None:
    """Read ``path`` and run the static checks; return the notebook only when ``keep``.

    The cycle collector is paused meanwhile: the checks allocate many small objects (JSON,
    trees, pyflakes bindings) that reference counting frees anyway, and letting the collector
    scan them as they pile up took a tenth of a static audit. It resumes once the notebook is
    dropped, so that it does not scan the whole notebook then either.
    """
    collecting = gc.isenabled()
    gc.disable()
    nb: NotebookNode | None = None
    try:
        nb = read_notebook(path)
        static_checks(nb, result)
        if export is not None and result.language == "python":
            _check_locked_imports(nb, export[0], export[1], result)
        return nb if keep else None
    except NotebookError as exc:
        result.readable = False
        result.findings.append(Finding("malformed", str(exc), "error"))
        return None
    finally:
        nb = None
        if collecting:
            gc.enable()


def static_checks(nb: NotebookNode, result: NotebookAudit) -> None:
    """Fill ``result`` with what the saved notebook shows, without running anything."""
    result.language = kernel_language(nb)
    code = [(index, cell) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    for _, cell in code:
        count = cell.get("execution_count")
        if not isinstance(count, int) or isinstance(count, bool):
            cell["execution_count"] = None  # tolerate hand-edited files ("3", 2.0, true)
    result.points = [CellPoint(index, cell.get("execution_count")) for index, cell in code]
    if not code:
        result.findings.append(Finding("empty", "notebook has no code cells", "info"))
    _check_execution_counts(code, result)
    if result.language != "python":
        result.findings.append(
            Finding(
                "kernel",
                f"non-Python kernel ({result.language}): execution order checked; "
                "name checks and execution skipped",
                "info",
            )
        )
        return
    python2 = is_python2(nb)
    cells: list[tuple[int, NotebookNode, CellNames]] = []
    for index, cell in code:
        parsed = _parse_cell(index, cell, python2, result)
        if parsed is not None:
            tree, names = parsed
            cells.append((index, cell, names))
            if tree is not None:
                _check_strings(index, cell, tree, result)
    _check_names(cells, result, extra_known=PYTHON2_BUILTINS if python2 else frozenset())


def _cell_id(cell: NotebookNode) -> str | None:
    """The cell's id when it has a usable one (cells have ids only since nbformat 4.5)."""
    cell_id = cell.get("id")
    return cell_id if isinstance(cell_id, str) and cell_id else None


def _check_execution_counts(code: list[tuple[int, NotebookNode]], result: NotebookAudit) -> None:
    executed = [(i, cell) for i, cell in code if cell.get("execution_count") is not None]
    if not executed:
        if any(cell.source.strip() for _, cell in code):
            result.findings.append(
                Finding("never-executed", "saved without any executed code cell", "info")
            )
        return
    highest = 0
    seen: set[int] = set()
    for index, cell in executed:
        count = cell.execution_count
        if count <= highest:
            result.out_of_order = True
            if count in seen:
                message = f"execution count {count} repeats an earlier cell's: run out of order"
            else:
                message = f"execution count {count} comes after {highest}: run out of order"
            result.findings.append(Finding("out-of-order", message, "error", index, _cell_id(cell)))
        highest = max(highest, count)
        seen.add(count)
    counts = [cell.execution_count for _, cell in executed]
    repeated = sorted(count for count, times in Counter(counts).items() if times > 1)
    if repeated:
        result.findings.append(
            Finding("repeated-count", f"execution counts repeated: {_list(repeated)}", "error")
        )
    # Counts below 1 (hand edits) cannot be "skipped"; a huge count must not build a huge range.
    missing_count = max(counts) - len({count for count in counts if count >= 1})
    if max(counts) >= 1 and missing_count > 0:
        present = set(counts)
        missing = list(islice((n for n in range(1, max(counts) + 1) if n not in present), _SHOWN))
        shown = _list(missing) + (
            f" (+{missing_count - _SHOWN} more)" if missing_count > _SHOWN else ""
        )
        result.findings.append(
            Finding(
                "skipped-count",
                f"execution count{'s' if missing_count > 1 else ''} {shown} "
                f"{'are' if missing_count > 1 else 'is'} missing: cells were re-run or deleted "
                "after running, so saved outputs may depend on code that is no longer there",
            )
        )
    first, last = executed[0][0], executed[-1][0]
    for index, cell in code:
        if first < index < last and cell.get("execution_count") is None and cell.source.strip():
            result.findings.append(
                Finding(
                    "unexecuted-cell",
                    "code cell never executed, between executed cells",
                    "warning",
                    index,
                    _cell_id(cell),
                )
            )


def _parse_cell(
    index: int, cell: NotebookNode, python2: bool, result: NotebookAudit
) -> tuple[ast.Module | None, CellNames] | None:
    """The cell's tree and names; an unparsable cell gives no tree and the names it evidently binds.

    An unparsable cell is one warning, not an error: the kernel it was written for (Python 2, an
    unknown magic) may well have run it, and its evident bindings still count for later cells.
    """
    source, uses_magic, tree = parse_cell(cell.source)
    if uses_magic:
        result.findings.append(
            Finding("magic", "uses IPython magics or shell escapes", "info", index, _cell_id(cell))
        )
    try:
        if tree is None:
            tree = ast.parse(source)  # raises the SyntaxError to report
        return tree, analyse(source, tree)
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes in source
        line = getattr(exc, "lineno", None)
        hint = " (looks like Python 2)" if python2 or _PYTHON2.search(cell.source) else ""
        message = f"does not parse as Python 3{hint}: {getattr(exc, 'msg', exc)}" + (
            f" at line {line}" if line else ""
        )
    except (RecursionError, MemoryError):
        message = "too deeply nested to analyse"
    result.findings.append(
        Finding(
            "syntax",
            message + "; names it evidently binds still count",
            "warning",
            index,
            _cell_id(cell),
        )
    )
    return None, evident_names(source)


def _check_names(
    cells: list[tuple[int, NotebookNode, CellNames]],
    result: NotebookAudit,
    extra_known: frozenset[str] = frozenset(),
) -> None:
    """Report reads that no earlier cell satisfies: hidden state, or undefined names.

    After a cell that may bind unlisted names (``import *``, ``%run``, ``%pylab``) nothing is
    reported as undefined: the name may well come from there.
    """
    known = BUILTIN_NAMES | extra_known
    everywhere = {name for *_, names in cells for name in names.defined}
    star_cells = [index for index, _, names in cells if names.star]
    seen: set[str] = set()
    star_seen = False
    for position, (index, cell, names) in enumerate(cells):
        later_cells = cells[position + 1 :]
        for name in sorted(names.immediate - seen - known):
            if is_ipython_name(name) or star_seen:
                continue
            later = next((i for i, _, n in later_cells if name in n.defined), None)
            if later is not None:
                result.hidden_edges.append(HiddenEdge(index, later, name))
                message = f"uses {name!r}, defined only in a later cell ({later}): hidden state"
                result.findings.append(
                    Finding("hidden-state", message, "error", index, _cell_id(cell))
                )
            elif any(star > index for star in star_cells):
                star = next(star for star in star_cells if star > index)
                message = (
                    f"uses {name!r}, which no earlier cell defines; the later cell {star} "
                    "imports unlisted names (import *, %run): hidden state if it comes from there"
                )
                result.findings.append(
                    Finding("hidden-state", message, "warning", index, _cell_id(cell))
                )
            else:
                message = f"uses {name!r}, which no cell defines"
                result.findings.append(
                    Finding("undefined-name", message, "error", index, _cell_id(cell))
                )
        if not star_cells:
            for name in sorted(names.deferred - everywhere - known):
                if is_ipython_name(name):
                    continue
                message = f"function body uses {name!r}, which no cell defines"
                result.findings.append(
                    Finding("undefined-name", message, "warning", index, _cell_id(cell))
                )
        seen = (seen | names.defined) - names.deleted
        star_seen = star_seen or names.star
    if star_cells:
        result.findings.append(
            Finding(
                "star-import",
                f"cell {star_cells[0]} imports unlisted names (import *, %run, %pylab): "
                "no undefined-name findings after it",
                "info",
            )
        )


def _check_strings(index: int, cell: NotebookNode, tree: ast.Module, result: NotebookAudit) -> None:
    if not _MAYBE_SENSITIVE.search(cell.source.lower()):
        return  # walking every string of every cell is the slowest part of a static audit
    cell_id = _cell_id(cell)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _ABSOLUTE_PATH.match(node.value):
                result.findings.append(
                    Finding(
                        "absolute-path",
                        f"absolute path {_shorten(node.value)!r} ties the notebook to one machine",
                        "warning",
                        index,
                        cell_id,
                    )
                )
            if _SECRET_VALUE.search(node.value):
                result.findings.append(
                    Finding(
                        "credential",
                        f"string looks like a credential ({_redact(node.value)})",
                        "error",
                        index,
                        cell_id,
                    )
                )
        for name, value in _named_values(node):
            literal = value.value if isinstance(value, ast.Constant) else None
            if _SECRET_NAME.search(name) and isinstance(literal, str) and literal.strip():
                result.findings.append(
                    Finding(
                        "credential",
                        f"{name!r} is set to a literal ({_redact(literal)}); "
                        "read it from the environment instead",
                        "error",
                        index,
                        cell_id,
                    )
                )


def _named_values(node: ast.AST) -> Iterable[tuple[str, ast.AST]]:
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Name):
                yield target.id, node.value
            elif isinstance(target, ast.Attribute):
                yield target.attr, node.value
    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
        yield node.target.id, node.value
    elif isinstance(node, ast.keyword) and node.arg:
        yield node.arg, node.value
    elif isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                yield key.value, value


def _dynamic_checks(
    nb: NotebookNode, path: Path, result: NotebookAudit, timeout: int, runs: int
) -> None:
    if result.language != "python":
        return
    if not any(cell.source.strip() for cell in nb.cells if cell.cell_type == "code"):
        return
    first = execute_notebook(nb, path, timeout)
    if not first.started:
        result.findings.append(first.error or Finding("kernel", "kernel did not start", "error"))
        return
    result.executed = True
    result.runs_without_error = first.error is None
    result.error = first.error
    if first.error is not None:
        result.findings.append(first.error)
    saved = {
        index: normalise_outputs(cell.get("outputs", []))
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and cell.get("execution_count") is not None
    }
    # The cell that raised obviously differs; it is reported as the error instead.
    raised = first.error.cell if first.error is not None else None
    differing = [index for index in sorted(first.outputs) if index in saved and index != raised]
    differing = [index for index in differing if first.outputs[index] != saved[index]]
    for index in differing:
        result.findings.append(
            Finding(
                "output-differs",
                "fresh run output differs from the saved output",
                "error",
                index,
                _cell_id(nb.cells[index]),
            )
        )
    result.reproduces_outputs = bool(saved) and not differing
    for _ in range(runs - 1):
        again = execute_notebook(nb, path, timeout)
        unstable = [
            index
            for index in sorted(set(first.outputs) & set(again.outputs))
            if first.outputs[index] != again.outputs[index]
        ]
        result.deterministic = not unstable
        for index in unstable:
            result.findings.append(
                Finding(
                    "nondeterministic",
                    "output changes between two fresh runs",
                    "error",
                    index,
                    _cell_id(nb.cells[index]),
                )
            )
        if unstable:
            break
    if first.error is not None:
        result.verdict = FAILS
    elif not saved:
        result.verdict = NOT_EXECUTED
        result.findings.append(
            Finding("nothing-saved", "runs, but was saved without outputs to reproduce", "warning")
        )
    elif differing or result.deterministic is False:
        result.verdict = DIFFERS
    else:
        result.verdict = REPRODUCIBLE


def execute_notebook(nb: NotebookNode, path: Path, timeout: int = DEFAULT_TIMEOUT) -> _Run:
    """Run a copy of ``nb`` top to bottom in a fresh python3 kernel, in the notebook's folder."""
    # Imported here so that static audits do not pay for importing the Jupyter client stack.
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from traitlets.config import Config

    work = copy.deepcopy(nb)
    for cell in work.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    # IPC sockets in a private temporary folder: no TCP ports opened on the machine (and no
    # "running over TCP without encryption" warning on every run).
    ipc_dir = tempfile.mkdtemp(prefix="nbship-kernel-")
    transport = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(ipc_dir, "k")}})
    client = NotebookClient(
        work,
        config=transport,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    current: list[int] = []
    client.on_cell_start = lambda cell, cell_index: current.append(cell_index)
    error: Finding | None = None
    try:
        client.execute()
    except CellTimeoutError:
        error = _run_error(work, current, "timeout", f"cell did not finish within {timeout}s")
    except CellExecutionError as exc:
        error = _run_error(work, current, "error", f"{exc.ename}: {exc.evalue}")
    except DeadKernelError as exc:
        error = _run_error(work, current, "dead-kernel", f"kernel died: {exc}")
    except Exception as exc:  # the kernel could not start: report, do not crash the audit
        if not current:
            message = f"could not start a python3 kernel: {type(exc).__name__}: {exc}"
            return _Run({}, Finding("kernel", message, "error"), started=False)
        error = _run_error(work, current, "error", f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(ipc_dir, ignore_errors=True)
    outputs = {
        index: normalise_outputs(work.cells[index].get("outputs", []))
        for index in current
        if work.cells[index].cell_type == "code"
    }
    return _Run(outputs, error)


def normalise_outputs(outputs: list[Any]) -> list[str]:
    """Comparable text of a cell's outputs, with run-to-run noise (addresses, times) masked."""
    parts: list[str] = []
    last_stream: str | None = None
    for output in outputs:
        if not isinstance(output, dict):
            continue
        kind = output.get("output_type")
        if kind == "stream":
            text = output.get("text", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            if last_stream == output.get("name") and parts:
                parts[-1] += text  # the split of a stream into outputs depends on timing
            else:
                parts.append(text)
            last_stream = output.get("name")
            continue
        last_stream = None
        if kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            text = data.get("text/plain")
            if text is None:
                text = "\n".join(f"{mime}: {data[mime]}" for mime in sorted(data))
            parts.append("".join(text) if isinstance(text, list) else str(text))
        elif kind == "error":
            parts.append(f"{output.get('ename')}: {output.get('evalue')}")
    return [_scrub(part) for part in parts]


def _run_error(nb: NotebookNode, current: list[int], check: str, message: str) -> Finding:
    index = current[-1] if current else None
    cell_id = _cell_id(nb.cells[index]) if index is not None else None
    return Finding(check, f"fresh run stopped: {message}", "error", index, cell_id)


def _scrub(text: str) -> str:
    for pattern, replacement in _NOISE:
        text = pattern.sub(replacement, text)
    return text


def _feeding_notebooks(root: Path) -> dict[Path, ExportTarget]:
    try:
        return {(root / target.notebook).resolve(): target for target in load_exports(root)}
    except ExtractError:
        return {}


def _check_locked_imports(
    nb: NotebookNode, target: ExportTarget, root: Path, result: NotebookAudit
) -> None:
    """Imports in exported cells must be stdlib, first-party, or in the service's lock file.

    The lock is ``requirements.lock`` next to the package; a shared package without one of its
    own (services/common) ships inside every service, so every service lock must cover it.
    """
    own = root / target.package.parent / "requirements.lock"
    locks = [own] if own.is_file() else sorted((root / "services").glob("*/requirements.lock"))
    if not locks:
        return
    first_party = {target.package.name, *_FIRST_PARTY}
    locked = {lock: {name for name, _ in pins(lock)} for lock in locks}
    for index, cell in enumerate(nb.cells):
        if export_module_of(cell, target.module) is None:
            continue
        try:
            tree = ast.parse(parse_cell(cell.source)[0])
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # already reported as a syntax finding
        for module in sorted(_imported_modules(tree) - first_party - sys.stdlib_module_names):
            wanted = _distributions_for(module)
            for lock, names in locked.items():
                if not wanted & names:
                    where = lock.relative_to(root).as_posix() if lock.is_relative_to(root) else lock
                    result.findings.append(
                        Finding(
                            "unlocked-import",
                            f"exported code imports {module!r}, not covered by {where}",
                            "error",
                            index,
                            _cell_id(cell),
                        )
                    )


def _imported_modules(tree: ast.Module) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module.split(".")[0])
    return modules


def _distributions_for(module: str) -> set[str]:
    """Distribution names that provide import name ``module`` (yaml -> pyyaml), canonical."""
    provided = _packages_distributions().get(module, [])
    return {canonicalize_name(name) for name in provided} | {canonicalize_name(module)}


@lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def _display_path(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _share(part: int, whole: int) -> dict[str, Any]:
    return {"count": part, "of": whole, "share": round(part / whole, 3) if whole else None}


def _count_verdict(notebooks: list[NotebookAudit], verdict: str) -> int:
    return sum(nb.verdict == verdict for nb in notebooks)


def _list(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(number) for number in numbers[:limit])
    return shown + (f" (+{len(numbers) - limit} more)" if len(numbers) > limit else "")


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _redact(text: str) -> str:
    return f"{text[:3]}… ({len(text)} characters)" if len(text) > 6 else "short literal"
