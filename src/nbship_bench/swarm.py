"""The same releases on a three-node Swarm and on compose, under the same steady client.

A private registry holds VERSION (A) and B, A with a one-line change in inventory and billing
(bench.release's release). The two run on a private compose stack on this host, then on a private
three-node swarm of engines in network namespaces (nbship.cluster.local: this host's engine is
not touched; every node pulls from the registry). On each, while a client sends a read every
50 ms and an order every 100 ms through the gateway: `invoke deploy --version B`, then `invoke
rollback` back to A, each timed from the command's start until every service is healthy (the
command returns then). Failed requests are those sent from a phase's start until a second after
its end that got no 200; every order answered 200 must end up in billing_db.

Then, on the swarm only, a worker is drained (its tasks move to the others) and another is
killed (network cut, engine and containers killed): the seconds until the apps run two tasks
again elsewhere, and the requests that failed meanwhile.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import semver

from nbship import envfile
from nbship.cluster.local import LocalCluster, Node
from nbship.deploy import stack as deploying
from nbship.errors import NbshipError
from nbship.registry.client import Registry
from nbship_bench import build
from nbship_bench import release as releases
from nbship_bench.results import Metric, Result
from nbship_bench.stack import free_port

NAME = "swarm"
TITLE = "Rollback on a three-node Swarm beside compose, a node drained and a node lost"
PROJECT = "nbship-bench-swarm"
CLUSTER = LocalCluster("nbbench", 3, "10.216.0")
MAX_SWARM_ROLLBACK_SECONDS = 10.0
APPS = ("inventory-app", "billing-app")
# The pre-release part of the version this benchmark makes (0.1.0-swarm.1).
RELEASE_TAG = "swarm."


class SwarmBench(releases.Bench):
    """bench.release's Bench pointed at a stack on the cluster's manager."""

    def __init__(self, bench: releases.Bench, cluster: LocalCluster) -> None:
        state_dir = bench.stack.state_dir
        stack = deploying.Stack(
            project=PROJECT,
            gateway_port=free_port(),
            state_dir=state_dir,
            env_file=state_dir / "swarm.env",
            orchestrator="swarm",
        )
        super().__init__(bench.registry, stack)
        self.cluster = cluster

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "INVOKE_NBSHIP_ORCHESTRATOR": "swarm"}

    def nodes_of(self, service: str) -> list[str]:
        rows = self.cluster.manager.docker(
            "service", "ps", f"{PROJECT}_{service}", "--filter", "desired-state=running",
            "--format", "{{.Node}} {{.CurrentState}}",
        ).stdout.splitlines()  # fmt: skip
        return [row.split()[0] for row in rows if " Running" in row]

    def busy_worker(self) -> Node:
        """A worker running an app task (Swarm decides which; one always does: each app's two
        tasks run on two nodes, and only one of them is the manager)."""
        running = {node for app in APPS for node in self.nodes_of(app)}
        busy = [node for node in self.cluster.nodes[1:] if node.name in running]
        if not busy:
            raise NbshipError(f"no worker runs an app task (they run on {sorted(running)})")
        return busy[0]

    def stored(self, message_ids: list[str]) -> int:
        label = f"label=com.docker.swarm.service.name={PROJECT}_billing-db"
        container = self.cluster.manager.docker("ps", "-q", "--filter", label).stdout.split()
        if not container:
            return 0
        user = envfile.parse(self.stack.env_file)["BILLING_DB_USER"]
        found = self.cluster.manager.docker(
            "exec", container[0], "psql", "-U", user, "-d", "billing_db", "-At",
            "-c", "SELECT message_id FROM orders",
        ).stdout.split()  # fmt: skip
        return len(set(message_ids) & set(found))


@contextmanager
def _docker_host(address: str) -> Iterator[None]:
    """DOCKER_HOST=ADDRESS for this process and the commands it runs, restored afterwards."""
    before = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = address
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = before


def _steady_client(bench: releases.Bench, title: str) -> releases.SteadyClient:
    """A client (not started yet) reading a movie it creates, titled TITLE, through BENCH's
    gateway, and ordering; BENCH's phases count what it sends."""
    movie = requests.post(
        f"{bench.stack.gateway_url}/api/movies",
        json={"title": title, "description": "bench"},
        timeout=10,
    )
    movie.raise_for_status()
    bench.client = releases.SteadyClient(bench.stack.gateway_url, movie.json()["id"])
    return bench.client


def _release_and_rollback(
    bench: releases.Bench, b: semver.Version, stored: Callable[[list[str]], int]
) -> tuple[releases.Phase, releases.Phase, int, int]:
    """Deploy B and roll back under a steady client: both phases, orders accepted and lost."""
    client = _steady_client(bench, "Read through a release")
    client.start()
    try:
        time.sleep(2)
        began = time.monotonic()
        deploy = bench.phase(
            "deploy", {"deploy": bench.invoke("deploy", "--version", str(b))}, began
        )
        began = time.monotonic()
        rollback = bench.phase("rollback", {"rollback": bench.invoke("rollback")}, began)
    finally:
        client.stop()
    return deploy, rollback, len(client.accepted), _lost(client.accepted, stored)


def _lost(accepted: list[str], stored: Callable[[list[str]], int]) -> int:
    """Orders answered 200 not in billing_db once billing caught up (up to 3 minutes: an order a
    lost node held is delivered again only once the broker notices)."""
    deadline = time.monotonic() + 180
    while (found := stored(accepted)) < len(accepted) and time.monotonic() < deadline:
        time.sleep(2)
    return len(accepted) - found


def _moved(bench: SwarmBench, node: str, act: Callable[[], object]) -> releases.Phase:
    """ACT on NODE under a steady client; the phase lasts until both apps run two tasks again,
    none on NODE."""
    client = bench.client
    assert client is not None
    began = time.monotonic()
    act()
    deadline = began + 300
    while time.monotonic() < deadline:
        placed = [bench.nodes_of(app) for app in APPS]
        if all(len(nodes) == 2 and node not in nodes for nodes in placed):
            break
        time.sleep(0.5)
    return bench.phase(f"{node} out", {}, began)


def _node_loss(bench: SwarmBench) -> tuple[releases.Phase, releases.Phase, int, int]:
    """Drain a worker, then kill another, under a steady client."""
    client = _steady_client(bench, "Read through a node loss")
    manager = bench.cluster.manager
    client.start()
    try:
        time.sleep(2)
        drained = bench.busy_worker()
        drain = _moved(
            bench,
            drained.name,
            lambda: manager.docker("node", "update", "--availability", "drain", drained.name),
        )
        manager.docker("node", "update", "--availability", "active", drained.name)
        killed = bench.busy_worker()
        kill = _moved(bench, killed.name, lambda: bench.cluster.kill(killed))
    finally:
        client.stop()
    return drain, kill, len(client.accepted), _lost(client.accepted, bench.stored)


def run(version: semver.Version) -> Result:
    a, b = version, version.replace(prerelease=f"{RELEASE_TAG}1")
    with (
        tempfile.TemporaryDirectory(prefix="nbship-bench-") as tmp,
        releases.private_setup(a, PROJECT) as bench,
    ):
        registry = Registry(bench.registry.address)
        shots = {s: build.snapshot(s, Path(tmp) / s) for s in releases.CHANGED}
        print(f"nbship: building release {b} (a one-line change in {', '.join(releases.CHANGED)})")
        releases.publish(
            registry, bench.running(), b, releases.build_changed(shots, b, "swarm edit")
        )
        print("nbship: on compose")
        compose = _release_and_rollback(bench, b, lambda ids: releases.stored(bench, ids))
        cluster = LocalCluster(CLUSTER.name, CLUSTER.size, CLUSTER.subnet, (bench.registry.port,))
        cluster.up()
        try:
            with _docker_host(cluster.manager.docker_host):
                swarm = SwarmBench(bench, cluster)
                print(f"nbship: on a {cluster.size}-node swarm")
                swarm.invoke("deploy", "--version", str(a))
                on_swarm = _release_and_rollback(swarm, b, swarm.stored)
                lost_nodes = _node_loss(swarm)
        finally:
            cluster.down()
        load = os.getloadavg()
    return _result(version, compose, on_swarm, lost_nodes, load)


def _result(
    version: semver.Version,
    compose: tuple[releases.Phase, releases.Phase, int, int],
    swarm: tuple[releases.Phase, releases.Phase, int, int],
    nodes: tuple[releases.Phase, releases.Phase, int, int],
    load: tuple[float, float, float],
) -> Result:
    c_deploy, c_rollback, c_accepted, c_lost = compose
    s_deploy, s_rollback, s_accepted, s_lost = swarm
    drain, kill, n_accepted, n_lost = nodes
    return Result(
        name=NAME,
        title=TITLE,
        parameters={
            "version": str(version),
            "nodes": CLUSTER.size,
            "read_every_s": releases.READ_EVERY,
            "order_every_s": releases.ORDER_EVERY,
            "changed": list(releases.CHANGED),
        },
        metrics=[
            Metric(
                "swarm rollback to healthy",
                round(s_rollback.seconds, 2),
                "s",
                MAX_SWARM_ROLLBACK_SECONDS,
            ),
            Metric(
                "compose rollback to healthy (same releases)", round(c_rollback.seconds, 2), "s"
            ),
            Metric("swarm deploy to healthy", round(s_deploy.seconds, 2), "s"),
            Metric(
                "failed requests, swarm deploy + rollback",
                len(s_deploy.failed) + len(s_rollback.failed),
                "",
                0,
            ),
            Metric(
                "failed requests, compose deploy + rollback",
                len(c_deploy.failed) + len(c_rollback.failed),
                "",
                0,
            ),
            Metric("failed requests, worker drained", len(drain.failed), "", 0),
            Metric("worker drained: apps on two nodes again", round(drain.seconds, 2), "s"),
            Metric("worker killed: apps on two nodes again", round(kill.seconds, 2), "s"),
            Metric("failed requests, worker killed", len(kill.failed), f"of {kill.sent}"),
            Metric(
                "orders lost",
                c_lost + s_lost + n_lost,
                f"of {c_accepted + s_accepted + n_accepted}",
                0,
            ),
        ],
        raw={
            "phases": {
                f"{where} {phase.name}": phase.summary()
                for where, phase in [
                    ("compose", c_deploy),
                    ("compose", c_rollback),
                    ("swarm", s_deploy),
                    ("swarm", s_rollback),
                    ("swarm", drain),
                    ("swarm", kill),
                ]
            },
            "orders": {
                "compose": [c_accepted, c_lost],
                "swarm releases": [s_accepted, s_lost],
                "swarm nodes": [n_accepted, n_lost],
            },
            "load_average_after": [round(x, 2) for x in load],
        },
        notes=[
            f"release {version.replace(prerelease=f'{RELEASE_TAG}1')} is {version} with "
            "inventory and billing rebuilt after a one-line change; the gateway, databases and "
            "broker keep their digests. On the swarm inventory and billing run two tasks each, "
            "spread over three engines in network namespaces of this machine; the rest run on "
            "the manager",
            "a rollback is timed from `invoke rollback` to its return, once every service is "
            "healthy; the phases' failed requests include a second after each command",
            f"load average after the run: {', '.join(f'{x:.2f}' for x in load)} "
            f"(the machine is shared: {os.cpu_count()} cores)",
        ],
    )


def cleanup() -> None:
    """Untag the images this benchmark built and pushed: tags of its release only."""
    releases.cleanup(RELEASE_TAG)
