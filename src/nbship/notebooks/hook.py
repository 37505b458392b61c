"""``nbship-audit``: the static audit as a command, for pre-commit and other tools without Invoke.

pre-commit installs this repository as a package and runs the console script on the notebooks
a commit changes (see .pre-commit-hooks.yaml). Only the static checks run: no kernel starts, so
the hook is fast. A notebook with an error-level finding fails the hook, and is named.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from nbship.notebooks.audit import audit
from nbship.notebooks.report import render_table
from nbship.notebooks.sarif import save_sarif, workflow_commands


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbship-audit",
        description="Static notebook audit (no kernel): out-of-order cells, hidden state, "
        "undefined names, credentials, absolute paths. Exits 1 when a notebook has an error.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, help="notebook files or folders")
    parser.add_argument("--sarif", type=Path, help="also write the findings as SARIF 2.1.0 here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Audit the given notebooks statically; 1 when any has an error-level finding, else 0."""
    args = _parser().parse_args(argv)
    root = Path.cwd()
    try:
        report = audit(args.notebooks, root=root, execute=False)
    except FileNotFoundError as exc:
        print(f"nbship-audit: {exc}", file=sys.stderr)
        return 2
    print(render_table(report))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for command in workflow_commands(report, root):
            print(command)
    if args.sarif:
        save_sarif(report, root, args.sarif)
    failing = [nb.path for nb in report.notebooks if nb.count("error")]
    if failing:
        print(f"nbship-audit: error-level findings in: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
