"""cluster.*: a Swarm of Docker Engines on this machine, to deploy to across nodes.

The engines run in network namespaces of their own (nbship.cluster.local): this host's engine,
its swarm state and the stacks running on it are not touched.
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from nbship.tasks import _common as common
from nbship.tasks._common import task

SHAPE_HELP = {
    "size": "number of engines: node 1 is the manager, the others workers (default 3)",
    "name": "cluster name, 1-8 lowercase letters/digits; names its namespaces (default nbship)",
    "subnet": "first three numbers of a private /24 only this machine uses (default 10.213.0)",
}


@task(help=SHAPE_HELP)
def up(c: Context, size: int = 0, name: str = "", subnet: str = "") -> None:
    """Start a swarm of engines in network namespaces (needs root, iproute2 and socat).

    Each engine starts with an empty image store and pulls what it runs from the configured
    registry on this host. Prints the nodes and the DOCKER_HOST that deploys to them.
    """
    cluster = common.local_cluster(c, size=size, name=name, subnet=subnet)
    cluster.up()
    for line in cluster.describe():
        print(f"  {line}")


@task(help={"name": SHAPE_HELP["name"]})
def down(c: Context, name: str = "") -> None:
    """Stop the cluster's engines and remove their namespaces, bridge and image stores."""
    cluster = common.local_cluster(c, name=name)
    cluster.down()
    print(f"nbship: cluster {cluster.name} removed")


@task(help={"name": SHAPE_HELP["name"]})
def status(c: Context, name: str = "") -> None:
    """Each node of the cluster: role, address, swarm state, containers and images."""
    cluster = common.local_cluster(c, name=name)
    for line in cluster.describe():
        print(line)


ns = Collection("cluster", up, down, status)
