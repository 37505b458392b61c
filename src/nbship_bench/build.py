"""Building a service's nbship and naive images side by side from a snapshot of the repository.

Each run copies what the images read (the service's folder, the shared code, its wheelhouse,
.dockerignore and both Dockerfiles) into a temporary directory laid out as in the repository,
and builds its own Python base images from services/python-base under private tags. So both
Dockerfiles build from the same bytes on the same bases, a benchmark can change a file without
touching the repository, and `:local` tags that other builds move meanwhile do not matter.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbship import catalogue
from nbship.build import base, images, wheelhouse
from nbship.errors import NbshipError
from nbship.paths import ROOT, SERVICES, WHEELHOUSE

NAIVE_DIR = ROOT / "bench" / "naive"
# What every benchmark image is tagged under; removed again unless the task is told to keep it.
REPOSITORY = "nbship-bench"
KINDS = ("nbship", "naive")
SERVICE_NAMES = ("api-gateway", "inventory", "billing")
PYTHON_RUNTIME = f"{REPOSITORY}/python-runtime:bench"
PYTHON_BUILD = f"{REPOSITORY}/python-build:bench"
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


def service_image(service: str) -> catalogue.Image:
    """The nbship image of a service folder name (api-gateway, inventory, billing)."""
    for image in catalogue.IMAGES:
        if image.folder.parent == SERVICES and image.folder.name == service:
            return image
    known = [i.folder.name for i in catalogue.IMAGES if i.folder.parent == SERVICES]
    raise NbshipError(f"unknown service {service!r}; known: {', '.join(known)}")


def tag(service: str, kind: str) -> str:
    """The local tag of SERVICE's benchmark image of KIND (nbship or naive)."""
    return f"{REPOSITORY}/{service}:{kind}"


@dataclass(frozen=True)
class Snapshot:
    """A service's build context and both Dockerfiles, copied into a temporary directory."""

    service: str
    root: Path

    @property
    def context(self) -> Path:
        return self.root / "context"

    def dockerfile(self, kind: str) -> Path:
        return self.root / f"{kind}.Dockerfile"


def snapshot(service: str, dest: Path) -> Snapshot:
    """Copy SERVICE's context (as the repository lays it out) and Dockerfiles into DEST."""
    image = service_image(service)
    assert image.lock is not None
    wheels = wheelhouse.ensure(service, image.lock)
    shot = Snapshot(service, dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")
    shutil.copytree(image.folder, shot.context / "services" / service, ignore=ignore)
    shutil.copytree(SERVICES / "common", shot.context / "services" / "common", ignore=ignore)
    shutil.copytree(wheels, shot.context / WHEELHOUSE.relative_to(ROOT) / service)
    shutil.copy2(ROOT / ".dockerignore", shot.context / ".dockerignore")
    # Outside the context, so that `COPY . .` of the naive Dockerfile does not pick them up.
    shutil.copy2(image.dockerfile, shot.dockerfile("nbship"))
    shutil.copy2(NAIVE_DIR / f"{service}.Dockerfile", shot.dockerfile("naive"))
    return shot


@dataclass(frozen=True)
class Step:
    """One Dockerfile step as the legacy builder reported it."""

    number: int
    instruction: str
    cached: bool
    # From this step's first log line to the next step's (or the end of the log).
    seconds: float = 0.0

    @property
    def changes_files(self) -> bool:
        """RUN, COPY and ADD make layers; FROM, ARG, ENV and the like only change metadata."""
        return self.instruction.split(" ", 1)[0].upper() in {"RUN", "COPY", "ADD"}


@dataclass(frozen=True)
class BuildRun:
    """A finished docker build: how long it took and which steps came from the cache."""

    tag: str
    seconds: float
    image_id: str
    steps: list[Step] = field(default_factory=list)

    def step(self, pattern: str) -> Step:
        """The first step whose instruction matches the regular expression PATTERN."""
        for step in self.steps:
            if re.search(pattern, step.instruction):
                return step
        raise NbshipError(f"no build step of {self.tag} matches {pattern!r}")

    @property
    def rebuilt(self) -> list[Step]:
        """The steps that made a new layer instead of taking it from the cache."""
        return [step for step in self.steps if step.changes_files and not step.cached]


def parse_steps(
    lines: Sequence[str], times: Sequence[float] | None = None, end: float = 0.0
) -> list[Step]:
    """The steps of a legacy-builder log, each marked cached when it printed "Using cache".

    TIMES, when given, holds the moment each of LINES arrived and END when the log ended; steps
    then carry how long they took.
    """
    clock = list(times) if times is not None else [0.0] * len(lines)
    if len(clock) != len(lines):
        raise ValueError("times must hold one moment per line")
    starts: list[tuple[int, str, float]] = []
    cached: set[int] = set()
    for line, at in zip(lines, clock, strict=True):
        match = _STEP.match(line.strip())
        if match:
            starts.append((int(match[1]), match[3], at))
        elif starts and line.strip() == "---> Using cache":
            cached.add(starts[-1][0])
    ends = [at for _, _, at in starts[1:]] + [end]
    return [
        Step(number, instruction, number in cached, round(max(0.0, stop - start), 3))
        for (number, instruction, start), stop in zip(starts, ends, strict=True)
    ]


def docker_build(
    dockerfile: Path,
    context: Path,
    ref: str,
    arguments: dict[str, str],
    extra: Sequence[str] = (),
) -> BuildRun:
    """Build with the legacy builder (its log says which steps were cached); time it."""
    args = ["docker", "build", "--file", str(dockerfile), "--tag", ref, *extra]
    for key, value in arguments.items():
        args += ["--build-arg", f"{key}={value}"]
    # BuildKit's log has no per-step "Using cache" line on every engine; the legacy one does.
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    lines: list[str] = []
    times: list[float] = []
    started = time.monotonic()
    proc = subprocess.Popen(
        [*args, str(context)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        times.append(time.monotonic() - started)
        lines.append(line.rstrip("\n"))
    code = proc.wait()
    seconds = time.monotonic() - started
    if code != 0:
        tail = [line for line in lines if line.strip()][-5:]
        raise NbshipError(f"building {ref} failed: {' | '.join(tail)}")
    return BuildRun(ref, round(seconds, 3), image_id(ref), parse_steps(lines, times, seconds))


def ensure_bases(base_mode: str, dest: Path) -> float:
    """Build the private Python bases from a copy of services/python-base; return the seconds."""
    base_ref = base.ensure_debian_base(base_mode)
    folder = dest / "python-base"
    shutil.copytree(images.PYTHON_BASE.parent, folder)
    started = time.monotonic()
    for target, ref in (("runtime", PYTHON_RUNTIME), ("build", PYTHON_BUILD)):
        print(f"nbship: building {ref} (cached after the first run)", flush=True)
        docker_build(
            folder / "Dockerfile", folder, ref, {"BASE_IMAGE": base_ref}, extra=["--target", target]
        )
    return round(time.monotonic() - started, 1)


def build_args(kind: str) -> dict[str, str]:
    """The build arguments of KIND's Dockerfile: the private bases, and fixed values that let
    the cache hit from one run to the next."""
    if kind == "naive":
        return {"PYTHON_BUILD": PYTHON_BUILD}
    return {
        "PYTHON_BUILD": PYTHON_BUILD,
        "PYTHON_RUNTIME": PYTHON_RUNTIME,
        "NBSHIP_VERSION": "0.0.0-bench",
        "NBSHIP_GIT_SHA": "bench",
    }


def build_kind(shot: Snapshot, kind: str) -> BuildRun:
    """Build the snapshot's KIND image under its benchmark tag."""
    return docker_build(
        shot.dockerfile(kind), shot.context, tag(shot.service, kind), build_args(kind)
    )


def image_size(ref: str) -> int:
    """An image's size in bytes, as `docker image inspect` reports it."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", ref], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise NbshipError(f"{ref} does not exist locally")
    return int(result.stdout.strip())


def image_id(ref: str) -> str:
    """The local image ID of REF, or "" when there is no such image."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref], capture_output=True, text=True
    )
    return result.stdout.strip()


def inspect(ref: str) -> dict[str, Any]:
    """`docker image inspect` of one image."""
    result = subprocess.run(["docker", "image", "inspect", ref], capture_output=True, text=True)
    if result.returncode != 0:
        raise NbshipError(f"{ref} does not exist locally")
    described: dict[str, Any] = json.loads(result.stdout)[0]
    return described


def built_on(ref: str, parent: str) -> bool:
    """True when REF's layers start with all of PARENT's: REF was built on that very image."""
    layers = inspect(ref)["RootFS"]["Layers"]
    base_layers = inspect(parent)["RootFS"]["Layers"]
    return bool(layers[: len(base_layers)] == base_layers)


def remove_images(refs: Sequence[str]) -> None:
    """Untag (and so free) images this benchmark built; ones still in use stay."""
    if refs:
        subprocess.run(["docker", "image", "rm", *refs], capture_output=True, check=False)


def cleanup() -> None:
    """Remove every image the build benchmarks tagged, the private bases last."""
    remove_images([tag(service, kind) for service in SERVICE_NAMES for kind in KINDS])
    remove_images([PYTHON_BUILD, PYTHON_RUNTIME])
