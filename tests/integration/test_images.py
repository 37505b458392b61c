"""The built images themselves: what they contain, who they run as, and how they were made."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from typing import Any

import pytest

from nbship.images import IMAGES, LABEL_PREFIX, PYTHON_BUILD, PYTHON_RUNTIME
from nbship.paths import ROOT

pytestmark = pytest.mark.integration

V1 = "0.1.0"
APPS = [image for image in IMAGES if image.lock]
FORBIDDEN = ("jupyter", "nbconvert", "nbclient", "ipykernel", "nbformat", "ipython")


def inspect(ref: str) -> dict[str, Any]:
    out = subprocess.run(
        ["docker", "image", "inspect", ref], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)[0]


def filesystem(ref: str) -> dict[str, tuple[int, int]]:
    """Every path in an image's filesystem with its size and mode (from `docker export`)."""
    container = subprocess.run(
        ["docker", "create", ref], capture_output=True, text=True, check=True
    )
    cid = container.stdout.strip()
    try:
        exported = subprocess.run(["docker", "export", cid], capture_output=True, check=True).stdout
    finally:
        subprocess.run(["docker", "rm", cid], capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        return {member.name: (member.size, member.mode) for member in tar.getmembers()}


@pytest.mark.parametrize("image", APPS, ids=lambda i: i.name)
def test_app_image_holds_no_jupyter_pip_compiler_or_package_manager(
    pipeline: Any, image: Any
) -> None:
    paths = filesystem(image.ref(V1))
    names = {path.rsplit("/", 1)[-1] for path in paths}
    site = [p for p in paths if "site-packages/" in p]
    assert not [
        p for p in site if p.split("site-packages/")[1].split("/")[0].lower().startswith(FORBIDDEN)
    ]
    assert not {"pip", "pip3", "gcc", "cc", "apt", "apt-get", "dpkg"} & names
    assert not [p for p in site if p.split("site-packages/")[1].startswith("pip")]
    assert "opt/venv/bin/gunicorn" in paths and "usr/bin/python3.11" in paths


@pytest.mark.parametrize("image", APPS, ids=lambda i: i.name)
def test_app_image_runs_as_non_root_with_healthcheck_and_provenance(
    pipeline: Any, image: Any
) -> None:
    config = inspect(image.ref(V1))["Config"]
    assert config["User"] == "10001:10001"
    assert config["Healthcheck"]["Test"][0] == "CMD"
    labels = config["Labels"]
    for key in ("version", "revision", "created", "source", "title"):
        assert labels[f"org.opencontainers.image.{key}"], key
    assert labels["org.opencontainers.image.version"] == V1
    assert image.lock is not None
    assert (
        labels[f"{LABEL_PREFIX}.lock.sha256"] == hashlib.sha256(image.lock.read_bytes()).hexdigest()
    )
    assert len(labels[f"{LABEL_PREFIX}.notebook-cells.sha256"]) == 64
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["NBSHIP_LOCK_SHA256"] == labels[f"{LABEL_PREFIX}.lock.sha256"]
    assert not [key for key in env if any(word in key for word in ("PASSWORD", "SECRET", "TOKEN"))]


def test_every_image_has_an_sbom_listing_its_packages(pipeline: Any) -> None:
    for image in IMAGES:
        sbom = json.loads((ROOT / "build" / "sbom" / f"{image.name}-{V1}.cdx.json").read_text())
        purls = {component["purl"] for component in sbom["components"]}
        assert any(purl.startswith("pkg:deb/debian/") for purl in purls), image.name
        if image.lock:
            assert any(purl.startswith("pkg:pypi/flask@") for purl in purls), image.name


def test_stack_runs_apps_on_a_read_only_root(stack: Any) -> None:
    for service in ("api-gateway-app", "inventory-app", "billing-app"):
        cid = stack.compose("ps", "--quiet", service).stdout.strip()
        host = json.loads(
            subprocess.run(
                ["docker", "inspect", cid], capture_output=True, text=True, check=True
            ).stdout
        )
        assert host[0]["HostConfig"]["ReadonlyRootfs"] is True, service
        assert host[0]["State"]["Health"]["Status"] == "healthy", service


def test_same_commit_built_twice_has_the_same_files_and_packages(pipeline: Any) -> None:
    """Hermetic builds: two uncached builds of one service install exactly the same things."""
    gateway = next(image for image in APPS if image.name == "api-gateway-app")
    listings = []
    for attempt in ("a", "b"):
        tag = f"nbship-hermetic-test:{attempt}"
        subprocess.run(
            [
                "docker", "build", "--no-cache", "--quiet", "--tag", tag,
                "--build-arg", f"PYTHON_BUILD={PYTHON_BUILD}",
                "--build-arg", f"PYTHON_RUNTIME={PYTHON_RUNTIME}",
                "--file", str(gateway.dockerfile), str(ROOT),
            ],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            listings.append(filesystem(tag))
        finally:
            subprocess.run(["docker", "rmi", tag], capture_output=True)
    first, second = listings
    packages = [{p for p in listing if p.endswith(".dist-info/METADATA")} for listing in listings]
    assert packages[0] == packages[1] and len(packages[0]) > 5
    assert first.keys() == second.keys()
    assert {p for p in first if first[p] != second[p]} == set()
