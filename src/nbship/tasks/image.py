"""image.*: what a built image is made of (labels, provenance, SBOM) and how big it is."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context

from nbship import docker, images
from nbship import version as versions
from nbship.sbom import SBOM_DIR
from nbship.tasks._common import task


@task(
    positional=["service"],
    help={
        "service": "image name: " + ", ".join(i.name for i in images.IMAGES),
        "version": "version to inspect (default: the VERSION file)",
    },
)
def inspect(c: Context, service: str | None = None, version: str | None = None) -> None:
    """Show an image's OCI labels and nbship provenance (lock and notebook-cell hashes)."""
    v = versions.parse(version) if version else versions.current()
    names = [service] if service else [image.name for image in images.IMAGES]
    for name in names:
        labels = images.inspect(name, v)
        ref = images.by_name([name])[0].ref(versions.docker_tag(v))
        size = int(docker.docker("image", "inspect", "--format", "{{.Size}}", ref).stdout)
        print(f"{ref}  ({size / 1e6:.1f} MB)")
        for key, value in labels.items():
            print(f"  {key} = {value}")
        sbom = SBOM_DIR / f"{name}-{v}.cdx.json"
        print(f"  sbom: {sbom if sbom.exists() else 'not written (run invoke build)'}")


ns = Collection("image", inspect)
