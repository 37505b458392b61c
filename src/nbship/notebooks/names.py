"""Which global names a notebook cell defines and which it reads, found with ``symtable``/``ast``.

Python's own symbol table does the scoping (comprehensions, lambdas, ``global``, class bodies), so
names local to a function never count as uses. Reads are split in two: *immediate* reads happen
when the cell runs (module level, class bodies, comprehensions), *deferred* reads happen later,
when a function defined in the cell is called, so only immediate reads depend on cell order.
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable
from dataclasses import dataclass
from functools import lru_cache

# Names an IPython kernel puts in the user namespace before any cell runs.
IPYTHON_NAMES = frozenset(
    {"get_ipython", "display", "In", "Out", "exit", "quit", "_", "__", "___"}
    | {"_i", "_ii", "_iii", "_ih", "_oh", "_dh"}
)
MODULE_NAMES = frozenset({"__name__", "__doc__", "__file__", "__builtins__", "__spec__"})
BUILTIN_NAMES = frozenset(dir(builtins)) | MODULE_NAMES

_COMPREHENSIONS = frozenset({"listcomp", "setcomp", "dictcomp", "genexpr"})
_MAGIC_LINE = re.compile(r"^\s*(%%?\w|!)|=\s*[!%]\w|\?\s*$")


@dataclass(frozen=True)
class CellNames:
    """Global names a cell binds and reads."""

    defined: frozenset[str]
    immediate: frozenset[str]
    deferred: frozenset[str]

    @property
    def used(self) -> frozenset[str]:
        """Every global name the cell reads, now or later."""
        return self.immediate | self.deferred


def magic_line(source: str) -> tuple[int, str] | None:
    """Return (1-based line number, line) of the first IPython magic or shell escape, if any.

    Only meaningful for a cell that does not parse as Python: in valid Python these characters
    cannot start a statement.
    """
    for number, line in enumerate(source.splitlines(), start=1):
        if _MAGIC_LINE.search(line):
            return number, line.strip()
    return None


@lru_cache(maxsize=1)
def _transformer() -> object:
    # IPython is imported lazily: it is slow to import and only needed for cells with magics.
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def to_python(source: str) -> tuple[str, bool]:
    """Return (Python source, uses_magic): magics become ``get_ipython()`` calls as in a kernel."""
    python, uses_magic, _ = parse_cell(source)
    return python, uses_magic


def parse_cell(source: str) -> tuple[str, bool, ast.Module | None]:
    """Return (Python source, uses_magic, tree); tree is None when the source does not parse."""
    try:
        return source, False, ast.parse(source)
    except SyntaxError:
        pass
    except ValueError:  # null bytes
        return source, False, None
    transformed: str = _transformer().transform_cell(source)  # type: ignore[attr-defined]
    uses_magic = transformed != source and "get_ipython()" in transformed
    try:
        return transformed, uses_magic, ast.parse(transformed)
    except (SyntaxError, ValueError):
        return transformed, uses_magic, None


def analyse(source: str, tree: ast.Module | None = None) -> CellNames:
    """Find the global names ``source`` binds and reads; raises SyntaxError if it does not parse.

    Pass ``tree`` when the caller has already parsed ``source``.
    """
    if tree is None:
        tree = ast.parse(source)
    table = symtable.symtable(source, "<cell>", "exec")
    defined: set[str] = set()
    read_here: set[str] = set()
    immediate: set[str] = set()
    deferred: set[str] = set()
    for symbol in table.get_symbols():
        if symbol.is_assigned() or symbol.is_imported():
            defined.add(symbol.get_name())
        if symbol.is_referenced():
            read_here.add(symbol.get_name())
    for child in table.get_children():
        _collect_nested(child, runs_now=_runs_now(child), out=(immediate, deferred, defined))
    # Names the cell binds itself are mostly bound before they are read (loop variables read in a
    # comprehension, helpers called later in the cell), except for simple statements that read a
    # name before any earlier statement binds it (x = x + 1): that is an input from another cell.
    immediate = (immediate | read_here) - defined
    if read_here & defined:
        immediate |= read_here & defined & _read_before_bound(tree)
    deferred -= defined | immediate
    return CellNames(frozenset(defined), frozenset(immediate), frozenset(deferred))


def _runs_now(table: symtable.SymbolTable) -> bool:
    return table.get_type() == "class" or table.get_name() in _COMPREHENSIONS


def _collect_nested(
    table: symtable.SymbolTable,
    runs_now: bool,
    out: tuple[set[str], set[str], set[str]],
) -> None:
    immediate, deferred, defined = out
    for symbol in table.get_symbols():
        if not symbol.is_global():
            continue
        if symbol.is_declared_global() and symbol.is_assigned():
            defined.add(symbol.get_name())
        if symbol.is_referenced():
            (immediate if runs_now else deferred).add(symbol.get_name())
    for child in table.get_children():
        _collect_nested(child, runs_now=runs_now and _runs_now(child), out=out)


def _read_before_bound(tree: ast.Module) -> set[str]:
    """Names a simple top-level statement reads before any earlier statement of the cell binds them.

    Compound statements (for, with, if, def, ...) only contribute bindings: deciding whether their
    reads come first would need flow analysis, and guessing wrong would report false hidden state.
    """
    bound: set[str] = set()
    early: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.Expr):
            value = getattr(statement, "value", None)
            reads = _loads(value) if value is not None else set()
            if isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
                reads.add(statement.target.id)
            early |= reads - bound
        bound |= _stores(statement)
    return early


def _loads(node: ast.AST) -> set[str]:
    names: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Lambda):
            continue  # read when called, not now
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Load):
            names.add(current.id)
        stack.extend(ast.iter_child_nodes(current))
    return names


def _stores(statement: ast.stmt) -> set[str]:
    names: set[str] = set()
    stack: list[ast.AST] = [statement]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(current.name)
            continue
        if isinstance(current, ast.Lambda):
            continue
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Store | ast.Del):
            names.add(current.id)
        elif isinstance(current, ast.alias):
            names.add((current.asname or current.name).split(".")[0])
        stack.extend(ast.iter_child_nodes(current))
    return names
