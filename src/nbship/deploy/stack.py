"""Deploying the stack pinned by digest, health-gated, and rolling it back.

A deploy resolves every image of a version to its digest in the registry before it touches the
running stack, then hands the pinned images to the stack's runtime: Docker Compose on this host
(`docker compose up`), or Docker Swarm (`docker stack deploy`, from the same compose file; see
nbship.swarm). When the new release does not become healthy, the previous release is started
again (or, for a first deploy, the stack is stopped), so the stack is never left half on one
version and half on another.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import semver

from nbship import docker, envfile
from nbship.catalogue import IMAGES, image_variable, stack_services
from nbship.deploy import naming, swarm
from nbship.deploy import schema as schemas
from nbship.deploy.ledger import Ledger, Release
from nbship.deploy.runtime import FAILED, Runtime
from nbship.deploy.snapshots import DEFAULT_KEEP, Snapshots, human_size, written_since
from nbship.errors import NbshipError
from nbship.paths import COMPOSE_FILE, ENV_EXAMPLE, ROOT
from nbship.registry import promote as promotion
from nbship.registry.client import Registry
from nbship.version import docker_tag, version_tags

# Where a stack can run: "compose" (Docker Compose on this host) or "swarm" (a Docker Swarm).
ORCHESTRATORS = ("compose", "swarm")


@dataclass(frozen=True)
class Stack:
    """One deployed stack: its project, published gateway port, local state and orchestrator."""

    project: str = "nbship"
    gateway_port: int = 3000
    state_dir: Path = ROOT / ".nbship"
    env_file: Path = ROOT / ".env"
    wait_timeout: int = 240
    orchestrator: str = "compose"
    snapshots_keep: int = DEFAULT_KEEP
    swarm_replicas: int = 2

    def __post_init__(self) -> None:
        if self.orchestrator not in ORCHESTRATORS:
            raise NbshipError(
                f"unknown orchestrator {self.orchestrator!r}: use one of {', '.join(ORCHESTRATORS)}"
            )
        if self.swarm_replicas < 1:
            raise NbshipError(f"swarm_replicas is {self.swarm_replicas}: run at least 1 task")

    @property
    def ledger(self) -> Ledger:
        # A Swarm stack and a compose project of one name are two deployments, two histories.
        name = "releases.json" if self.orchestrator == "compose" else "releases-swarm.json"
        return Ledger(self.state_dir / self.project / name)

    @property
    def snapshots(self) -> Snapshots:
        name = "snapshots" if self.orchestrator == "compose" else "snapshots-swarm"
        return Snapshots(self.state_dir / self.project / name, self.snapshots_keep)

    @property
    def runtime(self) -> Runtime:
        if self.orchestrator == "swarm":
            return swarm.SwarmRuntime(self)
        return ComposeRuntime(self)

    @property
    def gateway_url(self) -> str:
        """Where the gateway answers: this host on compose; on Swarm, the address of the node
        its task runs on (a manager of this machine's own swarm answers on 127.0.0.1 too)."""
        host = swarm.gateway_address(self.project) if self.orchestrator == "swarm" else None
        return f"http://{host or '127.0.0.1'}:{self.gateway_port}"

    def environment(self, images: dict[str, str]) -> dict[str, str]:
        settings = envfile.ensure(self.env_file, ENV_EXAMPLE)
        env = {**settings, "NBSHIP_GATEWAY_PORT": str(self.gateway_port)}
        env.update(naming.compose_variables(self.project))
        env.update({image_variable(name): ref for name, ref in images.items()})
        # A deploy migrates each database once, as a step before the apps start (the runtime's
        # migrate: a one-off container on compose, a job on Swarm): the apps do not.
        env["NBSHIP_MIGRATE_ON_START"] = "0"
        # Tasks per stateless app on Swarm (spread over the nodes); compose runs one of each.
        replicas = 1 if self.orchestrator == "compose" else self.swarm_replicas
        env["NBSHIP_APP_REPLICAS"] = str(replicas)
        return env

    def compose(
        self, images: dict[str, str], *args: str, capture: bool = True, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run docker compose for this stack with the given images pinned."""
        cmd = [*docker.compose_command(), "-f", str(COMPOSE_FILE), "-p", self.project, *args]
        return docker.run(cmd, env=self.environment(images), capture=capture, check=check)


# Replaced start-first on compose: a second container on the new image joins the service's DNS
# name beside the old one, which is stopped (and drains) only once the new one is healthy. The
# gateway holds the published port and the databases and broker their volumes, so two of one of
# them cannot run at once: compose replaces those stop-first.
START_FIRST = ("inventory-app", "billing-app")
# How often a deploy looks at the stack while it waits for it.
POLL_SECONDS = 0.5
# How long a container's own check must keep passing, over two looks or more, before a deploy
# counts it healthy: a container in a restart loop that answers once is not.
STEADY_SECONDS = 1.0


@dataclass(frozen=True)
class Container:
    """One container of a compose project, as `docker inspect` shows it."""

    id: str
    service: str
    config_hash: str
    status: str
    health: str
    started: str
    check: tuple[str, ...]

    @classmethod
    def from_inspect(cls, row: dict[str, Any]) -> Container:
        state, config = row["State"], row["Config"]
        test = (config.get("Healthcheck") or {}).get("Test") or []
        labels = config.get("Labels") or {}
        return cls(
            id=row["Id"],
            service=labels.get("com.docker.compose.service", ""),
            config_hash=labels.get("com.docker.compose.config-hash", ""),
            status=state["Status"],
            health=(state.get("Health") or {}).get("Status", ""),
            started=state.get("StartedAt", ""),
            # Only the exec form can be run again here; CMD-SHELL needs the image's shell.
            check=tuple(test[1:]) if test[:1] == ["CMD"] else (),
        )


class ComposeRuntime:
    """The stack as a Docker Compose project on this host."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        # Per container: the StartedAt it had and since when its check has passed without a
        # break, kept across looks so that a restart in between is noticed.
        self._seen: dict[str, tuple[str, float | None]] = {}

    def pull(self, images: dict[str, str]) -> None:
        # A digest names one image for ever: one already here needs no registry (a rollback
        # works with the registry down).
        if not all(docker.image_exists(ref) for ref in images.values()):
            self.stack.compose(images, "pull", "--quiet")

    def up(self, images: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Bring the stack to IMAGES; then the apps' containers take their names (naming.py)."""
        result = self._up(images)
        naming.settle(self.stack.project)
        return result

    def _up(self, images: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Replace inventory and billing start-first, then let compose do the rest (if any)."""
        containers = self.containers()
        wanted = self._config_hashes(images)
        moving = [s for s in START_FIRST if _replaceable(s, containers, wanted)]
        # An app whose database or broker changes too is replaced with them, stop-first.
        others = [c for c in containers if c.service not in START_FIRST]
        if moving and all(c.config_hash == wanted.get(c.service) for c in others):
            problem = self._start_first(images, moving, containers)
            if problem:
                return subprocess.CompletedProcess(["compose", "up"], 1, "", problem)
            containers = self.containers()
        running = {c.service for c in containers if c.status == "running"}
        current = all(c.config_hash == wanted.get(c.service) for c in containers)
        if current and running >= set(wanted):
            return subprocess.CompletedProcess(["compose", "up"], 0, "", "")
        result = self.stack.compose(images, "up", "--detach", "--remove-orphans", check=False)
        return self._start_stalled(result)

    def _start_stalled(
        self, result: subprocess.CompletedProcess[str]
    ) -> subprocess.CompletedProcess[str]:
        """Start what `compose up` created but gave up starting, once the rest is healthy.

        compose starts a container only after Docker has called its dependencies healthy, and
        gives up at the first "unhealthy": on a busy machine a check that times out is enough
        (seen at a load average of 50, the gateway left "created" for good). The container is
        complete; once every other container passes its own check here, it is started.
        """
        containers = self.containers()
        stalled = [c.id for c in containers if c.status == "created"]
        if not stalled:
            return result
        others = [c.id for c in containers if c.status != "created"]
        if self.wait(others, time.monotonic() + self.stack.wait_timeout):
            return result
        return docker.docker("start", *stalled, check=False)

    def _config_hashes(self, images: dict[str, str]) -> dict[str, str]:
        """What compose would label each service's container with for IMAGES (its config hash):
        a container with another one is replaced by `compose up`, one with this one is not."""
        out = self.stack.compose(images, "config", "--hash", "*").stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)

    def _start_first(
        self, images: dict[str, str], moving: list[str], before: list[Container]
    ) -> str:
        """Start MOVING's new containers beside the old, wait until they are healthy, then stop
        the old ones; what went wrong, or "" (the old containers keep running on a failure)."""
        scale = [arg for service in moving for arg in ("--scale", f"{service}=2")]
        started = self.stack.compose(
            images, "up", "--detach", "--no-deps", "--no-recreate", *scale, *moving, check=False
        )
        if started.returncode != 0:
            return started.stderr.strip() or "compose could not start the new containers"
        old = {c.id for c in before if c.service in moving}
        new = [c.id for c in self.containers() if c.service in moving and c.id not in old]
        if not new:
            return ""  # compose could not scale (a fixed container_name): stop-first it is
        problems = self.wait(new, time.monotonic() + self.stack.wait_timeout)
        if problems:
            docker.docker("rm", "--force", *new, check=False)
            return "; ".join(f"{p} (the new container never became healthy)" for p in problems)
        # Each old container gets its own stop_grace_period to drain: in-flight requests
        # finish, billing hands its unacknowledged messages back to the queue.
        docker.docker("stop", *old, check=False)
        docker.docker("rm", *old, check=False)
        return ""

    def wait(self, ids: list[str], deadline: float) -> list[str]:
        """Wait until the containers IDS look healthy twice in a row; what is not, at DEADLINE."""
        good_looks = 0
        while True:
            looks = [c for c in self.containers() if c.id in ids]
            bad = [f"{c.service} {state}" for c in looks if (state := self.state(c)) != "healthy"]
            bad += [f"{i[:12]} missing" for i in set(ids) - {c.id for c in looks}]
            good_looks = good_looks + 1 if not bad else 0
            if good_looks >= 2:
                return []
            if time.monotonic() > deadline:
                return bad
            time.sleep(POLL_SECONDS)

    def containers(self) -> list[Container]:
        """Every container of the project (one-off `run` containers aside), freshly inspected."""
        project = f"label=com.docker.compose.project={self.stack.project}"
        oneoff = "label=com.docker.compose.oneoff=False"
        ids = docker.docker("ps", "--all", "--quiet", "--filter", project, "--filter", oneoff)
        if not ids.stdout.split():
            return []
        found = docker.docker("container", "inspect", *ids.stdout.split(), check=False)
        # A container removed between the two calls is simply not there any more.
        rows = json.loads(found.stdout or "[]")
        return [Container.from_inspect(row) for row in rows]

    def state(self, container: Container) -> str:
        """The container's state: "healthy", or what it is instead.

        Docker runs a container's check every few seconds; while it says anything but
        "healthy" (starting, or unhealthy after checks that timed out on a busy machine), the
        same check is run here too, so a deploy notices readiness within a look. Either way a
        container counts only once its check has kept passing for STEADY_SECONDS, on one start.
        """
        now = time.monotonic()
        started, since = self._seen.get(container.id, (container.started, None))
        if started != container.started:
            since = None  # restarted between two looks
        if container.status != "running":
            state, passing = container.status, False
        elif container.health in ("healthy", ""):
            state, passing = "healthy", True
        elif container.check:
            probe = docker.docker("exec", container.id, *container.check, check=False)
            state, passing = container.health, probe.returncode == 0
        else:
            state, passing = container.health, False
        if not passing:
            self._seen[container.id] = (container.started, None)
            return state
        since = now if since is None else since
        self._seen[container.id] = (container.started, since)
        steady = container.health == "healthy" or now - since >= STEADY_SECONDS
        return "healthy" if steady else "starting"

    def states(self, images: dict[str, str]) -> dict[str, str]:
        """Each service's state: the worst of its containers' (during a start-first
        replacement a service briefly has two)."""
        states: dict[str, str] = {}
        for container in self.containers():
            state = self.state(container)
            if states.get(container.service, "healthy") == "healthy":
                states[container.service] = state
        return states

    def schema(self, images: dict[str, str]) -> schemas.Schema:
        return schemas.read(self.stack.project, "compose", images)

    def migrations(self, images: dict[str, str]) -> dict[str, schemas.Steps]:
        return schemas.shipped(images)

    def migrate(
        self, images: dict[str, str], database: str, *command: str
    ) -> subprocess.CompletedProcess[str]:
        """Run `alembic COMMAND` for DATABASE once, in a one-off container of its app's image
        in IMAGES (compose run: the app's network and settings, none of its traffic), once the
        database runs and is healthy. The apps themselves are not touched."""
        started = self.stack.compose(images, "up", "--detach", "--no-deps", database, check=False)
        if started.returncode != 0:
            return started
        own = [c.id for c in self.containers() if c.service == database]
        problems = self.wait(own, time.monotonic() + self.stack.wait_timeout) if own else [database]
        if problems:
            return subprocess.CompletedProcess(["up"], 1, "", f"not healthy: {', '.join(problems)}")
        app = schemas.app_of(database)
        # Detached, then waited for: the compose this runs with has been seen to exit 0 from
        # `run --rm` whose command failed, so the container's own exit code is read instead.
        created = self.stack.compose(
            images, "run", "--detach", "--no-deps", "--entrypoint", "alembic", app,
            "-c", "/app/alembic.ini", *command, check=False,
        )  # fmt: skip
        if created.returncode != 0:
            return created
        container = created.stdout.strip().splitlines()[-1]
        try:
            code = docker.docker("wait", container, check=False).stdout.strip()
            said = docker.docker("logs", container, check=False)
        finally:
            docker.docker("rm", "--force", container, check=False)
        for line in said.stdout.splitlines() + said.stderr.splitlines():
            if "Running upgrade" in line or "Running downgrade" in line:
                print(f"  {schemas.log_message(line)}", flush=True)
        return subprocess.CompletedProcess(
            created.args, int(code) if code.isdigit() else 1, said.stdout, said.stderr
        )

    def logs(self, images: dict[str, str], service: str) -> str:
        tail = ["logs", "--no-color", "--tail", "15", service]
        return self.stack.compose(images, *tail, check=False).stdout.rstrip()

    def stop(self, images: dict[str, str]) -> str:
        self.stack.compose(images, "stop")
        return "stopped the stack"

    def down(self, images: dict[str, str], remove_data: bool) -> None:
        volumes = ["--volumes"] if remove_data else []
        self.stack.compose(images, "down", "--remove-orphans", *volumes)


def _replaceable(service: str, containers: list[Container], wanted: dict[str, str]) -> bool:
    """Whether SERVICE runs as one container on another configuration than WANTED's.

    Its health does not matter: one that Docker calls unhealthy (a check that timed out on a
    busy machine, say) may still answer, and keeps doing so until its successor is healthy.
    """
    own = [c for c in containers if c.service == service]
    return (
        len(own) == 1 and own[0].status == "running" and own[0].config_hash != wanted.get(service)
    )


def resolve(registry: Registry, version: semver.Version) -> dict[str, str]:
    """Every image of VERSION as REGISTRY/REPO@DIGEST, or stop before anything changes."""
    registry.ping()
    tag = docker_tag(version)
    pinned: dict[str, str] = {}
    for image in IMAGES:
        digest = registry.digest(image.repository, tag)
        if digest is None:
            known = version_tags(registry.tags(image.repository))
            hint = f"it has {', '.join(known)}" if known else "it has no versions"
            raise NbshipError(
                f"version {version} is not in the registry {registry.address} "
                f"({image.repository}: {hint}); build and push it first: "
                f"`invoke build --version {version} && invoke push --version {version}`"
            )
        pinned[image.name] = f"{registry.remote(image.repository)}@{digest}"
    return pinned


def deploy(
    stack: Stack,
    registry: Registry,
    version: semver.Version | None,
    environment: str | None = None,
) -> Release:
    """Deploy VERSION (or what ENVIRONMENT's tag points at) from REGISTRY, pinned by digest.

    On an unhealthy result, what ran before is restored.
    """
    docker.ensure_daemon()
    ledger = stack.ledger
    with ledger.locked():
        if environment is not None:
            version, digests = promotion.promoted(registry, environment)
            images = {
                image.name: f"{registry.remote(image.repository)}@{digests[image.name]}"
                for image in IMAGES
            }
            source = f" (what {environment} points at)"
        elif version is not None:
            images, source = resolve(registry, version), ""
        else:
            raise NbshipError("say what to deploy: a version or an environment")
        previous = ledger.current()
        print(
            f"nbship: deploying {version}{source} to {stack.orchestrator} stack "
            f"{stack.project!r} (images pinned by digest)"
        )
        stack.runtime.pull(images)
        note = f"from the {environment} tag" if environment else ""
        return _switch(stack, str(version), images, previous, action="deploy", note=note)


def rollback(
    stack: Stack, version: str | None = None, data: str = "refuse", confirmed: bool = False
) -> Release:
    """Return the stack to the previous release (or to VERSION), without building anything.

    When a database is past a contract migration the target's code does not know, the rollback
    is refused unless DATA says how to take it back: "restore" (its snapshot from before that
    migration; CONFIRMED, since rows written since are lost) or "downgrade"."""
    docker.ensure_daemon()
    ledger = stack.ledger
    with ledger.locked():
        target = ledger.rollback_target(version)
        current = ledger.current()
        print(
            f"nbship: rolling back {stack.project!r} "
            f"from {current and current.version} to {target.version}"
        )
        stack.runtime.pull(target.images)
        return _switch(
            stack,
            target.version,
            target.images,
            current,
            "rollback",
            data=data,
            confirmed=confirmed,
        )


def _switch(
    stack: Stack,
    version: str,
    images: dict[str, str],
    previous: Release | None,
    action: str,
    note: str = "",
    data: str = "refuse",
    confirmed: bool = False,
) -> Release:
    """Switch the stack to IMAGES: decide what happens to each database's schema, snapshot and
    migrate (or, when the code is behind a contract migration and DATA says so, restore or
    downgrade), then start the apps and wait until all are healthy; restore PREVIOUS if not."""
    started = time.monotonic()
    runtime = stack.runtime
    plans = schema_plans(runtime, images, previous)
    blocked = [plan for plan in plans if plan.action == "refuse"]
    if blocked and data == "refuse":
        raise NbshipError(schemas.refusal(blocked, version))
    kept: list[str] = []
    if blocked:
        done, kept = _bring_back(stack, runtime, blocked, data, previous, confirmed)
        note = "; ".join(filter(None, [note, *done]))
    taken = kept + snapshot_before(stack, version, plans)
    failed = _migrate(runtime, images, plans)
    if failed:
        stack.ledger.record(
            version, images, action=action, status="failed", note=failed, snapshots=taken
        )
        raise NbshipError(f"{action} of {version} stopped before any app changed: {failed}")
    result = runtime.up(images)
    if result.returncode == 0:
        problems = wait_healthy(stack, images, runtime)
    else:
        said = result.stderr.strip().splitlines() or ["no reason given"]
        problems = [f"{stack.orchestrator} could not start it: {said[-1]}"]
    if not problems:
        took = time.monotonic() - started
        schema = runtime.schema(images)
        release = stack.ledger.record(
            version, images, action=action, note=note, schema=schema, snapshots=taken
        )
        print(f"nbship: {version} is live and healthy ({took:.0f}s)")
        if schema:
            print(f"nbship: schema: {schemas.describe(schema)}")
        return release
    stack.ledger.record(
        version, images, action=action, status="failed", note="; ".join(problems), snapshots=taken
    )
    for problem in problems[:3]:
        name = problem.split(" ", 1)[0]
        if name in stack_services():
            print(f"--- last log lines of {name} ---\n{runtime.logs(images, name)}")
    if previous is not None:
        print(f"nbship: {version} did not become healthy; restoring {previous.version}")
        _put_back(stack, kept)
        restored = runtime.up(previous.images)
        if restored.returncode != 0 or wait_healthy(stack, previous.images, runtime):
            raise NbshipError(
                f"{action} of {version} failed and restoring {previous.version} failed too"
            )
        what = f"restored {previous.version}"
    else:
        what = f"{runtime.stop(images)} (no earlier release to restore)"
    raise NbshipError(f"{action} of {version} failed ({'; '.join(problems)}); {what}")


def schema_plans(
    runtime: Runtime, images: dict[str, str], previous: Release | None
) -> list[schemas.Plan]:
    """What IMAGES do to each database's schema (schema.plan), from the revisions live now and
    the migrations both IMAGES and the PREVIOUS release ship (a rollback's newer ones are in
    the release it leaves). Most releases change no schema: then no migrations are read."""
    now = runtime.schema(images)
    steps: dict[str, schemas.Steps] = {}
    if any(revisions.get("live") != revisions.get("expects") for revisions in now.values()):
        steps = runtime.migrations(images)
        if previous is not None:
            for database, more in runtime.migrations(previous.images).items():
                steps[database] = {**more, **steps.get(database, {})}
    return [
        schemas.plan(
            database, revisions.get("live"), revisions.get("expects"), steps.get(database, {})
        )
        for database, revisions in now.items()
    ]


def snapshot_before(stack: Stack, version: str, plans: list[schemas.Plan]) -> list[str]:
    """Snapshot every database a migration is about to change (an "upgrade" of a database that
    has a revision already: a new one has nothing to keep). Returns the snapshots' file names
    for the ledger. A snapshot that fails stops the release before anything changes."""
    taken = []
    for plan in plans:
        if plan.action != "upgrade" or plan.live is None:
            continue
        reason = f"before {version} ({plan.database} {plan.live} -> {plan.expects})"
        print(f"nbship: snapshot of {plan.database} {reason}", flush=True)
        snapshot = stack.snapshots.take(
            stack.project, stack.orchestrator, plan.database, plan.live, reason
        )
        print(f"  {snapshot.file}: {human_size(snapshot.size)}", flush=True)
        taken.append(snapshot.file)
    return taken


def _migrate(runtime: Runtime, images: dict[str, str], plans: list[schemas.Plan]) -> str:
    """Bring each database to what IMAGES' code expects, once, before any app changes; return
    what failed (the database's own error, in one line), or "" when all went through."""
    for plan in plans:
        if plan.expects is None or plan.action not in ("upgrade", "unknown"):
            continue
        print(f"nbship: migrating {plan.database} to {plan.expects}", flush=True)
        result = runtime.migrate(images, plan.database, "upgrade", "head")
        if result.returncode != 0:
            return f"migrating {plan.database} to {plan.expects} failed: {_last_line(result)}"
    return ""


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    """The error a failed command ended with: the last line that names an exception (Alembic's
    traceback ends with the database's own error, then the SQL and a link), else its last line."""
    said = [line.strip() for line in (result.stderr or result.stdout or "").splitlines()]
    said = [line for line in said if line]
    errors = [line for line in said if _EXCEPTION.match(line)]
    if errors:
        return errors[-1]
    return said[-1] if said else f"exit status {result.returncode}"


# "sqlalchemy.exc.DataError: (psycopg.errors.DivisionByZero) division by zero", "KeyError: 'x'"
_EXCEPTION = re.compile(r"^((?:[a-z_]\w*\.)+[A-Z]\w*|[A-Z]\w*(?:Error|Exception|Exit)): ")


def _bring_back(
    stack: Stack,
    runtime: Runtime,
    blocked: list[schemas.Plan],
    data: str,
    previous: Release | None,
    confirmed: bool,
) -> tuple[list[str], list[str]]:
    """Take each BLOCKED database back to the revision the code expects, as DATA says:
    "restore" the snapshot taken at that revision (its rows written since are lost: only when
    CONFIRMED) or "downgrade" with the migrations of the release running now. Either happens in
    one transaction: a failure leaves the database, and the release running, as they were.
    The database as it is now is snapshotted first, so what either discards can still be had.
    Returns what was done (for the ledger's note) and the snapshots taken."""
    done, kept = [], []
    for plan in blocked:
        if data == "downgrade":
            if previous is None:
                raise NbshipError(
                    f"nothing runs {plan.database}'s newer migrations to downgrade it"
                )
            kept.append(_keep(stack, plan, "downgrade"))
            print(f"nbship: downgrading {plan.database} from {plan.live} to {plan.expects}")
            result = runtime.migrate(previous.images, plan.database, "downgrade", str(plan.expects))
            if result.returncode != 0:
                raise NbshipError(
                    f"downgrading {plan.database} to {plan.expects} failed, it is still at "
                    f"{plan.live} and {previous.version} still runs: {_last_line(result)}"
                )
            done.append(f"downgraded {plan.database} {plan.live} -> {plan.expects}")
            continue
        folder = stack.snapshots
        found = [
            entry for entry in folder.entries()
            if entry.database == plan.database and entry.revision == plan.expects
        ]  # fmt: skip
        if not found:
            raise NbshipError(
                f"no snapshot of {plan.database} at revision {plan.expects} to restore "
                f"(`invoke snapshots` lists them); try --downgrade"
            )
        snapshot = found[-1]
        lost = written_since(stack.project, stack.orchestrator, snapshot)
        counted = f"{sum(lost.values())} row(s) written since" + (
            f" ({', '.join(f'{table}: {count}' for table, count in sorted(lost.items()))})"
            if lost
            else ""
        )
        if not confirmed:
            raise NbshipError(
                f"--restore-data restores {snapshot.file} (taken {snapshot.taken_at}) into "
                f"{plan.database}: {counted} would be lost. Say --yes to go on"
            )
        kept.append(_keep(stack, plan, "restore"))
        folder.restore(stack.project, stack.orchestrator, snapshot)
        print(f"nbship: restored {plan.database} from {snapshot.file}: {counted} discarded")
        done.append(f"restored {plan.database} from {snapshot.file}, {counted} discarded")
    return done, kept


def _put_back(stack: Stack, kept: list[str]) -> None:
    """Restore the snapshots KEPT of databases just before a restore or downgrade changed them:
    the release put back after a failed rollback finds its schema and its rows as it left them."""
    if not kept:
        return
    by_file = {entry.file: entry for entry in stack.snapshots.entries()}
    for name in kept:
        snapshot = by_file.get(name)
        if snapshot is None:
            raise NbshipError(f"the snapshot {name} to put back is gone: nothing was restored")
        stack.snapshots.restore(stack.project, stack.orchestrator, snapshot)
        print(f"nbship: put {snapshot.database} back as it was, from {name}", flush=True)


def _keep(stack: Stack, plan: schemas.Plan, how: str) -> str:
    """Snapshot PLAN's database as it is, before a HOW ("restore", "downgrade") changes it."""
    reason = f"before the {how} of {plan.database} from {plan.live} to {plan.expects}"
    snapshot = stack.snapshots.take(
        stack.project, stack.orchestrator, plan.database, plan.live, reason
    )
    print(f"nbship: kept {plan.database} as it was in {snapshot.file}", flush=True)
    return snapshot.file


def wait_healthy(stack: Stack, images: dict[str, str], runtime: Runtime | None = None) -> list[str]:
    """Wait until every service is running and healthy; return what is not, at the timeout.

    `docker compose up --wait` is not enough: it has been seen returning success while a
    container was in a restart loop. Two consecutive all-healthy looks are required, and on
    compose a container counts as healthy only once its own check has kept passing for a second
    on one start (see ComposeRuntime.state). Looks come every POLL_SECONDS, so readiness is
    noticed within about a second rather than at Docker's next health-check interval.
    """
    deadline = time.monotonic() + stack.wait_timeout
    expected = set(stack_services())
    good_looks, last_report = 0, ""
    runtime = runtime or stack.runtime
    while True:
        states = runtime.states(images)
        missing = sorted(expected - states.keys())
        bad = [f"{name} {state}" for name, state in sorted(states.items()) if state != "healthy"]
        bad += [f"{name} missing" for name in missing]
        good_looks = good_looks + 1 if not bad else 0
        if good_looks >= 2:
            return []
        report = ", ".join(bad)
        if report and report != last_report:
            print(f"  waiting: {report}", flush=True)
            last_report = report
        final = any(state.startswith(FAILED) for state in states.values())
        if final or time.monotonic() > deadline:
            return bad
        time.sleep(POLL_SECONDS)


def running_version(stack: Stack) -> dict[str, str] | None:
    """What the gateway's /version says, or None when it does not answer."""
    try:
        response = requests.get(f"{stack.gateway_url}/version", timeout=5)
        response.raise_for_status()
        answer: dict[str, str] = response.json()
        return answer
    except (requests.RequestException, ValueError):
        return None


def down(stack: Stack, remove_data: bool = False) -> None:
    """Stop and remove the stack's containers (and its volumes, with remove_data)."""
    docker.ensure_daemon()
    current = stack.ledger.current()
    images = current.images if current else {image.name: "none" for image in IMAGES}
    stack.runtime.down(images, remove_data)
