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
from pathlib import Path
from typing import Any, Literal

from nbformat import NotebookNode

from nbship.notebooks.extract import ExportTarget, ExtractError, export_module_of, load_exports
from nbship.notebooks.names import BUILTIN_NAMES, IPYTHON_NAMES, CellNames, analyse, parse_cell
from nbship.notebooks.reading import NotebookError, kernel_language, read_notebook

Severity = Literal["error", "warning", "info"]
REPRODUCIBLE = "reproducible"
DIFFERS = "runs but differs"
FAILS = "fails"
NOT_EXECUTED = "not executed"
VERDICTS = (REPRODUCIBLE, DIFFERS, FAILS, NOT_EXECUTED)
DEFAULT_TIMEOUT = 60
DEFAULT_RUNS = 2

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
# Cheap pre-filter: a cell matching none of these cannot trigger the two checks above.
_MAYBE_SENSITIVE = re.compile(
    r"(?i)passw|secret|token|api_?key|access_?key|private|credential|AKIA|gh[pousr]_|github_pat"
    r"|xox|sk-|://|/(home|Users|root|tmp|mnt|media|data|opt|srv|var|etc|usr|work|workspace)/"
    r"|[A-Za-z]:[\\/]|~[\\/]"
)
_LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==")
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
        result = audit_notebook(
            path,
            feeds_service=target is not None,
            execute=execute,
            timeout=timeout,
            runs=runs,
            display=_display_path(path, root),
            export=(target, root) if target is not None else None,
        )
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
    try:
        nb = read_notebook(path)
    except NotebookError as exc:
        result.readable = False
        result.findings.append(Finding("malformed", str(exc), "error"))
        return result
    static_checks(nb, result)
    if export is not None and result.language == "python":
        _check_locked_imports(nb, export[0], export[1], result)
    if execute:
        _dynamic_checks(nb, path, result, timeout=timeout, runs=runs)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def static_checks(nb: NotebookNode, result: NotebookAudit) -> None:
    """Fill ``result`` with what the saved notebook shows, without running anything."""
    result.language = kernel_language(nb)
    code = [(index, cell) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    for _, cell in code:
        if not isinstance(cell.get("execution_count"), int):
            cell["execution_count"] = None  # tolerate hand-edited files ("3", 2.0)
    result.points = [CellPoint(index, cell.get("execution_count")) for index, cell in code]
    if not code:
        result.findings.append(Finding("empty", "notebook has no code cells", "info"))
    _check_execution_counts(code, result)
    if result.language != "python":
        result.findings.append(
            Finding(
                "kernel",
                f"non-Python kernel ({result.language}): name checks and execution skipped",
                "warning",
            )
        )
        return
    python2 = str(nb.metadata.get("kernelspec", {}).get("name", "")).startswith("python2")
    cells: list[tuple[int, NotebookNode, CellNames]] = []
    for index, cell in code:
        parsed = _parse_cell(index, cell, python2, result)
        if parsed is not None:
            tree, names = parsed
            cells.append((index, cell, names))
            _check_strings(index, cell, tree, result)
    _check_names(cells, result)


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
            result.findings.append(Finding("out-of-order", message, "error", index, cell.get("id")))
        highest = max(highest, count)
        seen.add(count)
    counts = [cell.execution_count for _, cell in executed]
    repeated = sorted(count for count, times in Counter(counts).items() if times > 1)
    if repeated:
        result.findings.append(
            Finding("repeated-count", f"execution counts repeated: {_list(repeated)}", "error")
        )
    missing = sorted(set(range(1, max(counts) + 1)) - set(counts))
    if missing:
        result.findings.append(
            Finding(
                "skipped-count",
                f"execution count{'s' if len(missing) > 1 else ''} {_list(missing)} "
                f"{'are' if len(missing) > 1 else 'is'} missing: cells were re-run or deleted "
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
                    cell.get("id"),
                )
            )


def _parse_cell(
    index: int, cell: NotebookNode, python2: bool, result: NotebookAudit
) -> tuple[ast.Module, CellNames] | None:
    source, uses_magic, tree = parse_cell(cell.source)
    if uses_magic:
        result.findings.append(
            Finding("magic", "uses IPython magics or shell escapes", "info", index, cell.get("id"))
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
        result.findings.append(Finding("syntax", message, "error", index, cell.get("id")))
        return None


def _check_names(cells: list[tuple[int, NotebookNode, CellNames]], result: NotebookAudit) -> None:
    known = BUILTIN_NAMES | IPYTHON_NAMES
    everywhere = {name for *_, names in cells for name in names.defined}
    if "*" in everywhere:
        result.findings.append(
            Finding("star-import", "a cell uses `import *`: undefined-name checks skipped", "info")
        )
    seen: set[str] = set()
    for position, (index, cell, names) in enumerate(cells):
        for name in sorted(names.immediate - seen - known):
            later = next((i for i, _, n in cells[position + 1 :] if name in n.defined), None)
            if later is not None:
                result.hidden_edges.append(HiddenEdge(index, later, name))
                message = f"uses {name!r}, defined only in a later cell ({later}): hidden state"
                result.findings.append(Finding("hidden-state", message, "error", index, cell.id))
            elif "*" not in everywhere:
                message = f"uses {name!r}, which no cell defines"
                result.findings.append(Finding("undefined-name", message, "error", index, cell.id))
        if "*" not in everywhere:
            for name in sorted(names.deferred - everywhere - known):
                message = f"function body uses {name!r}, which no cell defines"
                result.findings.append(
                    Finding("undefined-name", message, "warning", index, cell.get("id"))
                )
        seen |= names.defined


def _check_strings(index: int, cell: NotebookNode, tree: ast.Module, result: NotebookAudit) -> None:
    if not _MAYBE_SENSITIVE.search(cell.source):
        return  # walking every string of every cell is the slowest part of a static audit
    cell_id = cell.get("id")
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
                nb.cells[index].get("id"),
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
                    nb.cells[index].get("id"),
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
    cell_id = nb.cells[index].get("id") if index is not None else None
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
    locked = {lock: _locked_names(lock) for lock in locks}
    for index, cell in enumerate(nb.cells):
        if export_module_of(cell, target.module) is None:
            continue
        try:
            tree = ast.parse(parse_cell(cell.source)[0])
        except (SyntaxError, ValueError):
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
                            cell.get("id"),
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


def _locked_names(lock: Path) -> set[str]:
    names = set()
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = _LOCK_LINE.match(line)
        if match:
            names.add(_canonical(match.group(1)))
    return names


def _distributions_for(module: str) -> set[str]:
    """Distribution names that provide import name ``module`` (yaml -> pyyaml), canonical."""
    provided = _packages_distributions().get(module, [])
    return {_canonical(name) for name in provided} | {_canonical(module)}


@lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


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
