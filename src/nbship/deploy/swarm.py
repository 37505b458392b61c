"""Running deploy/compose.yaml on Docker Swarm, as a stack, from the same file compose runs.

Compose and `docker stack deploy` read different dialects: compose the Compose Specification,
the stack loader the older version-3 format, which rejects some of what the file says for
compose (`depends_on` with conditions, `shm_size`, a host address on a published port). So the
file is rendered once by compose itself (`docker compose config`, images pinned and variables
filled in), and `for_swarm` translates that rendering into what the stack loader accepts:

- `depends_on` is dropped: Swarm starts services in no order; the migration job runs once its
  database runs (SwarmRuntime.migrate), and an app's /readyz keeps it starting until the rest
  answers;
- `restart` becomes `deploy.restart_policy`, unless the file gives one;
- `shm_size` becomes a tmpfs on /dev/shm of that size;
- a published port loses its host address, which Swarm cannot bind: it opens the port on every
  address of the node (the file asks for `mode: host`, on the gateway's node only);
- `security_opt` is dropped: Swarm services do not support it (Docker says so in a warning);
- names compose gave networks and volumes are left to the stack, which prefixes its own.

What is Swarm's own (placement, update order) is written in the file's `deploy:` sections,
which compose ignores. The rendered stack is handed to `docker stack deploy` on stdin, so the
secrets that compose filled in are never written to disk.
"""

from __future__ import annotations

import copy
import json
import subprocess
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from nbship import docker
from nbship.deploy import schema as schemas
from nbship.deploy.runtime import FAILED, ComposeProject
from nbship.errors import NbshipError

# The stack loader's format; 3.9 has every key the rendering keeps (tmpfs mounts, read_only).
STACK_FORMAT = "3.9"
# Service keys both formats read alike, copied as they are. volumes, ports and networks are
# translated by _service; anything else compose renders (depends_on, restart, security_opt,
# shm_size, ...) is translated there or dropped.
_SERVICE_KEYS = frozenset(
    {
        "command", "deploy", "entrypoint", "environment", "healthcheck", "image", "labels",
        "read_only", "stop_grace_period", "stop_signal", "tmpfs", "user", "working_dir",
    }
)  # fmt: skip
_NETWORK_KEYS = frozenset({"driver", "driver_opts", "internal", "attachable", "labels"})
_VOLUME_KEYS = frozenset({"driver", "driver_opts", "labels"})
_MOUNT_KEYS = frozenset({"type", "source", "target", "read_only", "volume", "tmpfs", "bind"})


def for_swarm(rendered: Mapping[str, Any]) -> dict[str, Any]:
    """The stack file for `docker stack deploy`, from compose's rendering of the compose file."""
    services = rendered.get("services")
    if not isinstance(services, Mapping) or not services:
        raise NbshipError("the rendered compose file has no services to deploy")
    return {
        "version": STACK_FORMAT,
        "services": {name: _service(name, spec) for name, spec in services.items()},
        "networks": {
            name: _network(spec or {}) for name, spec in (rendered.get("networks") or {}).items()
        },
        "volumes": {
            name: _pick(spec or {}, _VOLUME_KEYS)
            for name, spec in (rendered.get("volumes") or {}).items()
        },
    }


def _service(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    service = {key: value for key, value in _pick(spec, _SERVICE_KEYS).items() if value is not None}
    deploy = service.setdefault("deploy", {})
    restart = spec.get("restart")
    if restart and "restart_policy" not in deploy:
        deploy["restart_policy"] = {"condition": _restart_condition(name, restart)}
    mounts = [_pick(mount, _MOUNT_KEYS) for mount in spec.get("volumes") or []]
    if spec.get("shm_size"):
        size = int(spec["shm_size"])
        mounts.append({"type": "tmpfs", "target": "/dev/shm", "tmpfs": {"size": size}})
    if mounts:
        service["volumes"] = mounts
    if spec.get("ports"):
        service["ports"] = [_port(name, port) for port in spec["ports"]]
    if spec.get("networks"):
        # Aliases and addresses are compose's; on the stack every service is found by its name.
        service["networks"] = sorted(spec["networks"])
    return service


def _restart_condition(service: str, restart: str) -> str:
    """Compose's `restart` as Swarm's restart_policy.condition."""
    if restart in ("always", "unless-stopped"):
        return "any"
    if restart.startswith("on-failure"):
        return "on-failure"
    if restart == "no":
        return "none"
    raise NbshipError(f"service {service}: restart {restart!r} has no Swarm equivalent")


def _port(service: str, port: Mapping[str, Any]) -> dict[str, Any]:
    if "published" not in port or port.get("published") in (None, ""):
        raise NbshipError(f"service {service}: a port without a published number cannot be run")
    return {
        "target": int(port["target"]),
        "published": int(port["published"]),
        "protocol": port.get("protocol", "tcp"),
        "mode": port.get("mode", "ingress"),
    }


def _network(spec: Mapping[str, Any]) -> dict[str, Any]:
    network = _pick(spec, _NETWORK_KEYS)
    # A stack's networks span its nodes: overlay, whatever compose (bridge, on one host) used.
    network["driver"] = "overlay"
    return network


def _pick(mapping: Mapping[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {key: copy.deepcopy(value) for key, value in mapping.items() if key in keys}


def stack_file(rendered: Mapping[str, Any]) -> str:
    """for_swarm(RENDERED) as the text `docker stack deploy --compose-file -` reads (JSON is
    YAML)."""
    text = json.dumps(for_swarm(rendered), indent=2, sort_keys=True)
    # The stack loader interpolates variables again: compose has filled them in already, so
    # every `$` left (in a password, say) is meant literally. In JSON, `$` occurs only in strings.
    return text.replace("$", "$$")


def swarm_state() -> str:
    """This engine's swarm state: "active" when it is a manager of a swarm, else why not."""
    result = docker.run(
        ["docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"],
        capture=True,
        check=False,
    )
    state, _, manager = result.stdout.strip().partition(" ")
    if state == "active" and manager != "true":
        return "a worker (stacks are deployed from a manager)"
    return state or "unknown"


def gateway_address(project: str, service: str = "api-gateway-app") -> str | None:
    """The address of the node running PROJECT's SERVICE task, where its port is published
    (`mode: host`): the address the node advertised to the swarm. None when no task runs."""
    task = docker.run(
        ["docker", "service", "ps", f"{project}_{service}", "--quiet",
         "--filter", "desired-state=running"],
        capture=True, check=False,
    ).stdout.split()  # fmt: skip
    if not task:
        return None
    node = docker.run(
        ["docker", "inspect", "--type", "task", "--format", "{{.NodeID}}", task[0]],
        capture=True, check=False,
    ).stdout.strip()  # fmt: skip
    address = docker.run(
        ["docker", "node", "inspect", "--format", "{{.Status.Addr}}", node],
        capture=True, check=False,
    ).stdout.strip()  # fmt: skip
    return address if address and address != "0.0.0.0" else None


# How long a teardown waits for the stack's containers to go before removing its volumes.
DOWN_TIMEOUT_SECONDS = 90


class SwarmRuntime:
    """The stack as a Docker Swarm stack (`docker stack deploy`), run from this manager."""

    def __init__(self, stack: ComposeProject) -> None:
        self.stack = stack
        self.name = stack.project

    def pull(self, images: dict[str, str]) -> None:
        """Nothing to do here: each node pulls the digests its tasks run, with the registry
        login that `docker stack deploy --with-registry-auth` passes along."""

    def up(self, images: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Render the compose file with IMAGES, translate it, and deploy it as the stack."""
        self._require_manager()
        rendered = self.stack.compose(images, "config", "--format", "json", check=False)
        if rendered.returncode != 0:
            return rendered
        deploy = [
            "docker", "stack", "deploy", "--compose-file", "-", "--detach=true",
            "--with-registry-auth", "--resolve-image", "never", "--prune", self.name,
        ]  # fmt: skip
        text = stack_file(json.loads(rendered.stdout))
        return docker.run(deploy, input=text, capture=True, check=False)

    def states(self, images: dict[str, str]) -> dict[str, str]:
        """Each service's state. Swarm holds a task with a health check in "starting" until it
        is healthy, so a service is healthy when every task it wants running is running, on the
        image the service now names (during an update, old tasks still run the old one)."""
        services = {
            row["Name"].removeprefix(f"{self.name}_"): row
            for row in self._rows("stack", "services", self.name)
        }
        tasks: dict[str, list[dict[str, str]]] = {name: [] for name in services}
        running = ("stack", "ps", self.name, "--no-trunc", "--filter", "desired-state=running")
        for row in self._rows(*running):
            service = row["Name"].removeprefix(f"{self.name}_").rsplit(".", 1)[0]
            tasks.setdefault(service, []).append(row)
        paused = self._paused_updates([row["ID"] for row in services.values()])
        return {
            name: paused.get(name) or _service_state(services[name], tasks[name])
            for name in services
        }

    def _paused_updates(self, service_ids: list[str]) -> dict[str, str]:
        """The services whose update Swarm has paused (a new task failed), with its reason:
        final, for Swarm resumes a paused update only when told to."""
        if not service_ids:
            return {}
        spec = "{{.Spec.Name}}\t{{if .UpdateStatus}}{{json .UpdateStatus}}{{end}}"
        result = docker.run(
            ["docker", "service", "inspect", "--format", spec, *service_ids],
            capture=True,
            check=False,
        )
        paused = {}
        for line in result.stdout.splitlines():
            name, _, status = line.partition("\t")
            update = json.loads(status) if status.startswith("{") else {}
            if update.get("State") in ("paused", "rollback_paused"):
                service = name.removeprefix(f"{self.name}_")
                paused[service] = f"{FAILED} update paused ({update.get('Message', '')[:120]})"
        return paused

    def schema(self, images: dict[str, str]) -> schemas.Schema:
        # Only a database container on this node is read; on another one its revision is None.
        return schemas.read(self.name, "swarm", images)

    def migrations(self, images: dict[str, str]) -> dict[str, schemas.Steps]:
        return schemas.shipped(images)

    def migrate(
        self, images: dict[str, str], database: str, *command: str
    ) -> subprocess.CompletedProcess[str]:
        """Run `alembic COMMAND` for DATABASE once, as a Swarm job: one task of its app's image
        in IMAGES with the app's settings, on the app's networks, none of its traffic; the apps
        are not touched. A database not running yet (the stack's first deploy) is started
        first, alone, and waited for."""
        self._require_manager()
        rendered = self.stack.compose(images, "config", "--format", "json", check=False)
        if rendered.returncode != 0:
            return rendered
        if not self._runs(database):
            started = self._start_alone(json.loads(rendered.stdout), database)
            if started.returncode != 0:
                return started
        app = schemas.app_of(database)
        spec = json.loads(rendered.stdout)["services"][app]
        job = f"{self.name}_migrate-{database}"
        docker.run(["docker", "service", "rm", job], capture=True, check=False)  # a leftover
        with tempfile.NamedTemporaryFile("w", prefix="nbship-migrate-", suffix=".env") as env:
            # The app's settings hold its database password: a 0600 file, never a command line.
            for key, value in (spec.get("environment") or {}).items():
                env.write(f"{key}={'' if value is None else value}\n")
            env.flush()
            networks = [f"--network={self.name}_{name}" for name in spec.get("networks") or {}]
            created = docker.run(
                ["docker", "service", "create", "--mode", "replicated-job", "--detach",
                 "--name", job, "--with-registry-auth", "--restart-condition", "none",
                 "--env-file", env.name, *networks, "--entrypoint", "alembic",
                 images[app], "-c", "/app/alembic.ini", *command],
                capture=True, check=False,
            )  # fmt: skip
        if created.returncode != 0:
            return created
        try:
            state = self._finished(job, time.monotonic() + self.stack.wait_timeout)
            said = docker.run(
                ["docker", "service", "logs", "--raw", job], capture=True, check=False
            )
        finally:
            docker.run(["docker", "service", "rm", job], capture=True, check=False)
        for line in said.stdout.splitlines() + said.stderr.splitlines():
            if "Running upgrade" in line or "Running downgrade" in line:
                print(f"  {schemas.log_message(line)}", flush=True)
        code = 0 if state.startswith("complete") else 1
        error = "" if code == 0 else f"\nthe migration job ended {state}"
        return subprocess.CompletedProcess(created.args, code, said.stdout, said.stderr + error)

    def _start_alone(
        self, rendered: Mapping[str, Any], service: str
    ) -> subprocess.CompletedProcess[str]:
        """Deploy SERVICE of the stack on its own (its networks and volumes with it; the rest
        left as it is) and wait until its task runs, healthy."""
        full = for_swarm(rendered)
        spec = full["services"][service]
        alone = {
            "version": STACK_FORMAT,
            "services": {service: spec},
            "networks": {name: full["networks"][name] for name in spec.get("networks", [])},
            "volumes": {
                mount["source"]: full["volumes"][mount["source"]]
                for mount in spec.get("volumes", [])
                if mount.get("type") == "volume" and mount.get("source") in full["volumes"]
            },
        }
        deploy = [
            "docker", "stack", "deploy", "--compose-file", "-", "--detach=true",
            "--with-registry-auth", "--resolve-image", "never", self.name,
        ]  # fmt: skip
        text = json.dumps(alone, indent=2, sort_keys=True).replace("$", "$$")
        result = docker.run(deploy, input=text, capture=True, check=False)
        if result.returncode != 0:
            return result
        print(f"nbship: started {service} on its own, to migrate it", flush=True)
        deadline = time.monotonic() + self.stack.wait_timeout
        while not self._runs(service):
            if time.monotonic() > deadline:
                said = f"{service} was not running after {self.stack.wait_timeout}s"
                return subprocess.CompletedProcess(deploy, 1, "", said)
            time.sleep(0.5)
        return result

    def _runs(self, service: str) -> bool:
        """Whether a task of SERVICE runs now."""
        running = ("service", "ps", f"{self.name}_{service}", "--filter", "desired-state=running")
        rows = self._rows(*running) if self._exists(service) else []
        return any(row.get("CurrentState", "").startswith("Running") for row in rows)

    def _exists(self, service: str) -> bool:
        found = docker.run(
            ["docker", "service", "inspect", "--format", "{{.ID}}", f"{self.name}_{service}"],
            capture=True, check=False,
        )  # fmt: skip
        return found.returncode == 0

    def _finished(self, job: str, deadline: float) -> str:
        """How JOB's task ended ("complete", "failed (its error)", ...), or that it did not in
        time."""
        while time.monotonic() < deadline:
            rows = self._rows("service", "ps", job, "--no-trunc")
            for row in rows:
                state = row.get("CurrentState", "").split(" ", 1)[0].lower()
                if state in ("complete", "failed", "rejected", "shutdown", "orphaned"):
                    error = row.get("Error", "").strip()
                    return f"{state} ({error[:160]})" if error else state
            time.sleep(0.5)
        return f"not finished after {self.stack.wait_timeout}s"

    def logs(self, images: dict[str, str], service: str) -> str:
        tail = ["docker", "service", "logs", "--no-task-ids", "--tail", "15"]
        result = docker.run([*tail, f"{self.name}_{service}"], capture=True, check=False)
        return (result.stdout + result.stderr).rstrip()

    def stop(self, images: dict[str, str]) -> str:
        self._remove()
        return "removed the stack's services (its volumes are kept)"

    def down(self, images: dict[str, str], remove_data: bool) -> None:
        self._remove()
        if remove_data:
            label = f"label=com.docker.stack.namespace={self.name}"
            volumes = docker.run(
                ["docker", "volume", "ls", "-q", "--filter", label], capture=True
            ).stdout.split()
            if volumes:
                docker.run(["docker", "volume", "rm", *volumes], capture=True)

    def _remove(self) -> None:
        """`docker stack rm`, then wait until its containers are gone (their volumes in use
        until then): Swarm removes them in the background."""
        self._require_manager()
        docker.run(["docker", "stack", "rm", self.name], capture=True, check=False)
        label = f"label=com.docker.stack.namespace={self.name}"
        deadline = time.monotonic() + DOWN_TIMEOUT_SECONDS
        while docker.run(["docker", "ps", "-aq", "--filter", label], capture=True).stdout.strip():
            if time.monotonic() > deadline:
                raise NbshipError(
                    f"the containers of stack {self.name!r} were still there after "
                    f"{DOWN_TIMEOUT_SECONDS}s (see `docker stack ps {self.name}`)"
                )
            time.sleep(1)

    def _require_manager(self) -> None:
        state = swarm_state()
        if state != "active":
            raise NbshipError(
                f"this Docker Engine is not a Swarm manager (swarm state: {state}): run "
                "`docker swarm init` here, or deploy from a manager of your swarm (docs/deploy.md)"
            )

    def _rows(self, *command: str) -> list[dict[str, str]]:
        """The JSON rows `docker COMMAND --format '{{json .}}'` prints, one per line."""
        result = docker.run(
            ["docker", *command, "--format", "{{json .}}"], capture=True, check=False
        )
        if result.returncode != 0:
            # Before the first deploy (and after a removal) there is no stack: no rows.
            if "nothing found in stack" in result.stderr.lower():
                return []
            said = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
            raise NbshipError(f"docker {' '.join(command[:2])} failed: {said[-1]}")
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _service_state(service: Mapping[str, str], tasks: list[dict[str, str]]) -> str:
    """ "healthy", or what SERVICE (a `docker stack services` row) waits for, from TASKS (those
    Swarm wants running). A replaced task that is still draining (desired state shutdown, so no
    longer among TASKS) does not hold the release back: it finishes its requests on its own."""
    if not tasks:
        return "no task running"
    for task in tasks:
        state = task.get("CurrentState", "").split(" ", 1)[0].lower()
        if state != "running":
            error = task.get("Error", "").strip()
            return f"{state} ({error[:120]})" if error else state or "unknown"
    if any(task.get("Image") != service.get("Image") for task in tasks):
        return "updating"
    _, _, wanted = service.get("Replicas", "").partition("/")
    wanted = wanted.split(" ", 1)[0]
    if not wanted.isdigit() or len(tasks) < int(wanted):
        return f"{len(tasks)} of {wanted or '?'} tasks running"
    return "healthy"
