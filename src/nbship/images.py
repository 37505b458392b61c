"""The images nbship builds, and building them with SemVer tags, OCI labels and an SBOM inside."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import semver

from nbship import base, docker, sbom, wheelhouse
from nbship.errors import NbshipError
from nbship.notebooks.extract import build_modules, load_exports
from nbship.paths import BUILD, DEPLOY, ROOT, SERVICES
from nbship.version import docker_tag, git_commit_time, git_sha, tags_for

NAMESPACE = "nbship"
LABEL_PREFIX = "io.nbship"
SOURCE_URL = "https://github.com/nbship/nbship"
PYTHON_BASE = SERVICES / "python-base" / "Dockerfile"
PYTHON_RUNTIME = f"{NAMESPACE}/python-runtime:local"
PYTHON_BUILD = f"{NAMESPACE}/python-build:local"


@dataclass(frozen=True)
class Image:
    """One image of the stack: its repository name and where its Dockerfile lives."""

    name: str
    folder: Path

    @property
    def dockerfile(self) -> Path:
        return self.folder / "Dockerfile"

    @property
    def lock(self) -> Path | None:
        lock = self.folder / "requirements.lock"
        return lock if lock.exists() else None

    @property
    def repository(self) -> str:
        return f"{NAMESPACE}/{self.name}"

    def ref(self, tag: str) -> str:
        return f"{self.repository}:{tag}"


IMAGES: tuple[Image, ...] = (
    Image("api-gateway-app", SERVICES / "api-gateway"),
    Image("inventory-app", SERVICES / "inventory"),
    Image("billing-app", SERVICES / "billing"),
    Image("postgres", DEPLOY / "images" / "postgres"),
    Image("rabbitmq", DEPLOY / "images" / "rabbitmq"),
)


def by_name(names: list[str] | None = None) -> list[Image]:
    """The images named (all when None), refusing unknown names."""
    if not names:
        return list(IMAGES)
    known = {image.name: image for image in IMAGES}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise NbshipError(f"unknown image {unknown[0]!r}; known: {', '.join(known)}")
    return [known[name] for name in names]


def _docker_build(args: list[str], log: Path, label: str, dockerfile: str | None = None) -> None:
    """Run docker build, showing one line per step and keeping the full output in LOG.

    With DOCKERFILE, its text is given on stdin (ARGS then hold `--file -` and a context).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as sink:
        proc = subprocess.Popen(
            ["docker", "build", *args],
            cwd=ROOT,
            stdin=None if dockerfile is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if proc.stdin is not None:
            # docker reads the whole Dockerfile before it prints anything: no deadlock.
            proc.stdin.write(dockerfile or "")
            proc.stdin.close()
        assert proc.stdout is not None
        for line in proc.stdout:
            sink.write(line)
            # Legacy builder: "Step 3/9 : RUN ...", BuildKit: "#7 [build 2/4] RUN ...".
            if line.startswith("Step ") or (line.startswith("#") and " [" in line[:12]):
                print(f"  {label}: {line.strip()[:110]}", flush=True)
        code = proc.wait()
    if code != 0:
        tail = log.read_text(encoding="utf-8").strip().splitlines()[-15:]
        print("\n".join(f"    {row}" for row in tail))
        raise NbshipError(f"building {label} failed (full log: {log.relative_to(ROOT)})")
    print(f"  {label}: built in {time.monotonic() - started:.0f}s", flush=True)


def ensure_python_bases(base_ref: str) -> None:
    """Build (or reuse from cache) the shared Python runtime and build images."""
    for target, ref in (("runtime", PYTHON_RUNTIME), ("build", PYTHON_BUILD)):
        _docker_build(
            [
                "--target", target, "--tag", ref, "--build-arg", f"BASE_IMAGE={base_ref}",
                "--file", str(PYTHON_BASE), str(PYTHON_BASE.parent),
            ],
            BUILD / "logs" / f"python-{target}.log",
            f"python-{target}",
        )  # fmt: skip


def attach_sbom(image: Image, refs: list[str], document: Path, created: str) -> None:
    """Copy IMAGE's SBOM into it, labelled with its path and sha256, and move REFS onto the result.

    A second, tiny build FROM the image just built: its context is a temporary folder holding only
    the SBOM, so nothing else can slip in, and its Dockerfile comes on stdin.
    """
    content = document.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / Path(sbom.IMAGE_PATH).name
        copy.write_bytes(content)
        # Readable by the apps' non-root user; dated at the commit, so the layer is too.
        copy.chmod(0o644)
        moment = datetime.fromisoformat(created).timestamp()
        os.utime(copy, (moment, moment))
        args = ["--file", "-"]
        for ref in refs:
            args += ["--tag", ref]
        _docker_build(
            [*args, tmp],
            BUILD / "logs" / f"{image.name}-sbom.log",
            f"{image.name} sbom",
            dockerfile=sbom.attach_dockerfile(refs[0], sbom.sha256(content)),
        )


def provenance(image: Image) -> dict[str, str]:
    """What an image was made from: its lock file and the notebook cells exported into its code.

    The cells hash covers every generated module inside the folders the image copies (the
    service's own and services/common), exactly as `nb.extract` writes them from the notebooks.
    """
    if image.lock is None:
        return {}
    copied = (image.folder, SERVICES / "common")
    cells = hashlib.sha256()
    sources = []
    for target in load_exports(ROOT):
        if any((ROOT / target.package).is_relative_to(folder) for folder in copied):
            for module in build_modules(ROOT, target):
                cells.update(module.text.encode())
                sources.append(f"{target.notebook.name}:{','.join(module.cell_ids)}")
    # Build args; the Dockerfile turns them into io.nbship.* labels and /version's answer.
    return {
        "NBSHIP_LOCK_SHA256": hashlib.sha256(image.lock.read_bytes()).hexdigest(),
        "NBSHIP_CELLS_SHA256": cells.hexdigest(),
        "NBSHIP_CELLS": " ".join(sorted(sources)),
    }


def build(
    version: semver.Version,
    names: list[str] | None = None,
    base_mode: str = "auto",
) -> dict[str, list[str]]:
    """Build every image (or those named) at VERSION; return each image's local references."""
    docker.ensure_daemon()
    images = by_name(names)
    sha = git_sha()
    tags = tags_for(version, sha)
    base_ref = base.ensure_debian_base(base_mode)
    print(f"nbship: building {len(images)} image(s) at {version} (git {sha}) on {base_ref}")
    if any(image.lock for image in images):
        ensure_python_bases(base_ref)
    # Labels are set from these build args by one LABEL instruction in each Dockerfile: the
    # legacy builder would commit one layer per --label flag, after the code, on every rebuild.
    stamp = {
        "NBSHIP_VERSION": str(version),
        "NBSHIP_GIT_SHA": sha,
        "NBSHIP_REVISION": git_sha(short=False),
        "NBSHIP_CREATED": git_commit_time(),
        "NBSHIP_SOURCE": SOURCE_URL,
    }
    built: dict[str, list[str]] = {}
    for index, image in enumerate(images, 1):
        if image.lock:
            wheelhouse.ensure(image.folder.name, image.lock)
        args = [
            "--file", str(image.dockerfile.relative_to(ROOT)),
            "--build-arg", f"BASE_IMAGE={base_ref}",
            "--build-arg", f"PYTHON_RUNTIME={PYTHON_RUNTIME}",
            "--build-arg", f"PYTHON_BUILD={PYTHON_BUILD}",
        ]  # fmt: skip
        made_from = provenance(image)
        for key, value in {**stamp, **made_from}.items():
            args += ["--build-arg", f"{key}={value}"]
        refs = [image.ref(tag) for tag in tags]
        for ref in refs:
            args += ["--tag", ref]
        print(f"[{index}/{len(images)}] {image.name}", flush=True)
        _docker_build([*args, "."], BUILD / "logs" / f"{image.name}.log", image.name)
        document = sbom.write(image, refs[0], version, stamp["NBSHIP_CREATED"])
        attach_sbom(image, refs, document, stamp["NBSHIP_CREATED"])
        built[image.name] = refs
    print(f"nbship: tagged {', '.join(tags)}")
    return built


def inspect(name: str, version: semver.Version) -> dict[str, str]:
    """The labels of a built image (OCI and nbship provenance), by image name and version."""
    (image,) = by_name([name])
    ref = image.ref(docker_tag(version))
    if not docker.image_exists(ref):
        raise NbshipError(f"{ref} does not exist locally: run `invoke build --version {version}`")
    labels = docker.docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref).stdout
    return dict(sorted(json.loads(labels).items()))


def require_local(version: semver.Version, names: list[str] | None = None) -> list[Image]:
    """The images of VERSION, which must all exist locally (built by `invoke build`)."""
    images = by_name(names)
    missing = [image.ref(docker_tag(version)) for image in images]
    missing = [ref for ref in missing if not docker.image_exists(ref)]
    if missing:
        raise NbshipError(
            f"{missing[0]} does not exist locally: run `invoke build --version {version}`"
        )
    return images
