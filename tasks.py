"""nbship's tasks: `invoke --list` shows them, `invoke TASK --help` explains each flag.

This file only assembles the collections; the logic lives in the nbship package (src/nbship).
"""

from invoke.collection import Collection

from nbship.tasks import _common, bench, image, nb, project, registry, release, version

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
)
ns.add_collection(bench.ns)
ns.add_collection(image.ns)
ns.add_collection(nb.ns)
ns.add_collection(registry.ns)
ns.add_collection(version.ns)
# Sub-collections' defaults are merged here too, so root tasks (demo) that call them see them.
ns.configure({"nbship": _common.DEFAULTS, **nb.ns.configuration()})
