"""Scope analysis a Python programmer would trust: one test per scoping rule of issue 13.

``analyse`` returns, for a cell, the global names it binds and the ones it reads without
binding them first, split into reads that happen when the cell runs (immediate) and reads inside
functions and lambdas (deferred, so cell order does not matter for them).
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from nbship.notebooks.audit import NotebookAudit, audit_notebook
from nbship.notebooks.names import CellNames, analyse, evident_names, is_ipython_name, parse_cell

from .conftest import code, write_notebook


def names(source: str) -> CellNames:
    python, _, tree = parse_cell(source)
    return analyse(python, tree)


def name_findings(tmp_path: Path, *sources: str) -> list[tuple[str, int | None, str]]:
    cells = [code(source, count) for count, source in enumerate(sources, start=1)]
    result: NotebookAudit = audit_notebook(
        write_notebook(tmp_path / "n.ipynb", cells), execute=False
    )
    return [
        (f.check, None if f.cell is None else f.cell - 1, f.message)  # -1: the title cell
        for f in result.findings
        if f.check in {"undefined-name", "hidden-state"}
    ]


@pytest.mark.parametrize(
    ("source", "defined", "immediate", "deferred"),
    [
        pytest.param(
            "squares = [x * x for x in data]", {"squares"}, {"data"}, set(), id="listcomp"
        ),
        pytest.param("s = {k: v for k, v in pairs}", {"s"}, {"pairs"}, set(), id="dictcomp"),
        pytest.param("t = sum(x for x in xs if x > lo)", {"t"}, {"xs", "lo"}, set(), id="genexp"),
        pytest.param("f = lambda a: a + b", {"f"}, set(), {"b"}, id="lambda"),
        pytest.param("g = lambda a=c: a", {"g"}, {"c"}, set(), id="lambda-default-now"),
        pytest.param(
            "def f():\n    global counter\n    counter = 1",
            {"f", "counter"},
            set(),
            set(),
            id="global",
        ),
        pytest.param(
            "def outer():\n    n = 0\n    def inner():\n        nonlocal n\n        n += 1\n"
            "    return inner",
            {"outer"},
            set(),
            set(),
            id="nonlocal",
        ),
        pytest.param("y = 1\ndel y", set(), set(), set(), id="del-own"),
        pytest.param(
            "class A:\n    z = 1\n    w = z + 1\n    def m(self):\n        return q",
            {"A"},
            set(),
            {"q"},
            id="class-body",
        ),
        pytest.param("if (n := len(a)) > 1:\n    print(n)", {"n"}, {"a"}, set(), id="walrus"),
        pytest.param(
            "match cmd:\n    case [x, y]:\n        print(x, y)\n"
            "    case {'k': v}:\n        print(v)",
            {"x", "y", "v"},
            {"cmd"},
            set(),
            id="match-captures",
        ),
        pytest.param(
            "try:\n    run()\nexcept ValueError as e:\n    print(e)",
            set(),
            {"run"},
            set(),
            id="except-as",
        ),
        pytest.param(
            "def f():\n    import os\n    return os.sep",
            {"f"},
            set(),
            set(),
            id="import-in-function",
        ),
        pytest.param("x = x + 1", {"x"}, {"x"}, set(), id="read-before-rebind"),
        pytest.param(
            "def f():\n    return later\nlater = 1", {"f", "later"}, set(), set(), id="def-later"
        ),
        pytest.param("print(len([]), __name__)", set(), set(), set(), id="builtins"),
        pytest.param(
            "try:\n    cache\nexcept NameError:\n    cache = {}",
            {"cache"},
            set(),
            set(),
            id="nameerror-guard",
        ),
    ],
)
def test_scope_rule(
    source: str, defined: set[str], immediate: set[str], deferred: set[str]
) -> None:
    found = names(source)
    assert (set(found.defined), set(found.immediate), set(found.deferred)) == (
        defined,
        immediate,
        deferred,
    )


def test_del_of_an_earlier_cells_name_reads_it_and_removes_it() -> None:
    found = names("del frame")
    assert found.immediate == {"frame"} and found.deleted == {"frame"}


def test_deleted_name_is_undefined_for_later_cells(tmp_path: Path) -> None:
    found = name_findings(tmp_path, "frame = 1", "del frame", "print(frame)")
    assert [(check, cell) for check, cell, _ in found] == [("undefined-name", 2)]


@pytest.mark.parametrize(
    "source", ["from math import *", "%run helpers.py", "%pylab inline", "%load script.py"]
)
def test_star_import_and_namespace_magics_may_bind_anything(source: str) -> None:
    assert names(source).star


def test_no_undefined_name_after_a_star_import(tmp_path: Path) -> None:
    found = name_findings(
        tmp_path, "from math import *", "print(sqrt(2))", "def f():\n    return pi"
    )
    assert found == []


def test_name_used_before_a_later_star_import_is_a_hidden_state_warning(tmp_path: Path) -> None:
    found = name_findings(tmp_path, "print(sqrt(2))", "from math import *")
    assert [(check, cell) for check, cell, _ in found] == [("hidden-state", 0)]
    assert "import *" in found[0][2]


def test_star_import_in_the_same_cell_counts_only_after_it() -> None:
    assert names("from math import *\nr = sqrt(2)").immediate == set()
    assert names("r = sqrt(2)\nfrom math import *").immediate == {"sqrt"}


@pytest.mark.parametrize(
    ("source", "defined", "immediate"),
    [
        ("%time model = fit(X)", {"model"}, {"fit", "X"}),
        ("%%time\nresult = compute(data)\n", {"result"}, {"compute", "data"}),
        ("%%capture out --no-stderr\nprint(x)\n", {"out"}, {"x"}),
        ("files = !ls {folder}\n", {"files"}, set()),
        ("%%bash\necho $HOME\n", set(), set()),
    ],
)
def test_magics_that_run_python_keep_its_names(
    source: str, defined: set[str], immediate: set[str]
) -> None:
    found = names(source)
    assert set(found.defined) == defined
    assert set(found.immediate) - {"get_ipython"} == immediate


@pytest.mark.parametrize(
    "name", ["display", "In", "Out", "_", "__", "___", "_i", "_ii", "_i3", "_3", "get_ipython"]
)
def test_ipython_names_are_known(name: str) -> None:
    assert is_ipython_name(name)


def test_ipython_names_never_reported_but_lookalikes_are(tmp_path: Path) -> None:
    found = name_findings(tmp_path, "display(Out[1], In[1], _, __, _i1, _1, get_ipython())", "_ix")
    assert [(check, cell, "'_ix'" in message) for check, cell, message in found] == [
        ("undefined-name", 1, True)
    ]


def test_unparsable_cell_keeps_the_names_its_lines_evidently_bind() -> None:
    found = evident_names(
        "import numpy as np\nfrom os import path as p\ndata = load()\nprint data\n"
        "def fit(x):\n    print x\nclass Model(object):\n    pass\nfor i in range(3):\n"
        "    print i\nwith open(f) as handle:\n    pass\na, b = 1, 2\n"
    )
    assert found.defined == {"np", "p", "data", "fit", "Model", "i", "handle", "a", "b"}
    assert not found.used


def test_unparsable_cell_is_one_warning_and_later_cells_see_its_names(tmp_path: Path) -> None:
    cells = [code("import math\nprint math.pi\nradius = 2", 1), code("print(math.pi * radius)", 2)]
    result = audit_notebook(write_notebook(tmp_path / "n.ipynb", cells), execute=False)
    syntax = [f for f in result.findings if f.check == "syntax"]
    assert [(f.cell, f.severity) for f in syntax] == [(1, "warning")]
    assert "Python 2" in syntax[0].message
    assert not [f for f in result.findings if f.check in {"undefined-name", "hidden-state"}]


def test_comprehension_variable_is_not_hidden_state(tmp_path: Path) -> None:
    found = name_findings(
        tmp_path, "squares = [i * i for i in range(3)]\nfor i in squares:\n    print(i)", "i = 0"
    )
    assert found == []


def test_function_body_name_defined_nowhere_is_a_warning(tmp_path: Path) -> None:
    found = name_findings(tmp_path, "def f():\n    return missing", "f = None")
    assert [(check, cell) for check, cell, _ in found] == [("undefined-name", 0)]


def test_unparsable_function_with_a_multi_line_header_still_binds_its_name() -> None:
    # Seen in donnemartin/data-science-ipython-notebooks@5b3c00d4 deep-dream/dream.ipynb cell 8:
    # a def whose arguments span two lines and whose body uses Python 2 syntax.
    source = "def dream(net, base,\n          end=1, **kw):\n    print net\n    return base\n"
    assert evident_names(source).defined == {"dream"}


def test_analysis_leaves_no_garbage_for_the_cycle_collector() -> None:
    # pyflakes' checker is cyclic; left to the collector, every cell's tree and bindings
    # cost the static audit of real notebooks a quarter of its time.
    source = (
        "import os\nx = [len(y) for y in os.listdir()]\n"
        "def f(a):\n    global z\n    return x + a + q\n"
        "class C:\n    k = lambda self: w\n"
    )
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            names(source)
        assert gc.collect() == 0
    finally:
        gc.enable()
