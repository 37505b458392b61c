"""The release pipeline's front tasks: build, push, promote, deploy, rollback, down, releases."""

from __future__ import annotations

from invoke.context import Context

from nbship import deploy as deploying
from nbship import images
from nbship import promote as promoting
from nbship import push as pushing
from nbship import version as versions
from nbship.errors import NbshipError
from nbship.registry import Registry
from nbship.tasks import _common as common
from nbship.tasks._common import task

IMAGE_HELP = (
    "only this image (repeatable; default: all of " + ", ".join(i.name for i in images.IMAGES) + ")"
)
SWARM_HELP = (
    "the stack on Docker Swarm (docker stack deploy, from this manager) instead of compose on "
    "this host; or set INVOKE_NBSHIP_ORCHESTRATOR=swarm"
)
USERNAME_HELP = (
    "user to log in as when the registry asks (default: REGISTRY_USERNAME or GITHUB_ACTOR); the "
    "password or token comes from REGISTRY_PASSWORD, GHCR_TOKEN or GITHUB_TOKEN, never a flag"
)


def _version(value: str | None):
    return versions.parse(value) if value else versions.current()


@task(
    iterable=["image"],
    help={
        "version": "SemVer version to build (default: the VERSION file)",
        "image": IMAGE_HELP,
        "base": "Debian base: auto (pull debian:bookworm-slim, else debootstrap), pull, "
        "bootstrap, or an image reference",
    },
)
def build(
    c: Context, version: str | None = None, image: list[str] | None = None, base: str | None = None
) -> None:
    """Build every service image, tagged X.Y.Z, X.Y, X, latest and sha-<git sha>."""
    images.build(_version(version), image or None, base or common.conf(c).base)


@task(
    iterable=["image"],
    help={
        "version": "version to push (default: the VERSION file); must be built already",
        "registry": "registry address (default: localhost:5001, or ghcr.io/OWNER)",
        "image": IMAGE_HELP,
        "force": "overwrite a version tag that already holds different content",
        "username": USERNAME_HELP,
    },
)
def push(
    c: Context,
    version: str | None = None,
    registry: str | None = None,
    image: list[str] | None = None,
    force: bool = False,
    username: str | None = None,
) -> None:
    """Push the built images' tags to the registry and print each image's digest."""
    target = Registry(registry or common.conf(c).registry, username=username)
    v = _version(version)
    print(f"nbship: pushing {v} to {target.address}")
    pushing.push(target, v, image or None, force=force)


@task(
    positional=["version"],
    help={
        "version": "the version to promote (X.Y.Z, already pushed)",
        "to": "the environment tag to move: " + " or ".join(promoting.ENVIRONMENTS),
        "registry": "registry address (default: localhost:5001, or ghcr.io/OWNER)",
        "username": USERNAME_HELP,
    },
)
def promote(
    c: Context,
    version: str,
    to: str | None = None,
    registry: str | None = None,
    username: str | None = None,
) -> None:
    """Point the staging or prod tag at a version's exact digests (no build, pull or push)."""
    usage = "invoke promote X.Y.Z --to " + "|".join(promoting.ENVIRONMENTS)
    if version.startswith("-"):  # `invoke promote --help` fills the positional: help is elsewhere
        raise NbshipError(f"usage: {usage} (flags: `invoke --help promote`)")
    if to is None:
        raise NbshipError(f"say where to promote: {usage}")
    target = Registry(registry or common.conf(c).registry, username=username)
    v = versions.parse(version)
    print(f"nbship: promoting {v} to {to} in {target.address}")
    promoting.promote(target, v, to)


@task(
    help={
        "version": "version to deploy from the registry (default: the VERSION file)",
        "registry": "registry to deploy from (default: localhost:5001)",
        "swarm": SWARM_HELP,
    }
)
def deploy(
    c: Context, version: str | None = None, registry: str | None = None, swarm: bool = False
) -> None:
    """Deploy a version from the registry, pinned by digest; wait until every service is healthy."""
    target = common.stack(c, swarm)
    deploying.deploy(target, common.registry(c, registry), _version(version))
    _print_running(target)


@task(
    help={
        "to": "roll back to this earlier deployed version instead of the previous one",
        "swarm": SWARM_HELP,
    }
)
def rollback(c: Context, to: str | None = None, swarm: bool = False) -> None:
    """Return the stack to the previous deployed release (no build, no registry needed)."""
    target = common.stack(c, swarm)
    deploying.rollback(target, str(versions.parse(to)) if to else None)
    _print_running(target)


@task(
    help={
        "remove_data": "also delete the stack's volumes: both databases, the broker, the logs",
        "swarm": SWARM_HELP,
    }
)
def down(c: Context, remove_data: bool = False, swarm: bool = False) -> None:
    """Stop and remove the stack's containers and networks; its data stays unless asked."""
    target = common.stack(c, swarm)
    deploying.down(target, remove_data=remove_data)
    kept = "and its volumes" if remove_data else "(its volumes are kept)"
    print(f"nbship: removed {target.orchestrator} stack {target.project!r} {kept}")


@task(help={"swarm": SWARM_HELP})
def releases(c: Context, swarm: bool = False) -> None:
    """List this stack's deployments from the release ledger, newest last."""
    target = common.stack(c, swarm)
    entries = target.ledger.entries()
    if not entries:
        print(f"no releases recorded for stack {target.project!r}")
        return
    current = target.ledger.current()
    for entry in entries:
        mark = "*" if current and entry.id == current.id else " "
        print(
            f"{mark} #{entry.id:<3} {entry.version:<16} {entry.action:<8} {entry.status:<9} "
            f"{entry.deployed_at} {entry.note}"
        )


def _print_running(target: deploying.Stack) -> None:
    info = deploying.running_version(target)
    if info is None:
        print(f"nbship: warning: the gateway at {target.gateway_url} does not answer /version")
        return
    print(
        f"nbship: gateway {target.gateway_url} runs version {info.get('version')} "
        f"(git {info.get('git_sha')})"
    )
