"""The `nbship` command: every task of the pipeline, the same ones `invoke` runs from tasks.py.

`pip install .` installs this as the `nbship` console script; in a clone, `./nbship` and
`invoke` (which reads tasks.py, a one-line re-export of `ns`) run the same collection. The
benchmarks (`bench.*`) are development tools outside the wheel: they appear only where the
`nbship_bench` package can be imported, which is a source checkout.
"""

from __future__ import annotations

import importlib.util

from invoke.collection import Collection
from invoke.program import Program

from nbship.tasks import _common, cluster, data, image, nb, project, registry, release, version


def namespace() -> Collection:
    """Every task, with nbship's defaults configured once at the root."""
    ns = Collection(
        project.demo,
        project.test,
        project.lock,
        project.lint,
        release.build,
        release.push,
        release.promote,
        release.deploy,
        release.rollback,
        release.down,
        release.releases,
        release.status,
        data.snapshot,
        data.snapshots,
        data.restore,
    )
    if importlib.util.find_spec("nbship_bench") is not None:
        from nbship.tasks import bench

        ns.add_collection(bench.ns)
    for collection in (cluster.ns, image.ns, nb.ns, registry.ns, version.ns):
        ns.add_collection(collection)
    # Sub-collections' defaults are merged here too, so root tasks (demo) that call them see them.
    ns.configure({"nbship": _common.DEFAULTS, **nb.ns.configuration()})
    return ns


_common.prepare_cli()
ns = namespace()


def main() -> None:
    """Entry point of the `nbship` console script."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        shown = installed_version("nbship")
    except PackageNotFoundError:  # run from a source tree, not installed
        shown = "source"
    Program(namespace=ns, version=shown, name="nbship", binary="nbship").run()
