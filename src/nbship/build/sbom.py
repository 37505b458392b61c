"""A CycloneDX SBOM per built image: its Python packages (from the lock) and Debian packages.

Written to build/sbom/IMAGE-VERSION.cdx.json, next to the build logs, and copied into the image
itself at /usr/share/nbship/sbom.cdx.json, with labels naming that path and its sha256. The
document is deterministic: its timestamp is the commit time and its serial number a UUID 5 of its
own content, so the same commit built twice yields byte-identical SBOMs.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

import semver
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from nbship import docker, locks
from nbship.catalogue import Image
from nbship.errors import NbshipError
from nbship.files import atomic_write
from nbship.paths import BUILD

SBOM_DIR = BUILD / "sbom"
# Written by services/python-base/assemble-rootfs.sh into every Python service image.
PACKAGE_LIST = "/usr/share/nbship/debian-packages.tsv"
# Where the SBOM lives inside every image, and the labels that point at it and pin its bytes.
IMAGE_PATH = "/usr/share/nbship/sbom.cdx.json"
PATH_LABEL = "io.nbship.sbom"
SHA256_LABEL = "io.nbship.sbom.sha256"
# Serial numbers are UUID 5s in nbship's own namespace: equal content, equal serial.
SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/nbship/nbship/sbom")


def python_packages(lock: Path) -> list[tuple[str, str]]:
    """(name, version) of every package pinned in a requirements lock file."""
    return locks.pins(lock)


def read_file(ref: str, path: str) -> bytes:
    """The bytes of one file inside an image, copied out of a created (never started) container."""
    container = docker.docker("create", ref).stdout.strip()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            docker.docker("cp", f"{container}:{path}", tmp)
            return (Path(tmp) / Path(path).name).read_bytes()
    finally:
        docker.docker("rm", container, check=False)


def debian_packages(ref: str, has_dpkg: bool) -> list[tuple[str, str, str]]:
    """(package, version, architecture) installed in an image."""
    if has_dpkg:
        listing = docker.docker(
            "run", "--rm", "--network", "none", "--entrypoint", "dpkg-query", ref,
            "-W", "-f", "${Package}\t${Version}\t${Architecture}\n",
        ).stdout  # fmt: skip
    else:
        listing = read_file(ref, PACKAGE_LIST).decode("utf-8")
    rows = [line.split("\t") for line in listing.splitlines() if line.count("\t") == 2]
    return sorted((name, version, arch) for name, version, arch in rows)


def document(
    name: str,
    version: str,
    python: list[tuple[str, str]],
    debian: list[tuple[str, str, str]],
    created: datetime,
) -> str:
    """The CycloneDX 1.5 JSON text for one image, the same for the same arguments."""
    bom = Bom(serial_number=uuid.UUID(int=0))
    bom.metadata.timestamp = created
    bom.metadata.component = Component(
        name=f"nbship/{name}",
        version=version,
        type=ComponentType.CONTAINER,
        bom_ref=f"nbship/{name}@{version}",
    )
    for package, pinned in python:
        bom.components.add(_library(PackageURL("pypi", None, package, pinned)))
    for package, pinned, arch in debian:
        qualifiers = {"arch": arch, "distro": "debian-12"}
        bom.components.add(_library(PackageURL("deb", "debian", package, pinned, qualifiers)))
    # The image contains every component directly: a flat, complete dependency graph.
    bom.register_dependency(bom.metadata.component, list(bom.components))
    # The serial is a UUID 5 of the whole document rendered with a nil serial: any change to the
    # content (image, version, packages, timestamp) changes it, and nothing else does.
    draft = _render(bom)
    bom.serial_number = uuid.uuid5(SERIAL_NAMESPACE, draft)
    return _render(bom)


def _library(purl: PackageURL) -> Component:
    """A library component named, versioned and referenced by its package URL."""
    return Component(
        name=purl.name,
        version=purl.version,
        type=ComponentType.LIBRARY,
        purl=purl,
        bom_ref=purl.to_string(),
    )


def _render(bom: Bom) -> str:
    return make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_5).output_as_string(indent=2)


def write(
    image: Image,
    ref: str,
    version: semver.Version,
    created: str,
    component_version: str | None = None,
) -> Path:
    """Write the SBOM of a built image, dated CREATED (the commit time); return its path.

    The file is named after the release VERSION; the document gives the image's own version,
    COMPONENT_VERSION when it has one (the database's and broker's Debian package version).
    """
    name, lock = image.name, image.lock
    try:
        python = python_packages(lock) if lock else []
        debian = debian_packages(ref, has_dpkg=lock is None)
    except (OSError, subprocess.SubprocessError, NbshipError) as exc:
        raise NbshipError(f"cannot list the packages of {ref} for its SBOM: {exc}") from None
    out = SBOM_DIR / f"{name}-{version}.cdx.json"
    own = component_version or str(version)
    text = document(name, own, python, debian, datetime.fromisoformat(created))
    atomic_write(out, text + "\n")
    counts = f"{len(python)} Python, {len(debian)} Debian packages"
    print(f"  {name}: SBOM {out.relative_to(BUILD.parent)} ({counts})")
    return out


def sha256(content: bytes) -> str:
    """The hex sha256 that the io.nbship.sbom.sha256 label holds."""
    return hashlib.sha256(content).hexdigest()


def attach_dockerfile(ref: str, digest: str) -> str:
    """The Dockerfile that adds an SBOM (the context's only file) and its labels to image REF.

    FROM, COPY and LABEL change nothing else: USER, CMD, ENTRYPOINT and HEALTHCHECK are inherited.
    COPY makes the file root-owned; it keeps the context file's mode, which attach sets to 0644.
    """
    return (
        f"FROM {ref}\n"
        f"COPY {Path(IMAGE_PATH).name} {IMAGE_PATH}\n"
        f'LABEL {PATH_LABEL}="{IMAGE_PATH}" {SHA256_LABEL}="{digest}"\n'
    )


def _pointer(ref: str, labels: dict[str, str]) -> tuple[str, str]:
    """The SBOM path and sha256 an image's labels name; refused when either is missing."""
    path, expected = labels.get(PATH_LABEL), labels.get(SHA256_LABEL)
    if not path or not expected:
        raise NbshipError(
            f"{ref} has no SBOM attached (no {SHA256_LABEL} label): rebuild it with `invoke build`"
        )
    return path, expected


def verified(ref: str, labels: dict[str, str], content: bytes) -> str:
    """The SBOM text of image REF, refused unless CONTENT matches the image's sha256 label."""
    path, expected = _pointer(ref, labels)
    actual = sha256(content)
    if actual != expected:
        raise NbshipError(
            f"{ref}: the SBOM at {path} has sha256 {actual[:12]}..., "
            f"but its {SHA256_LABEL} label says {expected[:12]}..."
        )
    return content.decode("utf-8")


def from_image(ref: str) -> str:
    """The SBOM inside image REF, checked against its io.nbship.sbom.sha256 label."""
    inspected = docker.docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref)
    labels = json.loads(inspected.stdout) or {}
    path, _ = _pointer(ref, labels)
    try:
        content = read_file(ref, path)
    except (OSError, NbshipError) as exc:
        raise NbshipError(f"{ref}: cannot read its SBOM at {path}: {exc}") from None
    return verified(ref, labels, content)
