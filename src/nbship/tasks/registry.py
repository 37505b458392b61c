"""registry.*: the local registry on localhost:5001 and what it holds."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from nbship.images import IMAGES
from nbship.tasks import _common as common
from nbship.tasks._common import task


@task(
    help={"base": "base for a locally built registry image: auto, pull, bootstrap or an image ref"}
)
def up(c: Context, base: str | None = None) -> None:
    """Start the local registry (data in a named volume, kept across restarts)."""
    address = common.local_registry(c).up(base or common.conf(c).base)
    print(f"nbship: registry answering at {address}")


@task(help={"remove_data": "also delete the data volume and every image pushed to it"})
def down(c: Context, remove_data: bool = False) -> None:
    """Stop the local registry; pushed images stay in its volume unless --remove-data."""
    common.local_registry(c).down(remove_data=remove_data)
    print("nbship: registry stopped" + (" and its data removed" if remove_data else ""))


@task(help={"registry": "registry address (default: localhost:5001)"})
def ls(c: Context, registry: str | None = None) -> None:
    """List nbship's repositories in the registry with their tags and digests."""
    target = common.registry(c, registry)
    target.ping()
    for image in IMAGES:
        tags = target.tags(image.repository)
        print(f"{target.remote(image.repository)}: {len(tags)} tag(s)")
        for tag in tags:
            print(f"  {tag:<24} {target.digest(image.repository, tag)}")


ns = Collection("registry", up, down, ls)
