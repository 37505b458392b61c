"""What a deployed stack runs now, container by container, beside what its ledger says is live.

Read from the Docker engine (containers found by the labels compose and Swarm put on them, not by
name) and from the release ledger: nothing is asked of the services themselves, so a stack whose
gateway is down still answers. On Swarm the stack's running tasks are read from the manager,
with the node each runs on; a task's version is the ledger's when it runs an image the ledger pins.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from nbship import docker
from nbship.deploy.ledger import Release

VERSION_LABEL = "org.opencontainers.image.version"
# The health of a running container whose image has no healthcheck: nothing wrong with it.
NO_HEALTHCHECK = "running"
# The labels that tie a container to its stack and service, per orchestrator.
STACK_LABELS = {
    "compose": ("com.docker.compose.project", "com.docker.compose.service"),
    "swarm": ("com.docker.stack.namespace", "com.docker.swarm.service.name"),
}


def running_container(project: str, orchestrator: str, service: str) -> str | None:
    """The id of a running container of SERVICE in PROJECT on this engine, found by its labels."""
    project_label, service_label = STACK_LABELS[orchestrator]
    named = f"{project}_{service}" if orchestrator == "swarm" else service
    ids = docker.docker(
        "ps", "--quiet", "--filter", "status=running",
        "--filter", f"label={project_label}={project}",
        "--filter", f"label={service_label}={named}",
    ).stdout.split()  # fmt: skip
    return ids[0] if ids else None


@dataclass(frozen=True)
class ServiceStatus:
    """One container of the stack: what it runs, how it is, and whether the ledger agrees."""

    service: str
    container: str
    version: str | None
    image: str
    digest: str | None
    state: str
    health: str
    started_at: str | None
    uptime_seconds: int | None
    in_ledger: bool
    # The Swarm node (host name) the task runs on; None on compose, where it is this host.
    node: str | None = None


@dataclass(frozen=True)
class StackStatus:
    """The whole stack: its live release according to the ledger, and every container."""

    project: str
    orchestrator: str
    live: Release | None
    services: list[ServiceStatus]
    expected: tuple[str, ...] = ()
    # Per database: the Alembic revision live now and the one the live release's code expects.
    schema: dict[str, dict[str, str | None]] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        """Services missing or not healthy, or running an image the live release does not pin."""
        if self.live is None and not self.services:
            return []
        seen = {each.service for each in self.services}
        found = [f"{name} has no container" for name in self.expected if name not in seen]
        for each in self.services:
            if each.health not in ("healthy", NO_HEALTHCHECK):
                found.append(f"{each.service} {each.health}")
            elif self.live is not None and not each.in_ledger:
                found.append(f"{each.service} runs {each.image}, not release #{self.live.id}")
        return found

    def as_json(self) -> str:
        live = asdict(self.live) if self.live else None
        services = [asdict(each) for each in self.services]
        payload = {
            "project": self.project,
            "orchestrator": self.orchestrator,
            "live": live,
            "services": services,
            "schema": self.schema,
            "problems": self.problems,
        }
        return json.dumps(payload, indent=2)

    def as_table(self) -> str:
        if self.live is None:
            head = "the ledger records no live release"
        else:
            head = (
                f"the ledger says {self.live.version} is live (release #{self.live.id}, "
                f"{self.live.action} at {self.live.deployed_at})"
            )
        lines = [f"{self.orchestrator} stack {self.project!r}: {head}"]
        if not self.services:
            where = "in this swarm" if self.orchestrator == "swarm" else "on this Docker engine"
            lines.append(f"no containers of this stack exist {where}")
            return "\n".join(lines)
        columns = 7 if any(each.node for each in self.services) else 6  # NODE on Swarm only
        rows: list[tuple[str, ...]] = [
            ("SERVICE", "VERSION", "DIGEST", "HEALTH", "UPTIME", "LEDGER", "NODE")
        ]
        for each in self.services:
            ledger = "-" if self.live is None else ("live" if each.in_ledger else "differs")
            rows.append(
                (
                    each.service,
                    each.version or "?",
                    _short(each.digest),
                    each.health,
                    _duration(each.uptime_seconds),
                    ledger,
                    each.node or "",
                )
            )
        rows = [row[:columns] for row in rows]
        widths = [max(len(row[i]) for row in rows) for i in range(columns)]
        for row in rows:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        for database, revisions in self.schema.items():
            lines.append(
                f"schema of {database}: at {revisions.get('live') or 'unknown'}, "
                f"the live release's code expects {revisions.get('expects') or 'unknown'}"
            )
        return "\n".join(line.rstrip() for line in lines)


def read(
    project: str,
    orchestrator: str,
    live: Release | None,
    expected: tuple[str, ...] = (),
    schema: dict[str, dict[str, str | None]] | None = None,
) -> StackStatus:
    """The status of PROJECT's containers on this engine, compared with the LIVE release.

    EXPECTED names the services a complete stack has: one without a container is a problem.
    SCHEMA is what the runtime read of its databases (Runtime.schema), shown as it is.
    """
    docker.ensure_daemon()
    pinned = set(live.images.values()) if live else set()
    now = datetime.now(UTC)
    if orchestrator == "swarm":
        services = _swarm_tasks(project, live, pinned, now)
    else:
        project_label, _ = STACK_LABELS[orchestrator]
        ids = docker.docker(
            "ps", "--all", "--quiet", "--no-trunc", "--filter", f"label={project_label}={project}"
        ).stdout.split()
        details: list[dict[str, Any]] = []
        if ids:
            details = json.loads(docker.docker("container", "inspect", *ids).stdout)
        services = [
            _service(container, orchestrator, project, pinned, now) for container in details
        ]
    services.sort(key=lambda each: (each.service, each.container))
    return StackStatus(project, orchestrator, live, services, expected, schema or {})


def _swarm_tasks(
    project: str, live: Release | None, pinned: set[str], now: datetime
) -> list[ServiceStatus]:
    """The stack's tasks that should be running (replaced ones are kept by Swarm: not those),
    on whichever node. Swarm reports a task with a health check as running only once healthy."""
    listed = docker.docker(
        "stack", "ps", project, "--no-trunc", "--filter", "desired-state=running",
        "--format", "{{json .}}", check=False,
    )  # fmt: skip
    rows = [json.loads(line) for line in listed.stdout.splitlines() if line.startswith("{")]
    if not rows:
        return []
    inspected = docker.docker("inspect", "--type", "task", *(row["ID"] for row in rows)).stdout
    changed = {
        task["ID"]: task.get("Status", {}).get("Timestamp") for task in json.loads(inspected)
    }
    services = []
    for row in rows:
        image = str(row.get("Image", ""))
        state = str(row.get("CurrentState", "unknown")).split(" ", 1)[0].lower()
        in_ledger = _pinned(image, pinned)
        since = _parse_time(changed.get(row["ID"])) if state == "running" else None
        services.append(
            ServiceStatus(
                service=str(row["Name"]).removeprefix(f"{project}_").rsplit(".", 1)[0],
                container=str(row["Name"]),
                version=live.version if live is not None and in_ledger else None,
                image=image,
                digest=image.partition("@")[2] or None,
                state=state,
                health="healthy" if state == "running" else state,
                started_at=since.isoformat(timespec="seconds") if since else None,
                uptime_seconds=int((now - since).total_seconds()) if since else None,
                in_ledger=in_ledger,
                node=str(row.get("Node") or "?"),
            )
        )
    return services


def _service(
    container: dict[str, Any], orchestrator: str, project: str, pinned: set[str], now: datetime
) -> ServiceStatus:
    config, state = container.get("Config") or {}, container.get("State") or {}
    labels = config.get("Labels") or {}
    service = labels.get(STACK_LABELS[orchestrator][1], "?")
    if orchestrator == "swarm":
        service = service.removeprefix(f"{project}_")
    image = str(config.get("Image", ""))
    # Deploys pin images by digest (REPO@sha256:...); anything else shows its local image id.
    digest = image.partition("@")[2] or container.get("Image")
    running = state.get("Status") == "running"
    health = (state.get("Health") or {}).get("Status") if running else None
    started = _parse_time(state.get("StartedAt")) if running else None
    return ServiceStatus(
        service=service,
        container=str(container.get("Name", "")).lstrip("/"),
        version=labels.get(VERSION_LABEL),
        image=image,
        digest=digest,
        state=str(state.get("Status", "unknown")),
        health=health or (NO_HEALTHCHECK if running else str(state.get("Status", "unknown"))),
        started_at=started.isoformat(timespec="seconds") if started else None,
        uptime_seconds=int((now - started).total_seconds()) if started else None,
        in_ledger=_pinned(image, pinned),
    )


def _pinned(image: str, pinned: set[str]) -> bool:
    """Whether IMAGE is one the live release pins, by repository and digest."""
    if image in pinned:
        return True
    # Swarm may record "REGISTRY/REPO:TAG@DIGEST"; the ledger has "REGISTRY/REPO@DIGEST".
    repository, _, digest = image.partition("@")
    name, colon, tag = repository.rpartition(":")
    if colon and "/" not in tag:
        repository = name
    return bool(digest) and f"{repository}@{digest}" in pinned


def _parse_time(text: str | None) -> datetime | None:
    """Docker's RFC 3339 time with nanoseconds; the zero time means never started."""
    if not text or text.startswith("0001-"):
        return None
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _short(digest: str | None) -> str:
    if not digest:
        return "?"
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}" if value else digest[:19]


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
