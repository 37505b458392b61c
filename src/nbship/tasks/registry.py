"""registry.*: the local registry on localhost:5001 and what it holds."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from nbship.catalogue import IMAGES
from nbship.tasks import _common as common
from nbship.tasks._common import task


@task(
    help={
        "base": "base for a locally built registry image: auto, pull, bootstrap or an image ref",
        "auth": "require a login (htpasswd, bcrypt): a random password is made once and kept in "
        "build/registry-auth/credentials.env; `registry.down --remove-data` removes it",
    }
)
def up(c: Context, base: str | None = None, auth: bool = False) -> None:
    """Start the local registry (data in a named volume, kept across restarts)."""
    address = common.local_registry(c).up(base or common.conf(c).base, auth=auth)
    print(f"nbship: registry answering at {address}")


@task(help={"remove_data": "also delete the data volume, every image pushed to it and its login"})
def down(c: Context, remove_data: bool = False) -> None:
    """Stop the local registry; pushed images stay in its volume unless --remove-data."""
    common.local_registry(c).down(remove_data=remove_data)
    print("nbship: registry stopped" + (" and its data removed" if remove_data else ""))


@task(
    help={
        "registry": "registry address (default: localhost:5001)",
        "username": "user to log in as (default: REGISTRY_USERNAME or GITHUB_ACTOR)",
    }
)
def ls(c: Context, registry: str | None = None, username: str | None = None) -> None:
    """List nbship's repositories in the registry with their tags and digests."""
    # Here, not at the top: requests is slow to import and most commands never need it.
    from nbship.registry.client import Registry

    target = Registry(registry or common.conf(c).registry, username=username)
    target.ping()
    for image in IMAGES:
        tags = target.tags(image.repository)
        print(f"{target.remote(image.repository)}: {len(tags)} tag(s)")
        for tag in tags:
            print(f"  {tag:<24} {target.digest(image.repository, tag)}")


@task(help={"dry_run": "only report what would be deleted; the registry stays writable"})
def gc(c: Context, dry_run: bool = False) -> None:
    """Delete untagged manifests and unused layers (the registry is read-only meanwhile)."""
    local = common.local_registry(c)
    print(f"nbship: garbage-collecting {local.address}" + (" (dry run)" if dry_run else ""))
    print(f"nbship: {local.gc(dry_run=dry_run)}")


ns = Collection("registry", up, down, ls, gc)
