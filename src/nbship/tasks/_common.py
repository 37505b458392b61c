"""What every task shares: typed settings from Invoke's config, and errors as one clear line."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task as invoke_task

from nbship.deploy import Stack
from nbship.errors import NbshipError
from nbship.paths import ROOT
from nbship.registry import LocalRegistry, Registry

# Defaults for `ns.configure`; each can be overridden in invoke.yaml or by environment variables
# such as INVOKE_NBSHIP_REGISTRY=localhost:5002 (Invoke's usual order).
DEFAULTS: dict[str, Any] = {
    "registry": "localhost:5001",
    "registry_project": "nbship-registry",
    "registry_volume": "nbship-registry-data",
    "project": "nbship",
    "gateway_port": 3000,
    "state_dir": ".nbship",
    "env_file": ".env",
    "base": "auto",
    "wait_timeout": 240,
    # "compose" (this host) or "swarm" (docker stack deploy from this manager); --swarm sets it
    "orchestrator": "compose",
}


def task(*args: Any, **kwargs: Any) -> Any:
    """invoke.task whose body's NbshipError becomes `nbship: MESSAGE` and exit status 1."""

    def decorate(body: Callable[..., Any]) -> Any:
        @functools.wraps(body)
        def wrapper(*a: Any, **kw: Any) -> Any:
            try:
                return body(*a, **kw)
            except NbshipError as exc:
                raise Exit(f"nbship: error: {exc}", code=1) from None

        return invoke_task(**kwargs)(wrapper)

    if len(args) == 1 and callable(args[0]) and not kwargs:  # bare @task
        return decorate(args[0])
    return decorate


def conf(c: Context) -> Any:
    return c.config.nbship


def _path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


def stack(c: Context, swarm: bool = False) -> Stack:
    """The configured stack; on Docker Swarm when SWARM (a task's --swarm) or configured so."""
    cfg = conf(c)
    return Stack(
        project=cfg.project,
        gateway_port=int(cfg.gateway_port),
        state_dir=_path(cfg.state_dir),
        env_file=_path(cfg.env_file),
        wait_timeout=int(cfg.wait_timeout),
        orchestrator="swarm" if swarm else str(cfg.orchestrator),
    )


def registry(c: Context, address: str | None = None) -> Registry:
    return Registry(address or conf(c).registry)


def local_registry(c: Context, address: str | None = None) -> LocalRegistry:
    cfg = conf(c)
    host, _, port = (address or cfg.registry).partition(":")
    if host not in {"localhost", "127.0.0.1"} or not port.isdigit():
        raise NbshipError(
            f"{address or cfg.registry} is not a local registry (expected localhost:PORT)"
        )
    return LocalRegistry(port=int(port), project=cfg.registry_project, volume=cfg.registry_volume)
