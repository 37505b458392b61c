"""nbship's tasks: `invoke --list` shows them, `invoke TASK --help` explains each flag.

The collection is assembled in nbship.cli (also the installed `nbship` command's); the logic
lives in the nbship package (src/nbship).
"""

from nbship.cli import ns

__all__ = ["ns"]
