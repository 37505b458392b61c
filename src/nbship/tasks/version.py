"""version.*: the single version source (the VERSION file)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from nbship import version as versions
from nbship.errors import NbshipError
from nbship.files import atomic_write
from nbship.paths import VERSION_FILE
from nbship.tasks._common import task

PARTS = ("major", "minor", "patch", "prerelease")


@task(default=True)
def show(c: Context) -> None:
    """Print the version in the VERSION file and the tags a build of it gets."""
    current = versions.current()
    print(current)
    print("tags:", ", ".join(versions.tags_for(current, versions.git_sha())))


@task(
    positional=["part"],
    help={
        "part": "major, minor, patch or prerelease (e.g. 1.2.3 -> 1.3.0 for minor)",
        "set": "set this exact SemVer version instead of bumping",
    },
)
def bump(c: Context, part: str | None = None, set: str | None = None) -> None:
    """Bump the version (major|minor|patch|prerelease) or --set one; refuses non-SemVer."""
    current = versions.current()
    if set is not None:
        new = versions.parse(set)
    elif part in PARTS:
        new = getattr(current, f"bump_{part}")()
    else:
        raise NbshipError(
            f"say what to bump: one of {', '.join(PARTS)} (got {part!r}), or --set X.Y.Z"
        )
    atomic_write(VERSION_FILE, f"{new}\n")
    print(f"{current} -> {new}")


ns = Collection("version", show, bump)
