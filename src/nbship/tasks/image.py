"""image.*: what a built image is made of (labels, provenance, SBOM) and how big it is."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context

from nbship import catalogue, docker
from nbship import version as versions
from nbship.files import atomic_write
from nbship.paths import ROOT
from nbship.tasks._common import task


@task(
    positional=["service"],
    help={
        "service": "image name: " + ", ".join(i.name for i in catalogue.IMAGES),
        "version": "version to inspect (default: the VERSION file)",
    },
)
def inspect(c: Context, service: str | None = None, version: str | None = None) -> None:
    """Show an image's OCI labels and nbship provenance (lock and notebook-cell hashes)."""
    # Here, not at the top: the builder loads nbformat and the SBOM library, which listing the
    # tasks or asking for help must not pay for (issue 13's start-up budget).
    from nbship.build import images
    from nbship.build import sbom as sboms

    v = versions.parse(version) if version else versions.current()
    names = [service] if service else [image.name for image in catalogue.IMAGES]
    for name in names:
        labels = images.inspect(name, v)
        ref = catalogue.by_name([name])[0].ref(versions.docker_tag(v))
        size = int(docker.docker("image", "inspect", "--format", "{{.Size}}", ref).stdout)
        print(f"{ref}  ({size / 1e6:.1f} MB)")
        for key, value in labels.items():
            print(f"  {key} = {value}")
        written = sboms.SBOM_DIR / f"{name}-{v}.cdx.json"
        print(f"  sbom: {written if written.exists() else 'not written (run invoke build)'}")


@task(
    positional=["service"],
    help={
        "service": "image name: " + ", ".join(i.name for i in catalogue.IMAGES),
        "version": "version whose image to read (default: the VERSION file)",
        "output": "write the SBOM to this file instead of printing it",
    },
)
def sbom(c: Context, service: str, version: str | None = None, output: str | None = None) -> None:
    """Print an image's CycloneDX SBOM, read from inside the image and checked against its label."""
    from nbship.build import images
    from nbship.build import sbom as sboms

    v = versions.parse(version) if version else versions.current()
    (image,) = images.require_local(v, [service])
    ref = image.ref(versions.docker_tag(v))
    text = sboms.from_image(ref)
    if output is None:
        print(text, end="")
        return
    path = Path(output).resolve()
    atomic_write(path, text)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"nbship: SBOM of {ref} written to {shown}")


ns = Collection("image", inspect, sbom)
