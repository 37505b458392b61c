"""Rebuild after a one-line code change, cache warm: nbship's Dockerfile against the naive one.

Both build from the same snapshot of the service (see nbship_bench.build). After a warm-up build
of each, every repeat appends one comment line to the service's package `__init__.py` and
rebuilds both, alternating which goes first so that drift on a shared machine touches both.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from nbship_bench import build, stats
from nbship_bench.results import Metric, Result

NAME = "rebuild"
TITLE = "Rebuild after a one-line code change (build cache warm)"
MIN_SPEEDUP = 10.0
# The step that installs the wheelhouse: it must come from the cache after a code change.
DEPS_STEP = r"pip .*install"


def _package_init(context: Path, service: str) -> Path:
    inits = sorted((context / "services" / service).glob("*/__init__.py"))
    if not inits:
        raise FileNotFoundError(f"no package with an __init__.py in services/{service}")
    return inits[0]


def run(service: str = "inventory", repeats: int = 3, base_mode: str = "auto") -> Result:
    """Warm both builds, then time REPEATS one-line-change rebuilds of each."""
    runs: dict[str, list[build.BuildRun]] = {kind: [] for kind in build.KINDS}
    with tempfile.TemporaryDirectory(prefix="nbship-bench-") as tmp:
        build.ensure_bases(base_mode, Path(tmp))
        shot = build.snapshot(service, Path(tmp) / service)
        changed = _package_init(shot.context, service)
        warm = {}
        for kind in build.KINDS:
            print(f"nbship: warming the {kind} build cache for {service}", flush=True)
            warm[kind] = build.build_kind(shot, kind)
        try:
            for repeat in range(repeats):
                with changed.open("a", encoding="utf-8") as handle:
                    handle.write(f"# benchmark edit {repeat} {uuid.uuid4().hex}\n")
                order = build.KINDS if repeat % 2 == 0 else build.KINDS[::-1]
                for kind in order:
                    result = build.build_kind(shot, kind)
                    runs[kind].append(result)
                    print(f"  repeat {repeat + 1}/{repeats}: {kind} {result.seconds:.1f}s")
        finally:
            # Each rebuild left the one before untagged: free those, keep the tagged last ones.
            built = [*warm.values(), *runs["nbship"], *runs["naive"]]
            last = {build.image_id(build.tag(service, kind)) for kind in build.KINDS}
            build.remove_images(sorted({r.image_id for r in built} - last))
    seconds = {kind: [r.seconds for r in done] for kind, done in runs.items()}
    median = {kind: stats.median(values) for kind, values in seconds.items()}
    speedup = stats.ratio(median["naive"], median["nbship"])
    deps_cached = sum(r.step(DEPS_STEP).cached for r in runs["nbship"])
    naive_deps_cached = sum(r.step(DEPS_STEP).cached for r in runs["naive"])
    last_nbship = runs["nbship"][-1]
    rebuilt = [f"{step.instruction[:50]} ({step.seconds:.1f}s)" for step in last_nbship.rebuilt]
    metadata = sum(s.seconds for s in last_nbship.steps if not s.changes_files and not s.cached)
    notes = [
        f"one comment line appended to services/{service}/{changed.parent.name}/__init__.py "
        "per repeat; both built with the legacy builder (no buildx here) from one snapshot",
        f"last nbship rebuild ({last_nbship.seconds:.1f}s): "
        + "; ".join(rebuilt)
        + f"; metadata-only steps (FROM, ARG, ENV, USER, CMD, ...) {metadata:.1f}s",
    ]
    return Result(
        name=NAME,
        title=TITLE,
        parameters={"service": service, "repeats": repeats, "changed_file": changed.name},
        metrics=[
            Metric("naive rebuild / nbship rebuild", round(speedup, 2), "x", MIN_SPEEDUP, ">="),
            Metric("nbship deps layer from cache", deps_cached, f"of {repeats}", repeats, ">="),
            Metric("nbship rebuild (median)", round(median["nbship"], 2), "s"),
            Metric("naive rebuild (median)", round(median["naive"], 2), "s"),
        ],
        raw={
            "seconds": seconds,
            "warm_seconds": {kind: r.seconds for kind, r in warm.items()},
            "nbship_deps_cached": deps_cached,
            "naive_deps_cached": naive_deps_cached,
            "steps": {kind: [vars(s) for s in done[-1].steps] for kind, done in runs.items()},
        },
        notes=notes,
    )
