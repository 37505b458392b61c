"""Where things live in the project nbship works on, and in its local state directory.

The project is a folder with `deploy/compose.yaml` (a clone of this repository, or a user's own
project laid out the same way). nbship works on the one it is run in: NBSHIP_ROOT when set, else
the nearest folder at or above the current directory that has deploy/compose.yaml, else the
source tree this package sits in. Nothing is derived from where the package is installed.
"""

from __future__ import annotations

import os
from pathlib import Path

MARKER = Path("deploy") / "compose.yaml"


def find_root(start: Path, override: str | None = None) -> Path:
    """The project folder: OVERRIDE, else START or its nearest parent holding deploy/compose.yaml.

    Falls back to the source checkout around this file, so imports never fail; a task that
    needs a project says so when the files it reads are missing.
    """
    if override:
        return Path(override).resolve()
    for folder in (start, *start.parents):
        if (folder / MARKER).is_file():
            return folder
    return Path(__file__).resolve().parents[2]


ROOT = find_root(Path.cwd().resolve(), os.environ.get("NBSHIP_ROOT"))
VERSION_FILE = ROOT / "VERSION"
SERVICES = ROOT / "services"
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
REGISTRY_DIR = ROOT / "registry"
BUILD = ROOT / "build"
WHEELHOUSE = BUILD / "wheelhouse"
ENV_EXAMPLE = ROOT / ".env.example"


def shown(path: Path) -> Path:
    """PATH as a user reads it in a message: relative to the repository when it is inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
