"""Reading requirements lock files (pip-tools / `uv pip compile --generate-hashes` output).

One reader for every stage that needs a lock's pins: the build's SBOM lists them, the audit
checks a notebook's imports against them. Each requirement is parsed by `packaging` (PEP 508),
not by a pattern, so extras, markers and continuation lines are read as pip reads them.
"""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from nbship.errors import NbshipError


def pins(lock: Path) -> list[tuple[str, str]]:
    """(canonical name, version) of every `name==version` requirement in LOCK, sorted.

    A requirement that is not pinned to one version is refused: a lock pins everything.
    """
    found = []
    for number, line in _requirements(lock):
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise NbshipError(f"{lock}:{number}: not a requirement: {exc}") from None
        exact = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if len(exact) != 1:
            raise NbshipError(f"{lock}:{number}: {requirement.name} is not pinned with ==")
        found.append((canonicalize_name(requirement.name), exact[0]))
    return sorted(found)


def _requirements(lock: Path) -> list[tuple[int, str]]:
    """Each requirement of LOCK with the line it starts on; hashes, options and comments go."""
    logical: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(lock.read_text(encoding="utf-8").splitlines(), 1):
        text = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if pending is not None:
            start, joined = pending
            text = f"{joined} {text}"
            number = start
        if text.endswith("\\"):
            pending = (number, text[:-1].strip())
            continue
        pending = None
        requirement = " ".join(part for part in text.split() if not part.startswith("--hash="))
        if requirement and not requirement.startswith("-"):
            logical.append((number, requirement))
    return logical
