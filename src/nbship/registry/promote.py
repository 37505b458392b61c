"""Promotion: point an environment tag (staging, prod) at the exact images of a version.

Nothing is built, pulled or pushed: each image's manifest for X.Y.Z is read from the registry
and written back, byte for byte, under the environment's tag, so `prod` has the very digest
that `X.Y.Z` has. Promoting again, or to an earlier version, is how an environment rolls back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import semver

from nbship import version as versions
from nbship.catalogue import IMAGES, Image
from nbship.errors import NbshipError
from nbship.version import docker_tag

# The caller hands a Registry in; importing the client (and requests) here would make every
# command pay for it, since the task help lists ENVIRONMENTS (issue 13's start-up budget).
if TYPE_CHECKING:
    from nbship.registry.client import Manifest, Registry

ENVIRONMENTS = ("staging", "prod")


def known_versions(registry: Registry, images: tuple[Image, ...] = IMAGES) -> list[str]:
    """The SemVer versions every image has in the registry, oldest first."""
    common: set[str] | None = None
    for image in images:
        tags = set(versions.version_tags(registry.tags(image.repository)))
        common = tags if common is None else common & tags
    return versions.version_tags(sorted(common or ()))


def check_environment(environment: str) -> None:
    """Refuse an environment nbship does not know (the one spelling: ENVIRONMENTS)."""
    if environment not in ENVIRONMENTS:
        raise NbshipError(
            f"unknown environment {environment!r}: use one of {', '.join(ENVIRONMENTS)}"
        )


def promoted(registry: Registry, environment: str) -> tuple[semver.Version, dict[str, str]]:
    """The version ENVIRONMENT's tag points at, and every image's digest under that tag.

    The version is the SemVer tag that has the same digest as the environment's tag for every
    image: promotion moves them together, so a mismatch means the tags were moved by hand, and
    deploying such a mix is refused naming the image that differs.
    """
    check_environment(environment)
    registry.ping()
    digests: dict[str, str] = {}
    for image in IMAGES:
        digest = registry.digest(image.repository, environment)
        if digest is None:
            raise NbshipError(
                f"nothing is promoted to {environment} in {registry.address} "
                f"({image.repository} has no {environment} tag): "
                f"`invoke promote X.Y.Z --to {environment}` first"
            )
        digests[image.name] = digest
    first = IMAGES[0]
    for tag in reversed(known_versions(registry)):
        version = versions.from_tag(tag)
        if version is None or registry.digest(first.repository, tag) != digests[first.name]:
            continue
        for image in IMAGES[1:]:
            if registry.digest(image.repository, tag) != digests[image.name]:
                raise NbshipError(
                    f"{environment} is not one version: {first.repository}:{environment} is "
                    f"{tag} but {image.repository}:{environment} is not; promote again"
                )
        return version, digests
    raise NbshipError(
        f"{first.repository}:{environment} matches no version tag in {registry.address}; "
        "promote a pushed version again"
    )


def promote(registry: Registry, version: semver.Version, environment: str) -> dict[str, str]:
    """Point ENVIRONMENT's tag at VERSION for every image; return image name -> digest.

    Every manifest is read before any tag moves, so an image missing from the registry stops
    the promotion with nothing changed.
    """
    check_environment(environment)
    registry.ping()
    tag = docker_tag(version)
    manifests: dict[str, Manifest] = {}
    for image in IMAGES:
        manifest = registry.manifest(image.repository, tag)
        if manifest is None:
            known = known_versions(registry)
            raise NbshipError(
                f"version {version} is not in the registry {registry.address} "
                f"({image.repository} has no tag {tag}); known versions: "
                f"{', '.join(known) if known else 'none (push one first)'}"
            )
        manifests[image.name] = manifest
    digests: dict[str, str] = {}
    for image in IMAGES:
        manifest = manifests[image.name]
        before = registry.digest(image.repository, environment)
        stored = registry.put_manifest(image.repository, environment, manifest)
        if stored != manifest.digest:
            raise NbshipError(
                f"{registry.remote(image.repository)}:{environment} got digest {stored}, "
                f"expected {manifest.digest}"
            )
        moved = "unchanged" if before == stored else f"was {before or 'unset'}"
        print(f"  {image.name}: {environment} -> {tag} {stored} ({moved})", flush=True)
        digests[image.name] = stored
    return digests
