"""The release pipeline's front tasks: build, push, promote, deploy, rollback, down, releases,
status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit

from nbship import catalogue
from nbship import version as versions
from nbship.errors import NbshipError
from nbship.registry import promote as promoting
from nbship.tasks import _common as common
from nbship.tasks._common import task

# The builder (nbformat, the SBOM library) and the registry and stack clients (requests) are
# imported inside the tasks that use them: every command, even `invoke --list`, imports this
# file (issue 13's start-up budget).
if TYPE_CHECKING:
    import semver

    from nbship.deploy.stack import Stack

IMAGE_HELP = "only this image (repeatable; default: all of {})".format(
    ", ".join(image.name for image in catalogue.IMAGES)
)
SWARM_HELP = (
    "the stack on Docker Swarm (docker stack deploy, from this manager) instead of compose on "
    "this host; or set INVOKE_NBSHIP_ORCHESTRATOR=swarm"
)
USERNAME_HELP = (
    "user to log in as when the registry asks (default: REGISTRY_USERNAME or GITHUB_ACTOR); the "
    "password or token comes from REGISTRY_PASSWORD, GHCR_TOKEN or GITHUB_TOKEN, never a flag"
)


def _version(value: str | None) -> semver.Version:
    return versions.parse(value) if value else versions.current()


@task(
    iterable=["image"],
    help={
        "version": "SemVer version to build (default: the VERSION file)",
        "image": IMAGE_HELP,
        "base": "Debian base: auto (pull debian:bookworm-slim, else debootstrap), pull, "
        "bootstrap, or an image reference",
        "allow_dirty": "build from uncommitted changes: the git sha in labels and /version reads "
        "<sha>-dirty and push gives no sha- tag (or set INVOKE_NBSHIP_ALLOW_DIRTY=1)",
    },
)
def build(
    c: Context,
    version: str | None = None,
    image: list[str] | None = None,
    base: str | None = None,
    allow_dirty: bool = False,
) -> None:
    """Build every service image, tagged X.Y.Z, X.Y, X, latest and sha-<git sha>."""
    from nbship.build import images

    cfg = common.conf(c)
    dirty_ok = allow_dirty or bool(cfg.allow_dirty)
    images.build(_version(version), image or None, base or cfg.base, allow_dirty=dirty_ok)


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
    from nbship.registry import push as pushing
    from nbship.registry.client import Registry

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
    if to is None:
        raise NbshipError(f"say where to promote: {usage}")
    from nbship.registry.client import Registry

    target = Registry(registry or common.conf(c).registry, username=username)
    v = versions.parse(version)
    print(f"nbship: promoting {v} to {to} in {target.address}")
    promoting.promote(target, v, to)


@task(
    help={
        "version": "version to deploy from the registry (default: the VERSION file)",
        "env": "deploy what this environment's tag points at instead: "
        + " or ".join(promoting.ENVIRONMENTS)
        + " (set by `invoke promote`)",
        "registry": "registry to deploy from (default: localhost:5001)",
        "swarm": SWARM_HELP,
    }
)
def deploy(
    c: Context,
    version: str | None = None,
    env: str | None = None,
    registry: str | None = None,
    swarm: bool = False,
) -> None:
    """Deploy a version from the registry, pinned by digest; wait until every service is healthy."""
    from nbship.deploy import stack as deploying

    if version and env:
        raise NbshipError("give --version or --env, not both")
    if env is not None:
        promoting.check_environment(env)
    target = common.stack(c, swarm)
    wanted = None if env else _version(version)
    deploying.deploy(target, common.registry(c, registry), wanted, environment=env)
    _print_running(target)


@task(
    help={
        "to": "return to this deployed version, earlier or later (a roll-forward), instead of "
        "the previous release",
        "restore_data": "when a database is past a migration the older code cannot run on, "
        "restore the snapshot taken before it (rows written since are lost: needs --yes)",
        "downgrade": "... or run that migration's own downgrade instead",
        "yes": "confirm --restore-data once it has said how many rows would be lost",
        "swarm": SWARM_HELP,
    }
)
def rollback(
    c: Context,
    to: str | None = None,
    restore_data: bool = False,
    downgrade: bool = False,
    yes: bool = False,
    swarm: bool = False,
) -> None:
    """Return the stack to the previous deployed release (no build, no registry needed).

    The previous release is the one that ran before the current one: a rollback after a deploy or
    a `--to` undoes it, and two rollbacks go two releases back (see nbship.deploy.ledger). Over
    "expand" migrations the older code runs on the newer schema; over a "contract" one the
    rollback is refused unless --restore-data --yes or --downgrade says how (docs/deploy.md).
    """
    from nbship.deploy import stack as deploying

    if restore_data and downgrade:
        raise NbshipError("say --restore-data or --downgrade, not both")
    data = "restore" if restore_data else "downgrade" if downgrade else "refuse"
    target = common.stack(c, swarm)
    deploying.rollback(target, str(versions.parse(to)) if to else None, data, confirmed=yes)
    _print_running(target)


@task(
    help={
        "remove_data": "also delete the stack's volumes: both databases, the broker, the logs",
        "swarm": SWARM_HELP,
    }
)
def down(c: Context, remove_data: bool = False, swarm: bool = False) -> None:
    """Stop and remove the stack's containers and networks; its data stays unless asked."""
    from nbship.deploy import stack as deploying

    target = common.stack(c, swarm)
    deploying.down(target, remove_data=remove_data)
    kept = "and its volumes" if remove_data else "(its volumes are kept)"
    print(f"nbship: removed {target.orchestrator} stack {target.project!r} {kept}")


@task(help={"swarm": SWARM_HELP})
def releases(c: Context, swarm: bool = False) -> None:
    """List this stack's deployments from the release ledger, newest last.

    Each line ends with every database's schema revision after that release (inventory-db=0002),
    and the one its code expected where that differs (inventory-db=0002/code:0001).
    """
    target = common.stack(c, swarm)
    entries = target.ledger.entries()
    if not entries:
        print(f"no releases recorded for stack {target.project!r}")
        return
    current = target.ledger.current()
    for entry in entries:
        mark = "*" if current and entry.id == current.id else " "
        schema = " ".join(
            _schema_cell(database, revisions) for database, revisions in entry.schema.items()
        )
        print(
            f"{mark} #{entry.id:<3} {entry.version:<16} {entry.action:<8} {entry.status:<9} "
            f"{entry.deployed_at} {schema} {entry.note}".rstrip()
        )


def _schema_cell(database: str, revisions: dict[str, str | None]) -> str:
    live, expects = revisions.get("live") or "?", revisions.get("expects") or "?"
    return f"{database}={live}" + ("" if live == expects else f"/code:{expects}")


@task(
    help={
        "json": "print one JSON document (project, live release, services, problems) for scripts",
        "swarm": SWARM_HELP,
    }
)
def status(c: Context, json: bool = False, swarm: bool = False) -> None:
    """Show each service's version, digest, health and uptime beside what the ledger says is live.

    Exits 1 when a container is not healthy or runs an image the live release does not pin.
    """
    from nbship.catalogue import stack_services
    from nbship.deploy import status as statuses

    target = common.stack(c, swarm)
    live = target.ledger.current()
    schema = target.runtime.schema(live.images) if live else {}
    found = statuses.read(target.project, target.orchestrator, live, stack_services(), schema)
    print(found.as_json() if json else found.as_table())
    if found.problems:
        raise Exit(f"nbship: {'; '.join(found.problems)}", code=1)


def _print_running(target: Stack) -> None:
    from nbship.deploy import stack as deploying

    info = deploying.running_version(target)
    if info is None:
        print(f"nbship: warning: the gateway at {target.gateway_url} does not answer /version")
        return
    print(
        f"nbship: gateway {target.gateway_url} runs version {info.get('version')} "
        f"(git {info.get('git_sha')})"
    )
