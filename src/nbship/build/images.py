"""The images nbship builds, and building them with SemVer tags, OCI labels and an SBOM inside.

An image is built in two steps. Its own Dockerfile makes the content (nothing in it depends on the
version being built, so identical inputs give the same image from Docker's build cache); a thin
stamp layer then adds the version, revision, date and SBOM. A content that was stamped before is
reused as it is under the new version's tags: an image that did not change between two releases
keeps its digest, and a deploy leaves its container running (docs/images.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

import semver

from nbship import docker
from nbship.build import base, sbom, wheelhouse
from nbship.build.schema import Migrations
from nbship.build.schema import read as read_migrations
from nbship.catalogue import MIGRATIONS_LABEL, NAMESPACE, SCHEMA_LABEL, Image, by_name
from nbship.errors import NbshipError
from nbship.files import atomic_write
from nbship.notebooks.extract import extract, generated_header
from nbship.paths import BUILD, ROOT, SERVICES
from nbship.version import docker_tag, git_commit_time, git_sha, source_state, tags_for

LABEL_PREFIX = "io.nbship"
SOURCE_URL = "https://github.com/nbship/nbship"
PYTHON_BASE = SERVICES / "python-base" / "Dockerfile"
PYTHON_RUNTIME = f"{NAMESPACE}/python-runtime:local"
PYTHON_BUILD = f"{NAMESPACE}/python-build:local"
# What a stamped image's content is (content_key), and the local tag that finds the stamped image
# again from a later build of the same content.
CONTENT_LABEL = f"{LABEL_PREFIX}.content"
CONTENT_TAG_PREFIX = "content-"
VERSION_LABEL = "org.opencontainers.image.version"


def content_key(image_id: str) -> str:
    """What an image is, whenever it was built: the sha256 of its layers and run configuration.

    Not its image ID, which also covers build times: two builds of one Dockerfile that each ran
    a metadata step (WORKDIR, LABEL, ...) give two IDs for the same files and configuration.
    """
    shown = docker.docker(
        "image", "inspect", "--format", "{{json .RootFS.Layers}} {{json .Config}}", image_id
    ).stdout.strip()
    return "sha256:" + hashlib.sha256(shown.encode()).hexdigest()


def content_tag(key: str) -> str:
    """The local tag of the stamped image made from the content whose content_key is KEY."""
    return CONTENT_TAG_PREFIX + key.removeprefix("sha256:")[:12]


def _docker_build(args: list[str], log: Path, label: str, dockerfile: str | None = None) -> str:
    """Run docker build, showing one line per step and keeping the full output in LOG.

    With DOCKERFILE, its text is given on stdin (ARGS then hold `--file -` and a context).
    Returns the ID of the image built.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    iidfile = log.with_suffix(".iid")
    iidfile.unlink(missing_ok=True)
    with log.open("w", encoding="utf-8") as sink:
        proc = subprocess.Popen(
            ["docker", "build", "--iidfile", str(iidfile), *args],
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
    return iidfile.read_text(encoding="utf-8").strip()


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


def stamp_dockerfile(
    content_id: str, sbom_sha256: str, labels: dict[str, str], env: dict[str, str]
) -> str:
    """The Dockerfile of the stamp layer: the SBOM, its labels, then LABELS and ENV, FROM content.

    FROM, COPY, LABEL and ENV change nothing else: USER, CMD, ENTRYPOINT and HEALTHCHECK are
    inherited. Values are JSON-quoted, which Dockerfile strings accept.
    """
    text = sbom.attach_dockerfile(content_id, sbom_sha256)
    text += (
        "LABEL " + " ".join(f"{key}={json.dumps(value)}" for key, value in labels.items()) + "\n"
    )
    if env:
        text += "ENV " + " ".join(f"{key}={json.dumps(value)}" for key, value in env.items()) + "\n"
    return text


def stamp(
    image: Image,
    content_id: str,
    refs: list[str],
    document: Path,
    labels: dict[str, str],
    env: dict[str, str],
) -> str:
    """Stamp the content image: add its SBOM, LABELS and ENV, tag the result REFS; return its ID.

    A second, tiny build FROM the content image: its context is a temporary folder holding only
    the SBOM, so nothing else can slip in, and its Dockerfile comes on stdin.
    """
    content = document.read_bytes()
    created = labels["org.opencontainers.image.created"]
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
        return _docker_build(
            [*args, tmp],
            BUILD / "logs" / f"{image.name}-stamp.log",
            f"{image.name} stamp",
            dockerfile=stamp_dockerfile(content_id, sbom.sha256(content), labels, env),
        )


def provenance(image: Image) -> dict[str, str]:
    """What an image was made from: its lock file and the notebook cells in the code it ships.

    The cells hash covers the bytes of every generated module inside the folders the image
    copies (the service's own and services/common), read from disk as the Dockerfile copies
    them; their headers say which notebook cells they hold. `require_fresh_exports` has made
    sure first that those files are what the notebooks export.
    """
    if image.lock is None:
        return {}
    cells = hashlib.sha256()
    sources = []
    for path in shipped_modules(image):
        text = path.read_bytes()
        header = generated_header(text.decode("utf-8"))
        if header is None:
            continue
        notebook, ids = header
        cells.update(text)
        sources.append(f"{Path(notebook).name}:{','.join(ids)}")
    # Build args; the Dockerfile turns them into io.nbship.* labels and /version's answer.
    return {
        "NBSHIP_LOCK_SHA256": hashlib.sha256(image.lock.read_bytes()).hexdigest(),
        "NBSHIP_CELLS_SHA256": cells.hexdigest(),
        "NBSHIP_CELLS": " ".join(sorted(sources)),
    }


def shipped_modules(image: Image) -> list[Path]:
    """The Python files an app image copies, ordered by their path inside the image (/app).

    The Dockerfiles copy services/common/nbship_common to /app/nbship_common and the service's
    folder to /app, so that path is the one relative to the copied folder; a test recomputes
    the hash from the files inside the built image in the same order.
    """
    folders = (SERVICES / "common", image.folder)
    files = {
        path.relative_to(folder).as_posix(): path
        for folder in folders
        for path in folder.rglob("*.py")
        if "tests" not in path.relative_to(folder).parts
    }
    return [files[inside] for inside in sorted(files)]


def require_fresh_exports(root: Path = ROOT) -> None:
    """Refuse to build code that its notebooks no longer export, showing the difference."""
    result = extract(root, check=True)
    if result.ok:
        return
    diffs = "".join(result.stale.values())
    shown = "\n".join(diffs.splitlines()[:40])
    paths = ", ".join(str(path) for path in result.stale)
    raise NbshipError(
        f"{paths} no longer match(es) the notebooks' exported cells; run `invoke nb.extract` "
        f"and commit the result before building:\n{shown}"
    )


def build(
    version: semver.Version,
    names: list[str] | None = None,
    base_mode: str = "auto",
    allow_dirty: bool = False,
) -> dict[str, list[str]]:
    """Build every image (or those named) at VERSION; return each image's local references.

    An image whose content is the same as one stamped before is that image, tagged again.
    A dirty working tree is refused unless ALLOW_DIRTY; then the git sha reads <sha>-dirty.
    """
    images = by_name(names)
    dirty = source_state(allow_dirty)
    if any(image.lock for image in images):
        require_fresh_exports()
    # Read before anything is built: a broken migration folder stops the build at once.
    schemas = {
        image.name: read_migrations(image.migrations) for image in images if image.migrations
    }
    docker.ensure_daemon()
    sha = git_sha() + dirty
    tags = tags_for(version, sha)
    base_ref = base.ensure_debian_base(base_mode)
    print(f"nbship: building {len(images)} image(s) at {version} (git {sha}) on {base_ref}")
    if any(image.lock for image in images):
        ensure_python_bases(base_ref)
    # What the stamp layer records of this build, when an image's content is new.
    made = {"revision": git_sha(short=False) + dirty, "created": git_commit_time(), "sha": sha}
    built: dict[str, list[str]] = {}
    reused: list[str] = []
    for index, image in enumerate(images, 1):
        if image.lock:
            wheelhouse.ensure(image.folder.name, image.lock)
        args = [
            "--file", str(image.dockerfile.relative_to(ROOT)),
            "--build-arg", f"BASE_IMAGE={base_ref}",
            "--build-arg", f"PYTHON_RUNTIME={PYTHON_RUNTIME}",
            "--build-arg", f"PYTHON_BUILD={PYTHON_BUILD}",
            "--build-arg", f"NBSHIP_SOURCE={SOURCE_URL}",
        ]  # fmt: skip
        # Build args become the content's io.nbship.* labels and /version's provenance.
        for key, value in provenance(image).items():
            args += ["--build-arg", f"{key}={value}"]
        refs = [image.ref(tag) for tag in tags]
        print(f"[{index}/{len(images)}] {image.name}", flush=True)
        content_id = _docker_build([*args, "."], BUILD / "logs" / f"{image.name}.log", image.name)
        key = content_key(content_id)
        stamped = image.ref(content_tag(key))
        if docker.image_exists(stamped):
            _reuse(image, stamped, refs, version)
            reused.append(image.name)
        else:
            _stamp_new(
                image, content_id, key, [*refs, stamped], version, made, schemas.get(image.name)
            )
        built[image.name] = refs
    print(f"nbship: tagged {', '.join(tags)}")
    if reused:
        print(f"nbship: unchanged, same digest as before: {', '.join(reused)}")
    return built


def _stamp_new(
    image: Image,
    content_id: str,
    key: str,
    refs: list[str],
    version: semver.Version,
    made: dict[str, str],
    migrations: Migrations | None = None,
) -> None:
    """Stamp new content: the database and broker with their package's version, apps with VERSION,
    and an app with MIGRATIONS with the schema revision its code expects and those migrations.

    An app's /version answers from the environment the stamp sets: the release that first
    built this content, and its commit.
    """
    own = str(version)
    if image.package:
        packages = {name: pinned for name, pinned, _ in sbom.debian_packages(content_id, True)}
        if image.package not in packages:
            raise NbshipError(f"{image.name}: Debian package {image.package} is not installed")
        own = packages[image.package]
    labels = {
        VERSION_LABEL: own,
        "org.opencontainers.image.revision": made["revision"],
        "org.opencontainers.image.created": made["created"],
        CONTENT_LABEL: key,
    }
    if migrations is not None:
        labels[SCHEMA_LABEL] = migrations.head
        labels[MIGRATIONS_LABEL] = migrations.label()
    env = {"NBSHIP_VERSION": own, "NBSHIP_GIT_SHA": made["sha"]} if image.lock else {}
    document = sbom.write(image, content_id, version, made["created"], component_version=own)
    stamp(image, content_id, refs, document, labels, env)


def _reuse(image: Image, stamped: str, refs: list[str], version: semver.Version) -> None:
    """Tag the image already stamped for this content with VERSION's tags; copy out its SBOM."""
    for ref in refs:
        docker.docker("tag", stamped, ref)
    atomic_write(sbom.SBOM_DIR / f"{image.name}-{version}.cdx.json", sbom.from_image(stamped))
    first = docker.docker(
        "image", "inspect", "--format", f'{{{{index .Config.Labels "{VERSION_LABEL}"}}}}', stamped
    ).stdout.strip()
    print(f"  {image.name}: content unchanged: reusing the image stamped {first}", flush=True)


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
