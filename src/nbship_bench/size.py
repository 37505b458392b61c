"""Image size: each service's nbship image against a naive single-stage one, both built now.

Both are built in this run from the same snapshot of the working tree on the same private
Python bases (see nbship_bench.build), so the figures are what the next `invoke build` makes.
The size of the VERSION file's image, where it exists locally, is recorded alongside.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import semver

from nbship import docker
from nbship.version import docker_tag
from nbship_bench import build, stats
from nbship_bench.results import Metric, Result

NAME = "size"
TITLE = "Service image size, nbship vs naive single-stage"
MAX_RATIO = 0.4
MAX_MB = 100.0
MB = 1_000_000  # docker reports sizes in decimal megabytes


def run(
    version: semver.Version,
    base_mode: str = "auto",
    services: tuple[str, ...] = build.SERVICE_NAMES,
) -> Result:
    """Build both images of every service and compare their sizes; the images are kept."""
    raw: dict[str, dict[str, Any]] = {}
    metrics: list[Metric] = []
    with tempfile.TemporaryDirectory(prefix="nbship-bench-") as tmp:
        bases_seconds = build.ensure_bases(base_mode, Path(tmp))
        for service in services:
            print(f"nbship: building {service}, nbship and naive", flush=True)
            shot = build.snapshot(service, Path(tmp) / service)
            runs = {kind: build.build_kind(shot, kind) for kind in build.KINDS}
            ours = build.image_size(build.tag(service, "nbship"))
            naive = build.image_size(build.tag(service, "naive"))
            share = stats.ratio(ours, naive)
            released = service_image_ref(service, version)
            raw[service] = {
                "bytes": ours,
                "naive_bytes": naive,
                "ratio": round(share, 4),
                "build_seconds": {kind: r.seconds for kind, r in runs.items()},
                "version_image": released,
                "version_image_bytes": (
                    build.image_size(released) if docker.image_exists(released) else None
                ),
            }
            metrics.append(Metric(f"{service} size / naive", round(share, 3), "x", MAX_RATIO))
            metrics.append(Metric(f"{service} size", round(ours / MB, 1), "MB", MAX_MB))
    runtime = build.image_size(build.PYTHON_RUNTIME)
    metrics.append(Metric("shared python-runtime base", round(runtime / MB, 1), "MB"))
    notes = [
        "nbship and naive images built in the same run from one snapshot of the working tree; "
        "naive = bench/naive/SERVICE.Dockerfile: python-build + build-essential, one pip "
        "install, no multi-stage; sizes from `docker image inspect`",
        f"the python-runtime base every nbship image starts from is {runtime / MB:.0f} MB of "
        "each figure (shared on disk)",
    ]
    return Result(
        name=NAME,
        title=TITLE,
        parameters={"version": str(version), "services": list(services), "base": base_mode},
        metrics=metrics,
        raw={"images": raw, "python_runtime_bytes": runtime, "bases_seconds": bases_seconds},
        notes=notes,
    )


def service_image_ref(service: str, version: semver.Version) -> str:
    """The local reference of SERVICE's image at VERSION (nbship/inventory-app:1.2.3)."""
    return build.service_image(service).ref(docker_tag(version))
