"""The single version source (the VERSION file), SemVer validation and the tags a version gets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import semver

from nbship.errors import NbshipError
from nbship.paths import ROOT, VERSION_FILE

# Appended to the git sha in the labels and /version of an image built from uncommitted changes.
DIRTY = "-dirty"


def parse(text: str) -> semver.Version:
    """Parse a SemVer 2.0 version (a leading "v" is tolerated), or stop with a clear message."""
    candidate = text.strip()
    if candidate[:1] in {"v", "V"}:
        candidate = candidate[1:]
    try:
        return semver.Version.parse(candidate)
    except (ValueError, TypeError):
        raise NbshipError(
            f"{text!r} is not a SemVer 2.0 version (expected MAJOR.MINOR.PATCH, "
            "e.g. 1.4.2 or 2.0.0-rc.1)"
        ) from None


def current() -> semver.Version:
    """The version in the VERSION file."""
    try:
        text = VERSION_FILE.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NbshipError(
            f"{VERSION_FILE} is missing: create it with a version like 0.1.0"
        ) from None
    try:
        return parse(text)
    except NbshipError as exc:
        raise NbshipError(f"{VERSION_FILE.name}: {exc}") from None


def docker_tag(version: semver.Version) -> str:
    """A Docker tag for a version: tags cannot hold "+", so build metadata uses "_"."""
    return str(version).replace("+", "_")


def from_tag(tag: str) -> semver.Version | None:
    """The version a Docker tag names (docker_tag's inverse), or None for other tags."""
    try:
        return semver.Version.parse(tag.replace("_", "+"))
    except ValueError:
        return None


def version_tags(tags: list[str]) -> list[str]:
    """The tags among TAGS that name a version, oldest version first."""
    named = {tag: version for tag in tags if (version := from_tag(tag)) is not None}
    return sorted(named, key=named.__getitem__)


def tags_for(version: semver.Version, git_sha: str) -> list[str]:
    """X.Y.Z and sha-<sha> always; X.Y, X and latest only for a final release."""
    tags = [docker_tag(version)]
    if not version.prerelease and not version.build:
        tags += [f"{version.major}.{version.minor}", str(version.major), "latest"]
    tags.append(f"sha-{git_sha}")
    return tags


def git_sha(short: bool = True) -> str:
    """The commit being built (12 hex digits when short)."""
    args = ["git", "rev-parse", "--short=12" if short else "--verify", "HEAD"]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise NbshipError("cannot read the git commit: build from a git checkout with a commit")
    return result.stdout.strip()


def git_commit_time() -> str:
    """The commit time in ISO 8601 (UTC): a reproducible `created` date for image labels."""
    result = subprocess.run(
        ["git", "log", "-1", "--format=%cd", "--date=iso-strict-local", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    )
    return result.stdout.strip() or "1970-01-01T00:00:00+00:00"


def dirty_files(root: Path = ROOT) -> list[str]:
    """Files that differ from HEAD: modified, staged, deleted, or new and not git-ignored.

    New files count: a build context holds whatever is in the folder, committed or not.
    """
    changed = _git(root, "diff", "--name-only", "-z", "HEAD", "--")
    new = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    return sorted({name for name in (changed + new).split("\0") if name})


def source_state(allow_dirty: bool, root: Path = ROOT) -> str:
    """ "" for a clean tree, DIRTY for a dirty one when ALLOW_DIRTY, else stop naming the files.

    A build stamps the commit's sha into its labels, tags and /version: from a dirty tree that
    would claim the commit's content for what is not, and move the registry's sha- tag.
    """
    changed = dirty_files(root)
    if not changed:
        return ""
    if allow_dirty:
        print(f"nbship: warning: building {len(changed)} uncommitted change(s), labelled {DIRTY}")
        return DIRTY
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    raise NbshipError(
        f"uncommitted changes in {shown}: commit or stash them, or build with --allow-dirty "
        f"(the images are then labelled {DIRTY} and never pushed under a sha- tag)"
    )


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise NbshipError(
            f"cannot read the git state of {root} (git {args[0]}: "
            f"{result.stderr.strip() or 'failed'}): build from a git checkout with a commit"
        )
    return result.stdout
