"""What a stack's runtime does: the moves a deploy, a rollback and a teardown make.

Two implementations: stack.ComposeRuntime (Docker Compose on this host) and
swarm.SwarmRuntime (a stack on Docker Swarm); stack.Stack drives either the same way.
"""

from __future__ import annotations

import subprocess
from typing import Protocol

# How a runtime says a service's state is final: waiting longer will not make it healthy.
FAILED = "failed:"


class ComposeProject(Protocol):
    """What a runtime needs of its stack: a project name, how long a step may take, and compose
    run with images pinned."""

    @property
    def project(self) -> str: ...

    @property
    def wait_timeout(self) -> int: ...

    def compose(
        self, images: dict[str, str], *args: str, capture: bool = True, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


class Runtime(Protocol):
    """What runs a stack's services: the moves a deploy, a rollback and a teardown make."""

    def pull(self, images: dict[str, str]) -> None:
        """Make IMAGES available where they will run."""

    def up(self, images: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Start (or update) every service on IMAGES; do not wait for health."""

    def states(self, images: dict[str, str]) -> dict[str, str]:
        """Each service's state: "healthy", or what is wrong (restarting, starting, ...); one
        that starts with FAILED will not get better by waiting."""

    def logs(self, images: dict[str, str], service: str) -> str:
        """The last lines SERVICE logged."""

    def schema(self, images: dict[str, str]) -> dict[str, dict[str, str | None]]:
        """Per database: the Alembic revision it is at now ("live") and the one the code of
        IMAGES expects ("expects"); see deploy/schema.py."""

    def migrations(
        self, images: dict[str, str]
    ) -> dict[str, dict[str, tuple[tuple[str, ...], str]]]:
        """Per database: the migrations IMAGES' code ships (deploy/schema.py's Steps)."""

    def migrate(
        self, images: dict[str, str], database: str, *command: str
    ) -> subprocess.CompletedProcess[str]:
        """Run `alembic COMMAND` (upgrade head, downgrade REV) for DATABASE with the code of
        IMAGES, once, before the apps are started on them."""

    def stop(self, images: dict[str, str]) -> str:
        """Stop the stack's services, keeping its data; says what was done."""

    def down(self, images: dict[str, str], remove_data: bool) -> None:
        """Remove the stack's services and networks (and its volumes, with REMOVE_DATA)."""
