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
        "part": "major, minor, patch or prerelease (1.2.3 -> 1.3.0 for minor), or an exact "
        "SemVer version to set (1.3.0-rc.1)",
    },
)
def bump(c: Context, part: str) -> None:
    """Bump the version (major|minor|patch|prerelease) or set an exact one; refuses non-SemVer.

    One positional argument for both: Invoke requires a positional argument on every call, so a
    separate --set flag could never be used alone.
    """
    current = versions.current()
    if part in PARTS:
        new = getattr(current, f"bump_{part}")()
    elif part[:1].isdigit() or part[:1] in {"v", "V"}:
        new = versions.parse(part)
    else:
        raise NbshipError(
            f"say what to bump: one of {', '.join(PARTS)} or an exact version like 1.4.2 "
            f"(got {part!r})"
        )
    atomic_write(VERSION_FILE, f"{new}\n")
    print(f"{current} -> {new}")


ns = Collection("version", show, bump)
