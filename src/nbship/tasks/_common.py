"""What every task shares: typed settings from Invoke's config, and errors as one clear line."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast, overload

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.parser.parser import ParseMachine
from invoke.tasks import Task
from invoke.tasks import task as invoke_task

from nbship.errors import NbshipError
from nbship.paths import ROOT

# The stack and registry clients load requests: imported where a task asks for one, since every
# command, even `invoke --list`, imports this module (issue 13's start-up budget).
if TYPE_CHECKING:
    from nbship.cluster.local import LocalCluster
    from nbship.deploy.stack import Stack
    from nbship.registry.client import Registry
    from nbship.registry.local import LocalRegistry

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
    # Build from uncommitted changes (labelled <sha>-dirty, no sha- tag pushed); --allow-dirty
    "allow_dirty": False,
    "wait_timeout": 240,
    # Database snapshots kept per database (the newest); older ones are deleted
    "snapshots_keep": 10,
    # "compose" (this host) or "swarm" (docker stack deploy from this manager); --swarm sets it
    "orchestrator": "compose",
    # Tasks of each stateless app (inventory, billing) on Swarm, spread over the nodes
    "swarm_replicas": 2,
    # `invoke cluster.up`: engines in network namespaces on this machine (nbship.cluster.local)
    "cluster": {"name": "nbship", "size": 3, "subnet": "10.213.0"},
}


Body = Callable[..., Any]


@overload
def task(body: Body, /) -> Task[Body]: ...


@overload
def task(**kwargs: Any) -> Callable[[Body], Task[Body]]: ...


def task(*args: Any, **kwargs: Any) -> Task[Body] | Callable[[Body], Task[Body]]:
    """invoke.task whose body's NbshipError becomes `nbship: MESSAGE` and exit status 1."""

    def decorate(body: Body) -> Task[Body]:
        @functools.wraps(body)
        def wrapper(*a: Any, **kw: Any) -> Any:
            try:
                return body(*a, **kw)
            except NbshipError as exc:
                raise Exit(f"nbship: error: {exc}", code=1) from None

        made: Task[Body] = invoke_task(**kwargs)(wrapper)
        return made

    if len(args) == 1 and callable(args[0]) and not kwargs:  # bare @task
        return decorate(args[0])
    return decorate


class _PipeGuard:
    """stdout that, once its reader has gone, sends the rest of the output to /dev/null.

    Stopping at the first failed print could leave a deploy half done because `head` had seen
    enough; the work goes on, unseen, and child processes inherit the /dev/null too.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._silence()
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._silence()

    def _silence(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def prepare_cli() -> None:
    """What the command line needs before Invoke parses it; tasks.py, its entry, calls this.

    A reader may leave early (`invoke registry.ls | head`): the rest of the output, Invoke's own
    (--list, --help) included, goes to /dev/null instead of ending in a BrokenPipeError
    traceback. Only the process's real stdout is guarded (not a test runner's capture).
    """
    _patch_parser()
    if sys.stdout is sys.__stdout__ and sys.stdout is not None:
        sys.stdout = cast(TextIO, _PipeGuard(sys.stdout))


def _patch_parser() -> None:
    """Make `invoke TASK --help` show help for tasks with positional arguments too, and a flag
    given a value of the wrong type fail in one line.

    Invoke's parser gives a task's missing positional argument any next token before it looks
    for core flags, so `invoke image.inspect --help` ran the task with service="--help" (no task
    here takes "--help" or "-h" as a value). And it casts `--rounds x` with int(), letting the
    ValueError out as a traceback.
    """
    if getattr(ParseMachine.handle, "nbship_help_first", False):
        return
    original = ParseMachine.handle

    def handle(self: ParseMachine, token: str) -> None:
        context = self.context
        if (
            token in ("--help", "-h")
            and context is not None
            and self.initial is not None
            and context.missing_positional_args
            and not self.waiting_for_flag_value
            and token not in context.flags
        ):
            self.initial.flags[token].value = context.name
            # Help is printed instead of running the task: its arguments need no values.
            for argument in context.missing_positional_args:
                argument.set_value("", cast=False)
            return
        flag = self.flag if self.waiting_for_flag_value else None
        try:
            original(self, token)
        except ValueError:  # Invoke casts `--rounds x` with int() and lets the error out
            if flag is None:
                raise
            name = flag.name.replace("_", "-")
            self.error(f"--{name} takes {flag.kind.__name__} values, not {token!r}")

    handle.nbship_help_first = True  # type: ignore[attr-defined]
    ParseMachine.handle = handle  # type: ignore[method-assign]


def conf(c: Context) -> Any:
    return c.config.nbship


def _path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


def stack(c: Context, swarm: bool = False) -> Stack:
    """The configured stack; on Docker Swarm when SWARM (a task's --swarm) or configured so."""
    from nbship.deploy.stack import Stack

    cfg = conf(c)
    return Stack(
        project=cfg.project,
        gateway_port=int(cfg.gateway_port),
        state_dir=_path(cfg.state_dir),
        env_file=_path(cfg.env_file),
        wait_timeout=int(cfg.wait_timeout),
        orchestrator="swarm" if swarm else str(cfg.orchestrator),
        snapshots_keep=int(cfg.snapshots_keep),
        swarm_replicas=int(cfg.swarm_replicas),
    )


def registry(c: Context, address: str | None = None) -> Registry:
    from nbship.registry.client import Registry

    return Registry(address or conf(c).registry)


def local_registry(c: Context, address: str | None = None) -> LocalRegistry:
    from nbship.registry.local import LocalRegistry

    cfg = conf(c)
    host, _, port = (address or cfg.registry).partition(":")
    if host not in {"localhost", "127.0.0.1"} or not port.isdigit():
        raise NbshipError(
            f"{address or cfg.registry} is not a local registry (expected localhost:PORT)"
        )
    return LocalRegistry(port=int(port), project=cfg.registry_project, volume=cfg.registry_volume)


def local_cluster(c: Context, size: int = 0, name: str = "", subnet: str = "") -> LocalCluster:
    """The configured local cluster, with what a task's flags say instead; its engines pull
    from the configured registry's port."""
    from nbship.cluster.local import LocalCluster

    cfg = conf(c)
    shape = LocalCluster(  # its name, size and subnet are checked first
        name=name or str(cfg.cluster.name),
        size=size or int(cfg.cluster.size),
        subnet=subnet or str(cfg.cluster.subnet),
    )
    return dataclasses.replace(shape, registry_ports=(local_registry(c).port,))
