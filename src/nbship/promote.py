"""Promotion: point an environment tag (staging, prod) at the exact images of a version.

Nothing is built, pulled or pushed: each image's manifest for X.Y.Z is read from the registry
and written back, byte for byte, under the environment's tag, so `prod` has the very digest
that `X.Y.Z` has. Promoting again, or to an earlier version, is how an environment rolls back.
"""

from __future__ import annotations

import semver

from nbship import version as versions
from nbship.errors import NbshipError
from nbship.images import IMAGES, Image
from nbship.registry import Manifest, Registry
from nbship.version import docker_tag

ENVIRONMENTS = ("staging", "prod")


def known_versions(registry: Registry, images: tuple[Image, ...] = IMAGES) -> list[str]:
    """The SemVer versions every image has in the registry, oldest first."""
    common: set[str] | None = None
    for image in images:
        tags = {tag for tag in registry.tags(image.repository) if _is_version(tag)}
        common = tags if common is None else common & tags
    return sorted(common or (), key=lambda tag: versions.parse(tag.replace("_", "+")))


def _is_version(tag: str) -> bool:
    try:
        semver.Version.parse(tag.replace("_", "+"))
    except ValueError:
        return False
    return True


def promote(registry: Registry, version: semver.Version, environment: str) -> dict[str, str]:
    """Point ENVIRONMENT's tag at VERSION for every image; return image name -> digest.

    Every manifest is read before any tag moves, so an image missing from the registry stops
    the promotion with nothing changed.
    """
    if environment not in ENVIRONMENTS:
        raise NbshipError(
            f"unknown environment {environment!r}: promote to one of {', '.join(ENVIRONMENTS)}"
        )
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
