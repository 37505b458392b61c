"""Property: any notebook-shaped JSON gives nb.audit a report and nb.extract one clear error.

hypothesis builds notebooks that are mostly right and wrong in one place at a time (a field of
the wrong type, a missing key, Python 2 or magic source, a random kernel), plus arbitrary JSON
where a notebook should be. Whatever it builds: no traceback, never a partial write.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from invoke.config import Config
from invoke.context import Context
from invoke.exceptions import Exit

from nbship.notebooks.audit import INTERNAL_ERROR
from nbship.tasks import nb

SNIPPETS = [
    "x = 1",
    "print(x)",
    "print x",
    "y = [i for i in range(3)]",
    "from math import *",
    "%matplotlib inline",
    "%%time\nz = 1",
    "!ls",
    "def f():\n    return g",
    "class A:\n    pass",
    "del x",
    "exec 'x'",
    "x = (",
    "api_key = 'sk-abcdefghijklmnopqrstuvwxyz'",
    "open('/home/me/data.csv')",
    "\x00",
    "(" * 300 + ")" * 300,
    "+".join(["1"] * 3000),
]

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
)
any_json = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def maybe(strategy: st.SearchStrategy[Any], one_in: int = 30) -> st.SearchStrategy[Any]:
    """The well-formed value, except one time in ``one_in``: any JSON at all."""
    return st.integers(0, one_in - 1).flatmap(lambda n: any_json if n == 0 else strategy)


source = st.sampled_from(SNIPPETS) | st.text(max_size=30)
text_field = maybe(source | st.lists(source, max_size=3))
output = maybe(
    st.fixed_dictionaries(
        {"output_type": st.sampled_from(["stream", "execute_result", "display_data", "error"])},
        optional={
            "name": st.just("stdout"),
            "text": text_field,
            "data": maybe(
                st.dictionaries(st.sampled_from(["text/plain", "image/png"]), text_field)
            ),
            "metadata": maybe(st.just({})),
            "execution_count": maybe(st.none() | st.integers(0, 50)),
        },
    )
)
cell_metadata = maybe(
    st.fixed_dictionaries(
        {},
        optional={"tags": maybe(st.lists(st.sampled_from(["export", "export:other", "x"])))},
    )
)
cell = maybe(
    st.fixed_dictionaries(
        {"cell_type": maybe(st.sampled_from(["code", "markdown", "raw", "heading"]))},
        optional={
            "source": text_field,
            "input": text_field,
            "execution_count": maybe(st.none() | st.integers(-2, 50)),
            "prompt_number": maybe(st.none() | st.integers(0, 50)),
            "outputs": maybe(st.lists(output, max_size=2)),
            "metadata": cell_metadata,
            "id": maybe(st.text(max_size=8)),
            "attachments": maybe(
                st.dictionaries(st.text(max_size=5), st.just({"image/png": "AA=="}))
            ),
        },
    )
)
kernels = st.sampled_from(
    [
        {"kernelspec": {"name": "python3", "language": "python"}},
        {"kernelspec": {"name": "python2"}, "language_info": {"version": "2.7"}},
        {"kernelspec": {"name": "ir", "language": "R"}},
        {"kernelspec": "python3"},
        {"language_info": []},
        {},
    ]
)
optional_top = {"nbformat_minor": maybe(st.integers(0, 6)), "metadata": maybe(kernels)}
v4_notebook = st.fixed_dictionaries(
    {"nbformat": maybe(st.just(4), 30), "cells": maybe(st.lists(cell, max_size=6), 30)},
    optional=optional_top,
)
worksheet = st.fixed_dictionaries({"cells": maybe(st.lists(cell, max_size=4))})
v3_notebook = st.fixed_dictionaries(
    {"nbformat": maybe(st.just(3), 30), "worksheets": maybe(st.lists(worksheet, max_size=2), 30)},
    optional=optional_top,
)
notebook_text = st.integers(0, 9).flatmap(
    lambda n: (
        any_json.map(json.dumps)
        if n == 0
        else st.text(max_size=40)
        if n == 1
        else (v3_notebook if n < 4 else v4_notebook).map(json.dumps)
    )
)

VALID = [
    "import math",
    "X = 1",
    "def area(r):\n    return math.pi * r * X",
    "class Shape:\n    sides = 0",
    "values = [i for i in range(3)]",
]
# For nb.extract: well-formed notebooks whose cells are exported, one bad cell at a time.
export_cell = st.fixed_dictionaries(
    {
        "cell_type": st.just("code"),
        "source": maybe(
            st.sampled_from(VALID) | st.sampled_from(VALID) | st.sampled_from(SNIPPETS)
        ),
        "metadata": st.fixed_dictionaries(
            {"tags": maybe(st.sampled_from([["export"], ["export:other"], ["export:no way"], []]))}
        ),
        "outputs": st.just([]),
        "execution_count": st.none(),
    },
    optional={"id": maybe(st.sampled_from(["a", "b-1", "c_2", "bad id", ""]))},
)
exported_text = st.fixed_dictionaries(
    {"nbformat": st.just(4), "nbformat_minor": st.integers(0, 5), "metadata": st.just({})},
    optional={"cells": st.lists(export_cell, min_size=1, max_size=4)},
).map(json.dumps)


def project(root: Path, text: str) -> Path:
    """A repository whose one notebook, listed in exports.toml, holds ``text``."""
    (root / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    (root / "notebooks").mkdir()
    (root / "svc" / "pkg").mkdir(parents=True)
    (root / "svc" / "pkg" / "kept.py").write_text("KEPT = 1\n")
    (root / "notebooks" / "exports.toml").write_text(
        '[[notebook]]\npath = "01_demo.ipynb"\npackage = "svc/pkg"\nmodule = "demo"\n'
    )
    (root / "notebooks" / "01_demo.ipynb").write_text(text, encoding="utf-8", errors="replace")
    return root


def run(task: Any, **flags: Any) -> tuple[str | None, str]:
    """Run an nb task in the current folder: (the Exit message or None, what it printed)."""
    printed = io.StringIO()
    context = Context(config=Config(overrides=nb.ns.configuration()))
    with contextlib.redirect_stdout(printed):
        try:
            task(context, **flags)
        except Exit as exc:
            return str(exc.message), printed.getvalue()
    return None, printed.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notebook_text)
def test_static_audit_reports_on_any_notebook_shaped_json(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(project(Path(folder), text)):
        message, printed = run(nb.audit, no_execute=True, json="report.json")
        report = json.loads(Path("report.json").read_text())
    assert message is None or message.count("\n") == 0
    assert message is None or "01_demo.ipynb" in message
    [audited] = report["notebooks"]
    checks = [finding["check"] for finding in audited["findings"]]
    event("readable" if audited["readable"] else "malformed")
    for check in set(checks) - {"malformed"}:
        event(f"finding: {check}")
    assert INTERNAL_ERROR not in checks
    if not audited["readable"]:
        [finding] = audited["findings"]
        assert finding["check"] == "malformed" and "\n" not in finding["message"]
        assert "01_demo.ipynb" in finding["message"]
    assert "01_demo.ipynb" in printed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exported_text | notebook_text)
def test_extract_writes_every_module_or_nothing_on_any_notebook_shaped_json(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(project(Path(folder), text)):
        message, _ = run(nb.extract)
        package = sorted(path.name for path in Path("svc/pkg").iterdir())
        written = {name: Path("svc/pkg", name).read_text() for name in package}
    event("extract refused" if message else "extract wrote modules")
    if message is not None:
        assert message.startswith("nb.extract: ") and "\n" not in message
        assert package == ["kept.py"]  # nothing written, no temporary file left
    else:
        assert "kept.py" in package and not [n for n in package if n.endswith(".tmp")]
        for name, text_written in written.items():
            if name != "kept.py":
                assert text_written.startswith("# GENERATED by nbship from notebooks/01_demo.ipynb")
                compile(text_written, name, "exec")
