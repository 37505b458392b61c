"""The same compose file on a real multi-node Swarm: three engines in network namespaces of their
own (nbship.cluster.local), a manager and two workers with empty image stores that pull every
image from the registry. Deployed pinned by digest and spread over the nodes, updated and rolled
back under a steady client, a worker drained and a worker killed, an unhealthy release replaced,
and taken down; this host's engine, its swarm state and the compose stack on it untouched."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from polling import eventually

from conftest import APPS, APPS_ONLY, push_apps_only_release, stack_env
from nbship.catalogue import IMAGES, stack_services
from nbship.cluster.local import LocalCluster, Node
from nbship.deploy.stack import Stack
from nbship.deploy.swarm import stack_file, swarm_state
from nbship.errors import NbshipError
from nbship.registry.local import LocalRegistry
from nbship.registry.push import login
from nbship_bench.release import SteadyClient
from nbship_bench.stack import free_port

pytestmark = pytest.mark.integration

V1, V2 = "0.1.0", "0.2.0"
# The test cluster's names and subnet: apart from a user's own (`invoke cluster.up`: nbship,
# 10.213.0), so a running one is left alone.
CLUSTER_NAME, CLUSTER_SUBNET = "nbtest", "10.214.0"
HOST_SWARM_STATE: dict[str, str] = {}


@pytest.fixture(scope="module")
def auth_registry(pipeline: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A second registry, with its login required, holding one image of V1; removed after."""
    local = LocalRegistry(
        port=free_port(),
        project=f"{pipeline.project}-authreg",
        volume=f"{pipeline.project}-authreg-data",
        auth_dir=tmp_path_factory.mktemp("authreg"),
    )
    local.up(auth=True)
    try:
        login(local.client())  # this host's docker CLI, as `invoke push` logs in
        ref = f"{local.address}/nbship/api-gateway-app:{V1}"
        subprocess.run(["docker", "tag", f"nbship/api-gateway-app:{V1}", ref], check=True)
        subprocess.run(["docker", "push", "--quiet", ref], check=True, capture_output=True)
        yield local
    finally:
        subprocess.run(["docker", "logout", local.address], capture_output=True)
        local.down(remove_data=True)


@pytest.fixture(scope="module")
def cluster(pipeline: Any, stack: Any, auth_registry: Any) -> Iterator[LocalCluster]:
    """Three engines in network namespaces, formed into a swarm, pulling from the pipeline's
    registry (and AUTH_REGISTRY); removed (engines, namespaces, image stores) afterwards. The
    compose STACK runs on this host's engine meanwhile, as a user's demo would."""
    HOST_SWARM_STATE.setdefault("before", swarm_state())
    ports = (pipeline.registry_port, auth_registry.port)
    made = LocalCluster(CLUSTER_NAME, 3, CLUSTER_SUBNET, ports)
    made.down()  # the test cluster an interrupted run may have left
    made.up()
    try:
        yield made
    finally:
        made.down()


@dataclass
class SwarmStack:
    """The test pipeline's CLI pointed at a stack of its own on the cluster's manager."""

    pipeline: Any
    cluster: LocalCluster
    project: str
    gateway_port: int

    @property
    def manager(self) -> Node:
        return self.cluster.manager

    @property
    def env(self) -> dict[str, str]:
        env_file = self.pipeline.state / f"{self.project}.env"
        return stack_env(
            self.project,
            self.gateway_port,
            env_file,
            INVOKE_NBSHIP_ORCHESTRATOR="swarm",
            DOCKER_HOST=self.manager.docker_host,
        )

    @property
    def gateway_url(self) -> str:
        # The gateway is pinned to the manager and publishes its port on the manager's node.
        return f"http://{self.manager.address}:{self.gateway_port}"

    def invoke(self, *args: str, check: bool = True, **env: str) -> Any:
        return self.pipeline.invoke(*args, check=check, **{**self.env, **env})

    def version(self) -> str:
        response = requests.get(f"{self.gateway_url}/version", timeout=5)
        response.raise_for_status()
        return str(response.json()["version"])

    def services(self) -> dict[str, str]:
        """Each service of the stack and the image its spec names."""
        rows = self._rows("stack", "services", self.project)
        return {row["Name"].removeprefix(f"{self.project}_"): row["Image"] for row in rows}

    def nodes_of(self, service: str) -> list[str]:
        """The nodes running SERVICE's tasks now, one entry per task."""
        rows = self._rows("stack", "ps", self.project, "--filter", "desired-state=running")
        named = f"{self.project}_{service}."
        return sorted(row["Node"] for row in rows if row["Name"].startswith(named))

    def volumes(self) -> list[str]:
        label = f"label=com.docker.stack.namespace={self.project}"
        return self.manager.docker("volume", "ls", "-q", "--filter", label).stdout.split()

    def orders(self) -> set[str]:
        """The message ids billing stored (billing-db is pinned to the manager)."""
        label = f"label=com.docker.swarm.service.name={self.project}_billing-db"
        ids = self.manager.docker("ps", "-q", "--filter", label).stdout.split()
        assert ids, "billing-db has no container on the manager"
        query = 'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAq -c "SELECT message_id FROM orders"'
        rows = self.manager.docker("exec", ids[0], "sh", "-c", query).stdout
        return set(rows.split())

    def _rows(self, *command: str) -> list[dict[str, str]]:
        out = self.manager.docker(*command, "--format", "{{json .}}", check=False).stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def swarm_stack(pipeline: Any, cluster: LocalCluster) -> Iterator[SwarmStack]:
    """A stack deployed on the cluster from the pipeline's registry; removed with its data."""
    stack = SwarmStack(pipeline, cluster, f"{pipeline.project}-swarm", free_port())
    try:
        yield stack
    finally:
        stack.invoke("down", "--remove-data", check=False)


def _steady(stack: SwarmStack, title: str) -> SteadyClient:
    movie = requests.post(
        f"{stack.gateway_url}/api/movies", json={"title": title, "description": "d"}, timeout=10
    )
    assert movie.status_code == 201, movie.text
    return SteadyClient(stack.gateway_url, movie.json()["id"])


def _no_failures(client: SteadyClient) -> None:
    failed = [(s.kind, s.detail) for s in client.sent if not s.ok]
    assert failed == [], f"{len(failed)} of {len(client.sent)} requests failed: {failed[:10]}"
    assert sum(s.kind == "order" for s in client.sent) > 10  # the client really ran throughout


def _busy_worker(stack: SwarmStack) -> Node:
    """A worker running an app task: one always does, as each app's two tasks run on two nodes
    and only one of them is the manager. Which one it is, Swarm decided."""
    running = {node for app in APPS for node in stack.nodes_of(app)}
    busy = [node for node in stack.cluster.nodes[1:] if node.name in running]
    assert busy, f"no worker runs an app task: {sorted(running)}"
    return busy[0]


def _moved_off(stack: SwarmStack, node: str, apps: tuple[str, ...] | list[str]) -> bool:
    """Whether each of APPS runs its two tasks again, none on NODE."""
    placed = [stack.nodes_of(app) for app in apps]
    return all(len(nodes) == 2 and node not in nodes for nodes in placed)


def _all_stored(stack: SwarmStack, client: SteadyClient) -> None:
    accepted = set(client.accepted)
    # An order a lost node's billing held unacknowledged is delivered again once the broker
    # notices (heartbeats): up to a minute or two.
    eventually(lambda: accepted <= stack.orders(), timeout=180, what="every accepted order stored")


def test_swarm_deploy_on_an_engine_outside_a_swarm_says_so_and_changes_nothing(
    pipeline: Any, tmp_path: Path
) -> None:
    """This host's engine is in no swarm (the cluster's engines are others): deploying to it on
    Swarm is refused before anything is written."""
    if swarm_state() != "inactive":
        pytest.skip("this engine is in a swarm of its own; CI's is not, and runs this test")
    result = pipeline.invoke(
        "deploy", "--version", V1, "--swarm", check=False,
        INVOKE_NBSHIP_PROJECT=f"{pipeline.project}-noswarm",
        INVOKE_NBSHIP_STATE_DIR=str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1
    assert "not a Swarm manager (swarm state: inactive)" in result.stderr
    assert "docker swarm init" in result.stderr
    assert not list(tmp_path.rglob("releases*.json"))


def test_stack_loader_accepts_the_compose_file_as_rendered_for_swarm(tmp_path: Path) -> None:
    stack = Stack(project="nbship-render-check", env_file=tmp_path / "stack.env")
    digest = "sha256:" + "0" * 64
    images = {image.name: f"localhost:5001/nbship/{image.name}@{digest}" for image in IMAGES}
    rendered = stack.compose(images, "config", "--format", "json")
    # docker stack config runs the stack loader itself, with no swarm needed.
    checked = subprocess.run(
        ["docker", "stack", "config", "--compose-file", "-"],
        input=stack_file(json.loads(rendered.stdout)),
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert "depends_on" not in checked.stdout and "security_opt" not in checked.stdout


def test_cluster_is_three_engines_with_empty_image_stores(cluster: LocalCluster) -> None:
    with pytest.raises(NbshipError, match=f"cluster {CLUSTER_NAME} is running already"):
        cluster.up()  # a second up leaves the running cluster alone
    listed = cluster.manager.docker("node", "ls", "--format", "{{.Hostname}} {{.Status}}").stdout
    assert sorted(listed.strip().splitlines()) == [f"{n.name} Ready" for n in cluster.nodes]
    for node in cluster.nodes:
        state = node.docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Images}}").stdout
        # A swarm member, with no image yet: whatever it runs later, it pulled.
        assert state.split() == ["active", "0"], (node.name, state)
    # This host's engine was not made part of it.
    assert swarm_state() == HOST_SWARM_STATE["before"]


def test_workers_pull_from_a_registry_with_auth_only_with_the_login_handed_over(
    cluster: LocalCluster, auth_registry: Any, tmp_path: Path
) -> None:
    ref = f"{auth_registry.address}/nbship/api-gateway-app:{V1}"
    worker = cluster.nodes[1]
    # A client with no login of its own (the engine has none: a CLI hands its login over).
    anonymous = {**os.environ, "DOCKER_CONFIG": str(tmp_path)}
    refused = subprocess.run(
        ["docker", "-H", worker.docker_host, "pull", ref],
        env=anonymous, capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode != 0 and "auth" in refused.stderr.lower(), refused.stderr
    # A service created with --with-registry-auth carries this host's login to the node.
    env = {**os.environ, "DOCKER_HOST": cluster.manager.docker_host}
    created = subprocess.run(
        ["docker", "service", "create", "--detach", "--with-registry-auth", "--name", "authcheck",
         "--constraint", f"node.hostname=={worker.name}", "--restart-condition", "none",
         "--entrypoint", "true", ref],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    try:
        eventually(
            lambda: (
                f"{auth_registry.address}/nbship/api-gateway-app"
                in worker.docker("images", "--format", "{{.Repository}}").stdout.split()
            ),
            timeout=60,
            what=f"{worker.name} pulled {ref}",
        )
    finally:
        cluster.manager.docker("service", "rm", "authcheck", check=False)


def test_deploy_across_nodes_by_digest_rollback_and_data(swarm_stack: SwarmStack) -> None:
    result = swarm_stack.invoke("deploy", "--version", V1)
    assert f"runs version {V1}" in result.stdout
    # Each database was started alone and migrated once, by a job, before any app started.
    for database in ("inventory-db", "billing-db"):
        assert f"started {database} on its own" in result.stdout
        assert f"migrating {database} to 0001" in result.stdout
    images = swarm_stack.services()
    assert set(images) == set(stack_services())
    registry = swarm_stack.pipeline.registry
    assert all(ref.startswith(registry) and "@sha256:" in ref for ref in images.values())

    # The stateless apps run two tasks on two different nodes; the rest on the manager.
    manager = swarm_stack.manager.name
    for app in APPS:
        nodes = swarm_stack.nodes_of(app)
        assert len(nodes) == 2 and len(set(nodes)) == 2, (app, nodes)
    for pinned in set(stack_services()) - set(APPS):
        assert swarm_stack.nodes_of(pinned) == [manager], pinned
    # A worker pulled what it runs from the registry, by digest: its store started empty.
    hosts = swarm_stack.nodes_of(APPS[0])
    worker = next(node for node in swarm_stack.cluster.nodes[1:] if node.name in hosts)
    pulled = worker.docker("images", "--digests", "--format", "{{.Digest}}").stdout
    assert images[APPS[0]].rpartition("@")[2] in pulled.split()

    status = swarm_stack.invoke("status")
    assert "NODE" in status.stdout
    for app in APPS:
        rows = [line for line in status.stdout.splitlines() if line.startswith(app)]
        assert {line.split()[-1] for line in rows} == set(swarm_stack.nodes_of(app)), rows
    shown = json.loads(swarm_stack.invoke("status", "--json").stdout)
    assert shown["problems"] == [] and all(each["node"] for each in shown["services"])

    swarm_stack.invoke("deploy", "--version", V2)
    assert swarm_stack.version() == V2
    url = f"{swarm_stack.gateway_url}/api/movies"
    written = {"title": "Written on the swarm", "description": "under 0.2.0"}
    movie = requests.post(url, json=written, timeout=10)
    assert movie.status_code == 201, movie.text

    started = time.monotonic()
    result = swarm_stack.invoke("rollback")
    print(f"rollback on swarm took {time.monotonic() - started:.1f}s")
    assert f"runs version {V1}" in result.stdout
    assert swarm_stack.version() == V1
    stored = requests.get(f"{url}/{movie.json()['id']}", timeout=10)
    assert (stored.status_code, stored.json()["title"]) == (200, "Written on the swarm")

    releases = swarm_stack.invoke("releases").stdout
    assert V1 in releases and V2 in releases and "rollback" in releases


def test_a_migration_runs_once_as_a_swarm_job_and_a_failed_one_says_why(
    swarm_stack: SwarmStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The release step a deploy runs before any app changes: here Alembic's `current` (the
    live revision) and a downgrade to a revision that does not exist, with the app's settings,
    on its network, and nothing left behind."""
    monkeypatch.setenv("DOCKER_HOST", swarm_stack.manager.docker_host)
    state = swarm_stack.pipeline.state
    stack = Stack(
        project=swarm_stack.project,
        gateway_port=swarm_stack.gateway_port,
        state_dir=state,
        env_file=state / f"{swarm_stack.project}.env",
        orchestrator="swarm",
    )
    live = stack.ledger.current()
    assert live is not None
    runtime = stack.runtime
    current = runtime.migrate(live.images, "inventory-db", "current")
    assert current.returncode == 0, current.stderr
    assert "0001" in current.stdout + current.stderr
    refused = runtime.migrate(live.images, "inventory-db", "downgrade", "nosuchrev")
    assert refused.returncode == 1
    assert "nosuchrev" in refused.stdout + refused.stderr
    assert "the migration job ended failed" in refused.stderr
    jobs = swarm_stack.manager.docker("service", "ls", "--format", "{{.Name}}").stdout
    assert "migrate" not in jobs
    assert swarm_stack.version() == V1  # the apps were not touched


def test_apps_updated_and_rolled_back_across_nodes_under_load(swarm_stack: SwarmStack) -> None:
    push_apps_only_release(swarm_stack.pipeline.registry)
    swarm_stack.invoke("deploy", "--version", V1)
    before = swarm_stack.services()
    client = _steady(swarm_stack, "Read through a rolling update")
    client.start()
    try:
        swarm_stack.invoke("deploy", "--version", APPS_ONLY)
        during = swarm_stack.services()
        swarm_stack.invoke("rollback")
    finally:
        client.stop()
    after = swarm_stack.services()
    for app in APPS:
        assert before[app] != during[app] and after[app] == before[app], app
        # Still spread: an update must not leave both tasks on the node that had room first.
        nodes = swarm_stack.nodes_of(app)
        assert len(nodes) == 2 and len(set(nodes)) == 2, (app, nodes)
    unchanged = set(before) - set(APPS)
    assert {s: during[s] for s in unchanged} == {s: before[s] for s in unchanged}
    _no_failures(client)
    _all_stored(swarm_stack, client)


def test_a_drained_worker_hands_its_tasks_over_without_a_failed_request(
    swarm_stack: SwarmStack,
) -> None:
    worker = _busy_worker(swarm_stack)
    client = _steady(swarm_stack, "Read through a drain")
    client.start()
    manager = swarm_stack.manager
    try:
        manager.docker("node", "update", "--availability", "drain", worker.name)
        eventually(
            lambda: _moved_off(swarm_stack, worker.name, APPS),
            timeout=120,
            what=f"the apps' tasks moved off {worker.name}",
        )
        time.sleep(2)  # requests after the move, too
    finally:
        client.stop()
        manager.docker("node", "update", "--availability", "active", worker.name)
    _no_failures(client)
    _all_stored(swarm_stack, client)


def test_unhealthy_release_on_swarm_is_replaced_by_the_previous_one(
    swarm_stack: SwarmStack, broken_release: str
) -> None:
    before = swarm_stack.services()
    result = swarm_stack.invoke(
        "deploy", "--version", broken_release, check=False, INVOKE_NBSHIP_WAIT_TIMEOUT="90"
    )
    assert result.returncode == 1
    assert "inventory-app" in result.stderr and f"restored {V1}" in result.stderr
    # Swarm paused the update when the new task failed: the gate stopped there, not at 90 s.
    assert "update paused" in result.stderr
    assert swarm_stack.services() == before
    assert swarm_stack.version() == V1
    assert "failed" in swarm_stack.invoke("releases").stdout


def test_a_killed_worker_loses_no_order(swarm_stack: SwarmStack) -> None:
    """A worker's engine dies (SIGKILL): Swarm finds the node down and starts its tasks on the
    others. Requests in flight to it may fail (counted, printed); no accepted order is lost."""
    victim = _busy_worker(swarm_stack)
    hosted = [app for app in APPS if victim.name in swarm_stack.nodes_of(app)]
    client = _steady(swarm_stack, "Read through a node loss")
    client.start()
    try:
        began = time.monotonic()
        swarm_stack.cluster.kill(victim)
        eventually(
            lambda: _moved_off(swarm_stack, victim.name, hosted),
            timeout=180,
            what=f"{victim.name}'s tasks running elsewhere",
        )
        recovered = time.monotonic() - began
        time.sleep(2)
    finally:
        client.stop()
    failed = [s for s in client.sent if not s.ok]
    print(
        f"worker {victim.name} killed: its tasks ran elsewhere after {recovered:.1f}s; "
        f"{len(failed)} of {len(client.sent)} requests failed meanwhile"
    )
    assert sum(s.kind == "order" for s in client.sent) > 10
    _all_stored(swarm_stack, client)


def test_down_keeps_the_data_unless_asked(swarm_stack: SwarmStack) -> None:
    swarm_stack.invoke("down")
    assert swarm_stack.services() == {}
    assert len(swarm_stack.volumes()) == 4  # both databases, the broker, the gateway's logs

    swarm_stack.invoke("down", "--remove-data")
    assert swarm_stack.volumes() == []


def test_the_host_engine_and_its_compose_stack_were_left_alone(
    cluster: LocalCluster, stack: Any
) -> None:
    """Last in this module: the cluster came and went beside the compose stack on this host's
    engine, which still resolves its services' names (a swarm left on this engine would break
    its embedded DNS) and answers."""
    cluster.down()
    assert not Path(f"/run/netns/{cluster.manager.name}").exists()
    assert swarm_state() == HOST_SWARM_STATE.get("before", "inactive")
    movies = requests.get(f"{stack.gateway_url}/api/movies", timeout=10)
    assert movies.status_code == 200, movies.text
