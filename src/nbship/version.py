"""The single version source (the VERSION file), SemVer validation and the tags a version gets."""

from __future__ import annotations

import subprocess

import semver

from nbship.errors import NbshipError
from nbship.paths import ROOT, VERSION_FILE


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
