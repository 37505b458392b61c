"""Which global names a notebook cell binds and which it reads, found with pyflakes.

pyflakes models Python's scopes and binding order (comprehensions, generators, lambdas, class
bodies, ``global``/``nonlocal``, ``del``, walrus, ``match`` captures, ``except ... as``, star
imports), so a name the cell binds before reading it never counts as an input. What this module
adds is the notebook's view: reads are split in two, *immediate* reads happen when the cell runs
(module level, class bodies, comprehensions), *deferred* reads happen later, when a function or
lambda defined in the cell is called, so only immediate reads depend on cell order. IPython magics
that run code in the user namespace (``%time``, ``%%capture``, ``%run``, ``%pylab``) are unfolded
first, so that their names count too.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# pyflakes ships no type information.
from pyflakes import messages  # type: ignore[import-untyped]
from pyflakes.checker import (  # type: ignore[import-untyped]
    Annotation,
    Builtin,
    Checker,
    FunctionScope,
)

# Names an IPython kernel puts in the user namespace before any cell runs (plus the numbered
# history variables matched by _IPYTHON_HISTORY: _3, _i3, ...).
IPYTHON_NAMES = frozenset(
    {"get_ipython", "display", "In", "Out", "exit", "quit", "_", "__", "___"}
    | {"_i", "_ii", "_iii", "_ih", "_oh", "_dh"}
)
_IPYTHON_HISTORY = re.compile(r"_i?\d+")
MODULE_NAMES = frozenset(
    {"__name__", "__doc__", "__file__", "__builtins__", "__spec__", "__annotations__"}
)
BUILTIN_NAMES = frozenset(dir(builtins)) | MODULE_NAMES
# Builtins that Python 2 had and Python 3 dropped: known names in a Python 2 notebook.
PYTHON2_BUILTINS = frozenset(
    {"xrange", "raw_input", "unicode", "basestring", "long", "unichr", "reduce", "file"}
    | {"execfile", "reload", "cmp", "apply", "buffer", "intern", "coerce"}
)

_DEF_OR_CLASS = re.compile(r"(?:async\s+def|def|class)\s+([A-Za-z_]\w*)")
_MAGIC_LINE = re.compile(r"^\s*(%%?\w|!)|=\s*[!%]\w|\?\s*$")
# Magics whose argument (line) or body (cell) is Python run in the user namespace.
_CODE_LINE_MAGICS = frozenset({"time", "timeit", "prun"})
_CODE_CELL_MAGICS = frozenset({"time", "timeit", "prun", "capture"})
# Magics that put names nobody can see statically into the namespace: treated as ``import *``.
_STAR_MAGICS = frozenset({"run", "pylab", "load", "store", "loadpy"})


def is_ipython_name(name: str) -> bool:
    """True for a name the IPython kernel defines (``display``, ``Out``, ``_3``, ``_i3``, ...)."""
    return name in IPYTHON_NAMES or _IPYTHON_HISTORY.fullmatch(name) is not None


@dataclass(frozen=True)
class CellNames:
    """Global names a cell binds, reads and deletes.

    ``immediate`` and ``deferred`` hold only reads the cell does not satisfy itself. ``star`` says
    the cell may bind names nobody can list (``from x import *``, ``%run``, ``%pylab``).
    """

    defined: frozenset[str]
    immediate: frozenset[str]
    deferred: frozenset[str]
    star: bool = False
    deleted: frozenset[str] = frozenset()

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
    except (ValueError, RecursionError, MemoryError):  # null bytes, absurd nesting
        return source, False, None
    try:
        transformed: str = _transformer().transform_cell(source)  # type: ignore[attr-defined]
    except Exception:  # IPython's transformers choke on some garbage; it is then not a cell
        return source, False, None
    uses_magic = transformed != source and "get_ipython()" in transformed
    try:
        return transformed, uses_magic, ast.parse(transformed)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return transformed, uses_magic, None


def analyse(source: str, tree: ast.Module | None = None) -> CellNames:
    """Find the global names ``source`` binds and reads; raises SyntaxError if it does not parse.

    Pass ``tree`` when the caller has already parsed ``source``. A cell too deeply nested for
    the analysis raises RecursionError.
    """
    if tree is None:
        tree = ast.parse(source)
    if "get_ipython" in source:
        # The unfolder rewrites nodes in place; the caller's tree stays as parsed. Parsing the
        # source again is several times cheaper than copying the tree.
        tree = _MagicUnfolder().visit(ast.parse(source))
        ast.fix_missing_locations(tree)
    checker = _CellChecker(tree, typing="typing" in source)
    try:
        return checker.names()
    finally:
        checker.release()


def evident_names(source: str) -> CellNames:
    """Names an unparsable cell evidently binds, statement by top-level statement.

    Catches imports, assignments, ``def``/``class``/``for``/``with`` statements in a cell that
    fails as a whole (Python 2 ``print x``, an unknown magic), so later cells do not report them
    as undefined: each top-level statement (a line and the indented lines under it) is tried on
    its own, then its first line alone, then a ``def``/``class`` header is read by its name.
    Reads of such a cell are unknown and never reported.
    """
    defined: set[str] = set()
    star = False
    for chunk in _top_level_chunks(source):
        first = chunk.split("\n", 1)[0].rstrip()
        names = _first_that_parses([chunk, first, first + " pass"])
        if names is not None:
            defined |= names.defined
            star = star or names.star
        elif match := _DEF_OR_CLASS.match(first):
            defined.add(match.group(1))
    return CellNames(frozenset(defined), frozenset(), frozenset(), star)


def _top_level_chunks(source: str) -> list[str]:
    chunks: list[list[str]] = []
    for line in source.splitlines():
        if line.strip() and not line[0].isspace():
            chunks.append([line])
        elif chunks:
            chunks[-1].append(line)
    return ["\n".join(chunk) for chunk in chunks]


def _first_that_parses(candidates: list[str]) -> CellNames | None:
    for candidate in candidates:
        try:
            return analyse(candidate)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return None


class _CellChecker(Checker):  # type: ignore[misc]  # pyflakes ships no type information
    """pyflakes' checker, noting for each undefined name whether it is read inside a function.

    Builtins are left out of its scope and filtered from its reports instead: binding ~160 of
    them for every cell was a third of the cost of a static audit.
    """

    # pyflakes asks on every node whether a ``__future__`` import may still come, only to
    # report late ones, which the audit does not read: a constant answer saves it the lookups.
    futuresAllowed = False

    @property
    def builtIns(self) -> frozenset[str]:  # pyflakes' name
        return frozenset()

    @builtIns.setter
    def builtIns(self, _value: object) -> None:
        pass  # pyflakes sets its own in __init__; this checker keeps none

    def __init__(self, tree: ast.Module, typing: bool = True) -> None:
        self._in_function: dict[int, bool] = {}
        self._deleted: set[str] = set()
        if not typing:
            # Without a typing import in the cell, pyflakes' typing lookups on every call all
            # answer no, and a call is then just its children: skip the lookups.
            self.CALL = self.handleChildren
        super().__init__(tree, filename="<cell>", withDoctest=False)

    def report(self, messageClass: Any, *args: Any, **kwargs: Any) -> None:
        """Keep only undefined names that are not builtins: the one message the audit reads.

        With no builtins in scope, every ``print`` or ``len`` comes here as undefined; making
        and storing a message for each, and for unused imports and the like, was wasted work.
        """
        if messageClass is not messages.UndefinedName or args[1] in BUILTIN_NAMES:
            return
        super().report(messageClass, *args, **kwargs)
        inside = any(isinstance(scope, FunctionScope) for scope in self.scopeStack)
        self._in_function[id(self.messages[-1])] = inside

    def handleNodeDelete(self, node: ast.AST) -> None:
        if len(self.scopeStack) == 1 and isinstance(node, ast.Name):
            self._deleted.add(node.id)
        super().handleNodeDelete(node)

    def NONLOCAL(self, node: ast.Nonlocal) -> None:
        # pyflakes treats nonlocal like global, binding the name at module level; a nonlocal
        # name lives in an enclosing function, so here it binds nothing the notebook sees.
        for name in node.names:
            binding = Annotation(name, node)
            binding.used = (self.scope, node)
            self.scope[name] = binding

    def release(self) -> None:
        """Break the checker's reference cycles, so that reference counting frees it at once.

        pyflakes caches bound methods on the checker and links scopes and bindings both ways,
        so every checker, with the whole tree it holds, was left to the cycle collector:
        hundreds of thousands of objects per 200 notebooks, a quarter of a static audit.
        """
        self._nodeHandlers.clear()
        self.__dict__.pop("CALL", None)
        for scope in self.deadScopes:
            scope.clear()
        self.deadScopes.clear()
        self.scopeStack.clear()

    def names(self) -> CellNames:
        module = self.deadScopes[-1]
        defined = {
            name
            for name, binding in module.items()
            if name.isidentifier() and not isinstance(binding, Builtin | Annotation)
        }
        immediate: set[str] = set()
        deferred: set[str] = set()
        for message in self.messages:  # only non-builtin undefined names: see report()
            name = message.message_args[0]
            (deferred if self._in_function[id(message)] else immediate).add(name)
        return CellNames(
            defined=frozenset(defined),
            immediate=frozenset(immediate),
            deferred=frozenset(deferred - immediate),
            star=bool(module.importStarred),
            deleted=frozenset(self._deleted - defined),
        )


class _MagicUnfolder(ast.NodeTransformer):
    """Replace ``get_ipython()`` magic calls by the Python they run in the user namespace."""

    def visit_Expr(self, node: ast.Expr) -> Any:
        call = _magic_call(node.value)
        if call is None:
            return self.generic_visit(node)
        method, name, args = call
        if name in _STAR_MAGICS and method == "run_line_magic":
            star = ast.ImportFrom(module="__ipython_magic__", names=[ast.alias("*")], level=0)
            return ast.copy_location(star, node)
        if method == "run_line_magic" and name in _CODE_LINE_MAGICS and args:
            return self._unfold(args[0], node)
        if method == "run_cell_magic" and name in _CODE_CELL_MAGICS and len(args) >= 2:
            body = self._unfold(args[1], node)
            target = args[0].split()[0] if name == "capture" and args[0].split() else ""
            if target.isidentifier():
                store = ast.Assign([ast.Name(target, ast.Store())], ast.Constant(None))
                body.append(ast.copy_location(store, node))
            return body
        return node

    def _unfold(self, code: str, node: ast.Expr) -> list[ast.stmt]:
        _, _, tree = parse_cell(code)
        if tree is None:
            return [node]
        unfolded: list[ast.stmt] = []
        for statement in tree.body:
            ast.increment_lineno(statement, node.lineno - 1)
            result = self.visit(statement)
            unfolded.extend(result if isinstance(result, list) else [result])
        return unfolded


def _magic_call(value: ast.expr) -> tuple[str, str, list[str]] | None:
    """(method, magic name, string arguments) for ``get_ipython().run_*_magic('name', ...)``."""
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)):
        return None
    owner = value.func.value
    if not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name)):
        return None
    if owner.func.id != "get_ipython" or value.func.attr not in (
        "run_line_magic",
        "run_cell_magic",
    ):
        return None
    strings = [
        arg.value
        for arg in value.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    ]
    if not strings or len(strings) != len(value.args):
        return None
    return value.func.attr, strings[0], strings[1:]
