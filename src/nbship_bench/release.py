"""Releases under load: deploy, roll back, roll forward, rebuild from source, and the edit loop.

A private stack (its own compose project, loopback port, state directory and registry, all
removed afterwards) runs VERSION (A). Release B is A with a one-line change in inventory and in
billing: those two images are rebuilt, the gateway, databases and broker keep A's digests (a
release is a set of digests). While a steady client sends a read every 50 ms and an order every
100 ms through the gateway's published port, the run times, as a user types them:

1. `invoke deploy --version B` (a new version);
2. `invoke rollback` (back to A: the figure the README promises "in seconds");
3. `invoke rollback --to B` (a roll-forward);
4. the rebuild path to A: `invoke build --version A`, `invoke push --version A` and
   `invoke deploy --version A`, what returning to A costs without the ledger's digests;
5. the edit loop: one more line in inventory, build that image, push release C, deploy it.

Each phase's failed requests are the ones sent between its start and a second after its end that
got no 200. Every order answered 200 carries its message id; at the end each one must be a row
in billing_db (an order lost is one the gateway accepted and billing never stored).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
import semver

from nbship import catalogue, docker, envfile
from nbship.build import images
from nbship.deploy import stack as deploying
from nbship.errors import NbshipError
from nbship.paths import BUILD, COMPOSE_FILE, ROOT
from nbship.registry.client import Registry
from nbship.registry.local import LocalRegistry
from nbship.registry.push import push
from nbship.version import docker_tag
from nbship_bench import build
from nbship_bench.loadgen import order
from nbship_bench.results import Metric, Result
from nbship_bench.stack import free_port

NAME = "release"
TITLE = "Deploy, rollback, roll-forward and the edit loop under steady load"
PROJECT = "nbship-bench-release"
READ_EVERY, ORDER_EVERY = 0.05, 0.1
# A slow answer on a busy machine is not a dropped request: only no answer in this long is.
TIMEOUT_SECONDS = 30
# Requests sent this long after a command returned still count towards it.
SETTLE_SECONDS = 1.0
MAX_ROLLBACK_SECONDS = 5.0
MIN_SPEEDUP = 10.0
MAX_LOOP_SECONDS = 20.0
# The services a release rebuilds, by service folder.
CHANGED = ("inventory", "billing")
LOOP_SERVICE = "inventory"
# The pre-release part of the versions this benchmark makes (0.1.0-release.1, ...).
RELEASE_TAG = "release."


@dataclass(frozen=True)
class Sent:
    """One request of the steady client: what, when (monotonic), and whether it got a 200."""

    kind: str
    at: float
    ok: bool
    detail: str


@dataclass
class SteadyClient:
    """Reads and orders through the gateway at a steady pace, on two threads."""

    url: str
    movie_id: int
    sent: list[Sent] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for target in (self._reads, self._orders):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def failed(self, start: float, end: float) -> list[Sent]:
        return [s for s in self.sent if start <= s.at <= end and not s.ok]

    def count(self, start: float, end: float) -> int:
        return sum(start <= s.at <= end for s in self.sent)

    def _paced(self, every: float, send: Callable[[requests.Session, int], None]) -> None:
        session = requests.Session()
        number = 0
        while not self._stop.is_set():
            began = time.monotonic()
            send(session, number)
            number += 1
            self._stop.wait(max(0.0, every - (time.monotonic() - began)))

    def _record(
        self, kind: str, at: float, call: Callable[[], requests.Response]
    ) -> requests.Response | None:
        try:
            response = call()
        except requests.RequestException as exc:
            self.sent.append(Sent(kind, at, False, type(exc).__name__))
            return None
        self.sent.append(Sent(kind, at, response.status_code == 200, str(response.status_code)))
        return response

    def _reads(self) -> None:
        def read(session: requests.Session, _number: int) -> None:
            url = f"{self.url}/api/movies/{self.movie_id}"
            self._record(
                "read", time.monotonic(), lambda: session.get(url, timeout=TIMEOUT_SECONDS)
            )

        self._paced(READ_EVERY, read)

    def _orders(self) -> None:
        def post(session: requests.Session, number: int) -> None:
            url, body = f"{self.url}/api/billing", order(number)
            answer = self._record(
                "order",
                time.monotonic(),
                lambda: session.post(url, json=body, timeout=TIMEOUT_SECONDS),
            )
            if answer is not None and answer.status_code == 200:
                self.accepted.append(answer.json()["message_id"])

        self._paced(ORDER_EVERY, post)


@dataclass(frozen=True)
class Phase:
    """One timed step and what the steady client saw meanwhile."""

    name: str
    seconds: float
    steps: dict[str, float]
    sent: int
    failed: list[Sent]

    def summary(self) -> dict[str, object]:
        details: dict[str, int] = {}
        for failure in self.failed:
            key = f"{failure.kind} {failure.detail}"
            details[key] = details.get(key, 0) + 1
        return {
            "seconds": round(self.seconds, 2),
            "steps": {k: round(v, 2) for k, v in self.steps.items()},
            "requests": self.sent,
            "failed": len(self.failed),
            "failures": details,
        }


class Bench:
    """The private registry and stack of one run, and the commands a user would type."""

    def __init__(self, registry: LocalRegistry, stack: deploying.Stack) -> None:
        self.registry = registry
        self.stack = stack
        self.client: SteadyClient | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "INVOKE_NBSHIP_REGISTRY": self.registry.address,
            "INVOKE_NBSHIP_REGISTRY_PROJECT": self.registry.project,
            "INVOKE_NBSHIP_REGISTRY_VOLUME": self.registry.volume,
            "INVOKE_NBSHIP_PROJECT": self.stack.project,
            "INVOKE_NBSHIP_GATEWAY_PORT": str(self.stack.gateway_port),
            "INVOKE_NBSHIP_STATE_DIR": str(self.stack.state_dir),
            "INVOKE_NBSHIP_ENV_FILE": str(self.stack.env_file),
        }

    def invoke(self, *args: str) -> float:
        """Run `invoke ARGS` as a user would; its seconds, or stop with its last lines."""
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "invoke", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - started
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
            raise NbshipError(f"invoke {' '.join(args)} failed: {' | '.join(tail)}")
        return seconds

    def running(self) -> dict[str, str]:
        """The images of the release the stack runs now, by digest."""
        current = self.stack.ledger.current()
        assert current is not None
        return current.images

    def phase(self, name: str, steps: dict[str, float], started: float) -> Phase:
        """What the client saw from STARTED until SETTLE_SECONDS after now."""
        ended = time.monotonic()
        time.sleep(SETTLE_SECONDS)
        assert self.client is not None
        window = (started, ended + SETTLE_SECONDS)
        phase = Phase(
            name, ended - started, steps, self.client.count(*window), self.client.failed(*window)
        )
        print(f"  {name}: {phase.seconds:.1f}s, {len(phase.failed)} of {phase.sent} failed")
        return phase


def _registry_ref(registry: Registry, image: catalogue.Image, version: semver.Version) -> str:
    return f"{registry.remote(image.repository)}:{docker_tag(version)}"


def publish(
    registry: Registry, running: dict[str, str], version: semver.Version, built: dict[str, str]
) -> None:
    """Push release VERSION: the images in BUILT (image name -> local ref), and for the rest
    what the stack RUNS (image name -> ref by digest, from its ledger).

    An unchanged image is pushed under the new tag with its digest unchanged: only a manifest
    goes over the wire. Taken by digest, not from a local version tag, which another build on
    a shared engine may move meanwhile.
    """
    for image in catalogue.IMAGES:
        source = built.get(image.name) or running[image.name]
        target = _registry_ref(registry, image, version)
        docker.docker("tag", source, target)
        docker.docker("push", "--quiet", target)


def build_changed(
    shots: dict[str, build.Snapshot], version: semver.Version, edit: str
) -> dict[str, str]:
    """Append EDIT to each snapshot's package and build its image; image name -> local ref."""
    built = {}
    for service, shot in shots.items():
        init = sorted((shot.context / "services" / service).glob("*/__init__.py"))[0]
        with init.open("a", encoding="utf-8") as handle:
            handle.write(f"# {edit} {uuid.uuid4().hex}\n")
        ref = f"{build.REPOSITORY}/{service}:{docker_tag(version)}"
        arguments = {
            "PYTHON_BUILD": images.PYTHON_BUILD,
            "PYTHON_RUNTIME": images.PYTHON_RUNTIME,
            "NBSHIP_VERSION": str(version),
            "NBSHIP_GIT_SHA": "bench",
        }
        build.docker_build(shot.dockerfile("nbship"), shot.context, ref, arguments)
        built[build.service_image(service).name] = ref
    return built


def stored(bench: Bench, message_ids: list[str]) -> int:
    """How many of MESSAGE_IDS are rows of billing_db's orders table."""
    if not message_ids:
        return 0
    current = bench.stack.ledger.current()
    assert current is not None
    user = envfile.parse(bench.stack.env_file)["BILLING_DB_USER"]
    values = ",".join(f"('{m}'::uuid)" for m in message_ids)
    sql = f"SELECT count(*) FROM orders JOIN (VALUES {values}) AS ids(id) ON message_id = ids.id;"
    psql = ["psql", "-U", user, "-d", "billing_db", "-At", "-f", "-"]
    command = [*docker.compose_command(), "-f", str(COMPOSE_FILE), "-p", bench.stack.project]
    result = docker.run(
        [*command, "exec", "-T", "billing-db", *psql],
        env=bench.stack.environment(current.images),
        capture=True,
        input=sql,
    )
    return int(result.stdout.strip() or 0)


@contextmanager
def private_setup(version: semver.Version, project: str = PROJECT) -> Iterator[Bench]:
    """A private registry holding VERSION and a compose stack PROJECT running it; both removed
    afterwards."""
    docker.ensure_daemon()
    images.require_local(version, [image.name for image in catalogue.IMAGES])
    registry = LocalRegistry(
        port=free_port(), project=f"{project}-registry", volume=f"{project}-registry-data"
    )
    state_dir = BUILD / f"{project}-state"
    stack = deploying.Stack(
        project=project,
        gateway_port=free_port(),
        state_dir=state_dir,
        env_file=state_dir / "stack.env",
    )
    registry.up()
    try:
        push(Registry(registry.address), version)
        deploying.deploy(stack, Registry(registry.address), version)
        yield Bench(registry, stack)
    finally:
        current = stack.ledger.current()
        pinned = current.images if current else {i.name: "none" for i in catalogue.IMAGES}
        print(f"nbship: removing stack {project!r} and its registry")
        stack.compose(pinned, "down", "--volumes", "--remove-orphans", check=False)
        registry.down(remove_data=True)
        shutil.rmtree(state_dir / project, ignore_errors=True)


def run(version: semver.Version) -> Result:
    """Run the five phases under steady load against a private stack of VERSION."""
    a = version
    b = version.replace(prerelease=f"{RELEASE_TAG}1")
    c = version.replace(prerelease=f"{RELEASE_TAG}2")
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="nbship-bench-") as tmp, private_setup(a) as bench:
        registry = Registry(bench.registry.address)
        shots = {s: build.snapshot(s, Path(tmp) / s) for s in CHANGED}
        print(f"nbship: building release {b} (a one-line change in {', '.join(CHANGED)})")
        publish(registry, bench.running(), b, build_changed(shots, b, "release edit"))
        movie = requests.post(
            f"{bench.stack.gateway_url}/api/movies",
            json={"title": "Read through every release", "description": "bench"},
            timeout=10,
        )
        movie.raise_for_status()
        client = SteadyClient(bench.stack.gateway_url, movie.json()["id"])
        bench.client = client
        client.start()
        try:
            time.sleep(2)  # the client's own connections warm
            began = time.monotonic()
            seconds = bench.invoke("deploy", "--version", str(b))
            phases.append(bench.phase("deploy new version", {"deploy": seconds}, began))
            began = time.monotonic()
            seconds = bench.invoke("rollback")
            phases.append(bench.phase("rollback", {"rollback": seconds}, began))
            began = time.monotonic()
            seconds = bench.invoke("rollback", "--to", str(b))
            phases.append(bench.phase("roll-forward", {"rollback --to": seconds}, began))
            began = time.monotonic()
            steps = {
                "build": bench.invoke("build", "--version", str(a)),
                "push": bench.invoke("push", "--version", str(a), "--force"),
                "deploy": bench.invoke("deploy", "--version", str(a)),
            }
            phases.append(bench.phase("rebuild from source", steps, began))
            began = time.monotonic()
            loop_shot = {LOOP_SERVICE: shots[LOOP_SERVICE]}
            steps = {}
            mark = time.monotonic()
            built = build_changed(loop_shot, c, "loop edit")
            steps["build"] = time.monotonic() - mark
            mark = time.monotonic()
            publish(registry, bench.running(), c, built)
            steps["push"] = time.monotonic() - mark
            steps["deploy"] = bench.invoke("deploy", "--version", str(c))
            phases.append(bench.phase("edit loop", steps, began))
        finally:
            client.stop()
        lost = _lost_orders(bench, client.accepted)
        load = os.getloadavg()
    return _result(version, phases, len(client.accepted), lost, load)


def _lost_orders(bench: Bench, accepted: list[str]) -> int:
    """Orders answered 200 that are not in billing_db once billing has caught up (60 s)."""
    deadline = time.monotonic() + 60
    while True:
        found = stored(bench, accepted)
        if found == len(accepted) or time.monotonic() > deadline:
            return len(accepted) - found
        time.sleep(1)


def _result(
    version: semver.Version,
    phases: list[Phase],
    accepted: int,
    lost: int,
    load: tuple[float, float, float],
) -> Result:
    by = {phase.name: phase for phase in phases}
    rollback, rebuild = by["rollback"], by["rebuild from source"]
    same_gateway = [by["deploy new version"], rollback, by["roll-forward"], by["edit loop"]]
    failed_same_gateway = sum(len(p.failed) for p in same_gateway)
    return Result(
        name=NAME,
        title=TITLE,
        parameters={
            "version": str(version),
            "read_every_s": READ_EVERY,
            "order_every_s": ORDER_EVERY,
            "changed": list(CHANGED),
            "loop_service": LOOP_SERVICE,
        },
        metrics=[
            Metric("rollback to healthy", round(rollback.seconds, 2), "s", MAX_ROLLBACK_SECONDS),
            Metric(
                "rebuild path / rollback",
                round(rebuild.seconds / rollback.seconds, 1),
                "x",
                MIN_SPEEDUP,
                ">=",
            ),
            Metric("rebuild from source to healthy", round(rebuild.seconds, 2), "s"),
            Metric("failed requests, gateway unchanged", failed_same_gateway, "", 0),
            Metric("failed requests, rebuild path", len(rebuild.failed), ""),
            Metric("orders lost", lost, f"of {accepted}", 0),
            Metric("deploy of a new version", round(by["deploy new version"].seconds, 2), "s"),
            Metric("roll-forward", round(by["roll-forward"].seconds, 2), "s"),
            Metric(
                "edit loop (build, push, deploy)",
                round(by["edit loop"].seconds, 2),
                "s",
                MAX_LOOP_SECONDS,
            ),
        ],
        raw={
            "phases": {phase.name: phase.summary() for phase in phases},
            "orders_accepted": accepted,
            "orders_lost": lost,
            "load_average_after": [round(x, 2) for x in load],
        },
        notes=[
            f"release {version.replace(prerelease='release.1')} is {version} with inventory and "
            "billing rebuilt after a one-line change; the gateway, databases and broker keep "
            f"their digests. Rebuild path: invoke build, push --force, deploy of {version} "
            "from this tree with the build cache warm",
            f"load average after the run: {', '.join(f'{x:.2f}' for x in load)} "
            f"(the machine is shared: {os.cpu_count()} cores)",
        ],
    )


def cleanup(release_tag: str = RELEASE_TAG) -> None:
    """Untag the images this benchmark built and pushed: tags of its releases only (their
    pre-release part starts with RELEASE_TAG)."""
    listed = docker.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", check=False)
    ours = [ref for ref in listed.stdout.split() if release_tag in ref.rsplit(":", 1)[-1]]
    build.remove_images(ours)
