"""Notebook shapes that broke or fooled the audit on real notebooks, rebuilt small by hand.

Issue 13's study ran the audit on public notebooks; each shape here reproduces one thing found
there (the repository, commit and path are named), with our own few lines of code instead of
theirs, so that the unit tests keep the audit honest without committing anyone else's notebook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PDSH = "jakevdp/PythonDataScienceHandbook@d66231454ef753818dc9213c9b5942e067266966"
BAYES = (
    "CamDavidsonPilon/Probabilistic-Programming-and-Bayesian-Methods-for-Hackers"
    "@5b33f77a803a1a07dcadabae6cc382c9fd2c77d7"
)
PY3_KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
PY2_METADATA = {
    "kernelspec": {"name": "python2", "display_name": "Python 2", "language": "python"},
    "language_info": {"name": "python", "version": "2.7.10", "codemirror_mode": {"version": 2}},
}


def cell(source: str | list[str], count: int | None = None, **fields: Any) -> dict[str, Any]:
    """A v4 code cell as it appears on disk, without an id unless ``id=`` is given."""
    return {
        "cell_type": "code",
        "execution_count": count,
        "metadata": {},
        "outputs": [],
        "source": source,
        **fields,
    }


def markdown(source: str, **fields: Any) -> dict[str, Any]:
    """A v4 markdown cell as it appears on disk."""
    return {"cell_type": "markdown", "metadata": {}, "source": source, **fields}


def v4(cells: list[Any], minor: int = 4, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """A v4 notebook of the given minor version; ids appear only where the cells carry them."""
    meta = {"kernelspec": PY3_KERNEL} if metadata is None else metadata
    return {"nbformat": 4, "nbformat_minor": minor, "metadata": meta, "cells": cells}


def v3(inputs: list[tuple[str, int | None]], metadata: dict[str, Any] | None = None) -> dict:
    """A v3 notebook (worksheets, ``input`` and ``prompt_number``) with one code cell per input."""
    cells = [
        {"cell_type": "code", "language": "python", "input": source, "outputs": []}
        | ({"prompt_number": count} if count is not None else {})
        for source, count in inputs
    ]
    return {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": metadata if metadata is not None else {"name": "old"},
        "worksheets": [{"cells": cells, "metadata": {}}],
    }


@dataclass
class Shape:
    """A notebook (JSON value, or raw text) and what the static audit must and must not say.

    ``expected`` holds (check, cell) pairs that must be among the findings, ``cell`` None for a
    notebook-wide finding; ``absent`` holds checks that must not appear at all.
    """

    seen_in: str
    notebook: Any
    expected: set[tuple[str, int | None]] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)


NAME_CHECKS = {"undefined-name", "hidden-state"}

SHAPES: dict[str, Shape] = {
    "v3-python2-pylab-era": Shape(
        f"{BAYES} sandbox/CommitDataForChapter1.ipynb: v3, Python 2 prints, numpy from --pylab",
        v3(
            [
                ("totals = np.array([1, 2])", 1),
                ("n = len(totals)\nprint n", 2),
                ("print(n)", 3),
            ]
        ),
        expected={("undefined-name", 0), ("syntax", 1)},
        absent={"hidden-state"},
    ),
    "v4-without-ids-hidden-state": Shape(
        f"{BAYES} Chapter6_Priorities/Ch6_Priors_PyMC3.ipynb: nbformat 4.2, no ids; the audit "
        "crashed with AttributeError: id on its hidden-state finding",
        v4([cell("y = x + 1", 2), cell("x = 1", 1), cell("print(z)", 3)], minor=2),
        expected={("hidden-state", 0), ("undefined-name", 2), ("out-of-order", 1)},
    ),
    "python2-kernel": Shape(
        f"{BAYES} Chapter7_BayesianMachineLearning/DontOverfit.ipynb: python2 kernel, xrange",
        v4(
            [
                cell("import StringIO\nfor i in xrange(3):\n    print i", 1),
                cell("s = StringIO.StringIO(unicode('x'))", 2),
                cell("total = reduce(lambda a, b: a + b, range(3))", 3),
            ],
            metadata=PY2_METADATA,
        ),
        expected={("syntax", 0)},
        absent=NAME_CHECKS,
    ),
    "unparsable-cell-still-binds": Shape(
        f"{BAYES} sandbox/SpaceShuttleBayesFactor.ipynb: a Python 2 cell binds names later "
        "cells use",
        v4(
            [
                cell(
                    "import numpy as np\ndata = np.arange(3)\nprint data\n"
                    "def model(x):\n    print x\nclass Fit(object):\n    pass\n"
                    "for trial in range(2):\n    print trial",
                    1,
                ),
                cell("print(model(data), Fit(), trial, np.pi)", 2),
            ]
        ),
        expected={("syntax", 0)},
        absent=NAME_CHECKS,
    ),
    "comprehension-variables": Shape(
        f"{PDSH} notebooks: comprehension variables are local to the comprehension",
        v4(
            [
                cell("squares = [x ** 2 for x in range(5)]\nfor x in squares:\n    print(x)", 1),
                cell("total = sum(v for v in squares)\nlookup = {k: v for k, v in []}", 2),
                cell("k = 1\nv = 2", 3),
            ]
        ),
        absent=NAME_CHECKS,
    ),
    "star-import": Shape(
        f"{BAYES} sandbox/ABCtests.ipynb: names come from `from pylab import *`",
        v4(
            [
                cell("early = sqrt(4)", 1),
                cell("from math import *", 2),
                cell("print(sqrt(2), floor(pi))", 3),
            ]
        ),
        expected={("hidden-state", 0), ("star-import", None)},
        absent={"undefined-name"},
    ),
    "magics-and-shell": Shape(
        f"{PDSH} notebooks/01.03-Magic-Commands.ipynb and 01.05-IPython-And-Shell-Commands",
        v4(
            [
                cell("%matplotlib inline\n%pylab inline", 1),
                cell("plot(linspace(0, 1))", 2),
                cell("files = !ls\n%time result = len(files)", 3),
                cell("%%time\nsquares = [n * n for n in range(result)]", 4),
                cell("%%capture captured\nprint(squares)", 5),
                cell("%%bash\necho $HOME", 6),
                cell("captured.show()\n%timeit sum(squares)", 7),
            ]
        ),
        expected={("magic", 0), ("magic", 3), ("magic", 5)},
        absent=NAME_CHECKS | {"syntax"},
    ),
    "run-magic": Shape(
        f"{PDSH} notebooks/01.03-Magic-Commands.ipynb: %run puts a script's names in scope",
        v4([cell("%run myscript.py", 1), cell("print(square(2))", 2)]),
        absent=NAME_CHECKS,
    ),
    "multi-line-line-magic": Shape(
        f"{PDSH} notebooks/03.12-Performance-Eval-and-Query.ipynb cell 5: %timeit over two "
        "lines does not parse",
        v4([cell("x = y = [1]", 1), cell("%timeit sum(xi for xi in x,\n        y)", 2)]),
        expected={("syntax", 1)},
        absent=NAME_CHECKS,
    ),
    "intentionally-invalid-cell": Shape(
        f"{PDSH} notebooks/03.05-Hierarchical-Indexing.ipynb cell 73: shows a SyntaxError",
        v4([cell("health = {}", 1), cell("health.loc[(:, 1), (:, 'HR')]", 2)]),
        expected={("syntax", 1)},
        absent=NAME_CHECKS,
    ),
    "ipython-own-names": Shape(
        f"{PDSH} notebooks/01.04-Input-Output-History.ipynb: In, Out, _, __, _2, _i2",
        v4(
            [
                cell("1 + 1", 1),
                cell("print(In[1], Out[1], _, __, ___, _1, _i1, _ih, _oh, _dh)", 2),
                cell("display(get_ipython())", 3),
            ]
        ),
        absent=NAME_CHECKS,
    ),
    "r-kernel": Shape(
        "R notebooks (IRkernel): audited for order, name checks skipped with a note",
        v4(
            [cell("x <- c(1, 2)", 2), cell("print(x)", 1)],
            metadata={
                "kernelspec": {"name": "ir", "display_name": "R", "language": "R"},
                "language_info": {"name": "R"},
            },
        ),
        expected={("kernel", None), ("out-of-order", 1)},
        absent=NAME_CHECKS | {"syntax"},
    ),
    "julia-kernel": Shape(
        "Julia notebooks (IJulia) name the language only in language_info",
        v4(
            [cell("using Plots\nplot(x -> x^2)", 1)],
            metadata={
                "kernelspec": {"name": "julia-1.6", "display_name": "Julia 1.6.0"},
                "language_info": {"name": "julia", "version": "1.6.0"},
            },
        ),
        expected={("kernel", None)},
        absent={"syntax"},
    ),
    "conda-python-kernel": Shape(
        "conda environments name their kernels conda-env-<env>-py, without a language",
        v4(
            [cell("import os\nprint(os.sep)", 1)],
            metadata={"kernelspec": {"name": "conda-env-tf-py", "display_name": "tf"}},
        ),
        absent={"kernel"},
    ),
    "missing-fields": Shape(
        "hand-edited and generated notebooks: cells without outputs, metadata or counts",
        {
            "nbformat": 4,
            "nbformat_minor": 0,
            "cells": [
                {"cell_type": "code", "source": "a = 1"},
                {"cell_type": "code", "source": ["b = a\n", "print(b)"], "execution_count": 2},
                {"cell_type": "markdown", "source": "text"},
            ],
        },
        absent=NAME_CHECKS,
    ),
    "odd-execution-counts": Shape(
        "hand-edited notebooks: counts saved as strings, floats, booleans, huge numbers",
        v4(
            [
                cell("a = 1", "3"),  # type: ignore[arg-type]
                cell("b = 2", 2.0),  # type: ignore[arg-type]
                cell("c = 3", True),  # type: ignore[arg-type]
                cell("d = 4", 10**18),
                cell("e = 5", -1),
            ]
        ),
        expected={("skipped-count", None), ("out-of-order", 4)},
    ),
    "huge-output-and-attachments": Shape(
        f"{PDSH} notebooks: megabytes of saved output, images attached to markdown cells",
        v4(
            [
                markdown(
                    "![a](attachment:a.png)",
                    attachments={"a.png": {"image/png": "iVBORw0KGgo="}},
                ),
                cell(
                    "print('x' * 4_000_000)",
                    1,
                    outputs=[{"output_type": "stream", "name": "stdout", "text": "x" * 4_000_000}],
                ),
            ]
        ),
        absent=NAME_CHECKS,
    ),
    "v4-5-with-ids": Shape(
        "nbformat 4.5 notebooks carry cell ids, which findings repeat",
        v4([cell("y = x", 2, id="use"), cell("x = 1", 1, id="define")], minor=5),
        expected={("hidden-state", 0), ("out-of-order", 1)},
    ),
    "empty": Shape(
        "a notebook created and saved without any cell",
        v4([]),
        expected={("empty", None)},
    ),
}

# Files that are not notebooks, each with the words its one-line finding must contain.
BROKEN: dict[str, tuple[str | bytes, str]] = {
    "invalid-json": ('{"nbformat": 4, "cells": [', "not valid JSON"),
    "json-list": ("[1, 2, 3]", "not a Jupyter notebook"),
    "no-nbformat": ('{"cells": []}', "no integer 'nbformat'"),
    "nbformat-string": ('{"nbformat": "4", "cells": []}', "no integer 'nbformat'"),
    "nbformat-5": ('{"nbformat": 5, "cells": []}', "unsupported nbformat version 5"),
    "cells-not-list": ('{"nbformat": 4, "cells": {}}', "'cells' is missing or not a list"),
    "worksheets-missing": ('{"nbformat": 3}', "'worksheets' is missing"),
    "cell-not-object": ('{"nbformat": 4, "cells": [3]}', "cell 0 has no 'cell_type'"),
    "source-not-text": (
        '{"nbformat": 4, "cells": [{"cell_type": "code", "source": [1]}]}',
        "cell 0 has a malformed 'source'",
    ),
    "metadata-not-object": ('{"nbformat": 4, "metadata": [], "cells": []}', "'metadata'"),
    "cell-metadata-not-object": (
        '{"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "metadata": 1}]}',
        "cell 0 'metadata' is not an object",
    ),
    "tags-not-list": (
        '{"nbformat": 4, "cells": [{"cell_type": "code", "source": "",'
        ' "metadata": {"tags": "export"}}]}',
        "cell 0 'metadata.tags'",
    ),
    "outputs-not-list": (
        '{"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "outputs": {}}]}',
        "cell 0: 'outputs' is not a list",
    ),
    "output-data-not-object": (
        '{"nbformat": 4, "cells": [{"cell_type": "code", "source": "",'
        ' "outputs": [{"output_type": "display_data", "data": []}]}]}',
        "cell 0: an output's 'data'",
    ),
    "not-utf8": (b"\xff\xfe{}", "cannot read notebook"),
}
