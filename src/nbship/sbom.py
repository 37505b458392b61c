"""A CycloneDX SBOM per built image: its Python packages (from the lock) and Debian packages.

Written to build/sbom/IMAGE-VERSION.cdx.json, next to the build logs. Component references are
package URLs, so the same image always yields the same document apart from its timestamp.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import semver
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from nbship import docker
from nbship.errors import NbshipError
from nbship.paths import BUILD

if TYPE_CHECKING:  # images imports this module to write an SBOM after each build
    from nbship.images import Image

SBOM_DIR = BUILD / "sbom"
# Written by services/python-base/assemble-rootfs.sh into every Python service image.
PACKAGE_LIST = "/usr/share/nbship/debian-packages.tsv"
LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def python_packages(lock: Path) -> list[tuple[str, str]]:
    """(name, version) of every package pinned in a requirements lock file."""
    found = []
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = LOCK_LINE.match(line)
        if match:
            found.append((match.group(1).lower(), match.group(2)))
    return sorted(found)


def debian_packages(ref: str, has_dpkg: bool) -> list[tuple[str, str, str]]:
    """(package, version, architecture) installed in an image."""
    if has_dpkg:
        listing = docker.docker(
            "run", "--rm", "--network", "none", "--entrypoint", "dpkg-query", ref,
            "-W", "-f", "${Package}\t${Version}\t${Architecture}\n",
        ).stdout  # fmt: skip
    else:
        container = docker.docker("create", ref).stdout.strip()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                docker.docker("cp", f"{container}:{PACKAGE_LIST}", tmp)
                listing = (Path(tmp) / Path(PACKAGE_LIST).name).read_text(encoding="utf-8")
        finally:
            docker.docker("rm", container, check=False)
    rows = [line.split("\t") for line in listing.splitlines() if line.count("\t") == 2]
    return sorted((name, version, arch) for name, version, arch in rows)


def document(
    name: str, version: str, python: list[tuple[str, str]], debian: list[tuple[str, str, str]]
) -> str:
    """The CycloneDX 1.5 JSON text for one image."""
    bom = Bom()
    bom.metadata.component = Component(
        name=f"nbship/{name}",
        version=version,
        type=ComponentType.CONTAINER,
        bom_ref=f"nbship/{name}@{version}",
    )
    for package, pinned in python:
        purl = PackageURL("pypi", None, package, pinned)
        bom.components.add(
            Component(
                name=package,
                version=pinned,
                type=ComponentType.LIBRARY,
                purl=purl,
                bom_ref=purl.to_string(),
            )
        )
    for package, pinned, arch in debian:
        purl = PackageURL("deb", "debian", package, pinned, {"arch": arch, "distro": "debian-12"})
        bom.components.add(
            Component(
                name=package,
                version=pinned,
                type=ComponentType.LIBRARY,
                purl=purl,
                bom_ref=purl.to_string(),
            )
        )
    # The image contains every component directly: a flat, complete dependency graph.
    bom.register_dependency(bom.metadata.component, list(bom.components))
    return make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_5).output_as_string(indent=2)


def write(image: Image, ref: str, version: semver.Version) -> Path:
    """Write the SBOM of a built image; return its path."""
    name, lock = image.name, image.lock
    try:
        python = python_packages(lock) if lock else []
        debian = debian_packages(ref, has_dpkg=lock is None)
    except (OSError, subprocess.SubprocessError, NbshipError) as exc:
        raise NbshipError(f"cannot list the packages of {ref} for its SBOM: {exc}") from None
    SBOM_DIR.mkdir(parents=True, exist_ok=True)
    out = SBOM_DIR / f"{name}-{version}.cdx.json"
    out.write_text(document(name, str(version), python, debian) + "\n", encoding="utf-8")
    counts = f"{len(python)} Python, {len(debian)} Debian packages"
    print(f"  {name}: SBOM {out.relative_to(BUILD.parent)} ({counts})")
    return out
