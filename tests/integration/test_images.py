"""The built images themselves: what they contain, who they run as, and how they were made."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from nbship.build.images import LABEL_PREFIX, PYTHON_BUILD, PYTHON_RUNTIME
from nbship.build.sbom import IMAGE_PATH as SBOM_PATH
from nbship.catalogue import IMAGES
from nbship.notebooks.extract import HEADER_PREFIX
from nbship.paths import ROOT

pytestmark = pytest.mark.integration

V1 = "0.1.0"
APPS = [image for image in IMAGES if image.lock]
HEADER = HEADER_PREFIX.encode()
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


def copied_out(ref: str, path: str) -> bytes | None:
    """What `docker cp` copies out of image REF at PATH (a tar stream), or None when absent."""
    cid = subprocess.run(
        ["docker", "create", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        copied = subprocess.run(["docker", "cp", f"{cid}:{path}", "-"], capture_output=True)
    finally:
        subprocess.run(["docker", "rm", cid], capture_output=True)
    return copied.stdout if copied.returncode == 0 else None


def app_files(ref: str) -> dict[str, bytes]:
    """Every Python file under /app in image REF, by its path inside /app."""
    copied = copied_out(ref, "/app")
    assert copied is not None, f"{ref} has no /app"
    files = {}
    with tarfile.open(fileobj=io.BytesIO(copied)) as tar:
        for member in tar.getmembers():
            inside = member.name.removeprefix("app/")
            if member.isfile() and inside.endswith(".py") and "tests/" not in inside:
                handle = tar.extractfile(member)
                assert handle is not None
                files[inside] = handle.read()
    return files


@pytest.mark.parametrize("image", APPS, ids=lambda i: i.name)
def test_notebook_cells_label_is_the_hash_of_the_generated_code_the_image_ships(
    pipeline: Any, image: Any
) -> None:
    """Provenance by construction: recomputed from the files inside the image, not the notebooks."""
    files = app_files(image.ref(V1))
    generated = [files[path] for path in sorted(files) if files[path].startswith(HEADER)]
    assert generated, f"{image.name} ships no module generated from a notebook"
    config = inspect(image.ref(V1))["Config"]
    label = config["Labels"][f"{LABEL_PREFIX}.notebook-cells.sha256"]
    assert label == hashlib.sha256(b"".join(generated)).hexdigest()
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["NBSHIP_CELLS_SHA256"] == label  # what /version serves


def sbom_in_image(ref: str) -> tuple[tarfile.TarInfo, bytes] | None:
    """The SBOM's tar entry (owner, mode) and bytes as `docker cp` copies them out of REF."""
    copied = copied_out(ref, SBOM_PATH)
    if copied is None:
        return None
    with tarfile.open(fileobj=io.BytesIO(copied)) as tar:
        member = tar.getmember(SBOM_PATH.rsplit("/", 1)[1])
        handle = tar.extractfile(member)
        assert handle is not None
        return member, handle.read()


def built_sbom(pipeline: Any, image: Any) -> bytes:
    """The SBOM file the build of V1 wrote, in the checkout it was built from."""
    return (pipeline.checkout / "build" / "sbom" / f"{image.name}-{V1}.cdx.json").read_bytes()


@pytest.mark.parametrize("image", IMAGES, ids=lambda i: i.name)
def test_every_image_carries_its_sbom_matching_its_label_and_the_build_output(
    pipeline: Any, image: Any
) -> None:
    ref = image.ref(V1)
    labels = inspect(ref)["Config"]["Labels"]
    found = sbom_in_image(ref)
    assert found is not None, f"{ref} has no {SBOM_PATH}"
    member, content = found
    # Root's file, readable by the image's own (non-root) user on a read-only root.
    assert (member.uid, member.gid, member.mode & 0o777) == (0, 0, 0o644)
    assert labels[f"{LABEL_PREFIX}.sbom"] == SBOM_PATH
    assert labels[f"{LABEL_PREFIX}.sbom.sha256"] == hashlib.sha256(content).hexdigest()
    assert content == built_sbom(pipeline, image)
    sbom = json.loads(content)
    assert sbom["metadata"]["component"]["name"] == image.repository
    assert sbom["metadata"]["timestamp"] == labels["org.opencontainers.image.created"]
    assert uuid.UUID(sbom["serialNumber"].removeprefix("urn:uuid:")).version == 5
    names = {component["name"] for component in sbom["components"]}
    assert "libc6" in names
    if image.lock:
        assert "flask" in names
    first_line = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--read-only", "--entrypoint", "/bin/sh",
         ref, "-c", f'read -r line < {SBOM_PATH} && echo "$line"'],
        capture_output=True, text=True,
    )  # fmt: skip
    assert (first_line.returncode, first_line.stdout) == (0, "{\n"), first_line.stderr


def test_sbom_attaching_adds_one_layer_and_keeps_how_the_image_runs(pipeline: Any) -> None:
    """The stamp build (FROM, COPY, LABEL, ENV) inherits the user, command and healthcheck and
    adds only the version and git sha to the environment."""
    for image in IMAGES:
        attached = inspect(image.ref(V1))
        layers = attached["RootFS"]["Layers"]
        # The legacy builder keeps each step's image as the next one's parent: walk back past
        # the ENV, LABEL and COPY steps to the image as its own Dockerfile built it.
        before = attached
        while before["Parent"] and before["RootFS"]["Layers"] == layers:
            before = inspect(before["Parent"])
        if before is attached:
            pytest.skip("the builder keeps no parent images to compare with")
        assert before["RootFS"]["Layers"] == layers[:-1], image.name
        assert f"{LABEL_PREFIX}.sbom" not in before["Config"]["Labels"], image.name
        for key in ("User", "Cmd", "Entrypoint", "Healthcheck", "WorkingDir", "Volumes"):
            assert attached["Config"].get(key) == before["Config"].get(key), (image.name, key)
        added = set(attached["Config"]["Env"]) - set(before["Config"]["Env"])
        revision = attached["Config"]["Labels"]["org.opencontainers.image.revision"]
        stamped = {f"NBSHIP_VERSION={V1}", f"NBSHIP_GIT_SHA={revision[:12]}"}
        stamped = stamped if image.lock else set()
        assert added == stamped, image.name
        assert set(before["Config"]["Env"]) <= set(attached["Config"]["Env"]), image.name


def test_image_sbom_task_prints_the_sbom_checked_against_its_label(
    pipeline: Any, tmp_path: Path
) -> None:
    for image in IMAGES:
        printed = pipeline.invoke("image.sbom", image.name, "--version", V1)
        assert printed.stdout.encode() == built_sbom(pipeline, image), image.name
    gateway = next(image for image in APPS if image.name == "api-gateway-app")
    out = tmp_path / "gateway.cdx.json"
    pipeline.invoke("image.sbom", gateway.name, "--version", V1, "--output", str(out))
    assert out.read_bytes() == built_sbom(pipeline, gateway)


def test_image_sbom_task_refuses_an_sbom_that_does_not_match_its_label(
    pipeline: Any, tmp_path: Path
) -> None:
    """A label that does not pin the file's bytes is one clear error naming the image."""
    tampered_version = "0.0.1-sbom-tampered"
    tampered = f"nbship/billing-app:{tampered_version}"
    subprocess.run(
        ["docker", "build", "--quiet", "--tag", tampered, "--file", "-", str(tmp_path)],
        input=f'FROM nbship/billing-app:{V1}\nLABEL {LABEL_PREFIX}.sbom.sha256="{"0" * 64}"\n',
        text=True, check=True, capture_output=True,
    )  # fmt: skip
    try:
        result = pipeline.invoke(
            "image.sbom", "billing-app", "--version", tampered_version, check=False
        )
    finally:
        subprocess.run(["docker", "rmi", tampered], capture_output=True)
    assert result.returncode == 1
    assert result.stdout == ""
    billing = next(image for image in APPS if image.name == "billing-app")
    actual = hashlib.sha256(built_sbom(pipeline, billing)).hexdigest()
    assert result.stderr.strip().splitlines() == [
        f"nbship: error: {tampered}: the SBOM at {SBOM_PATH} has sha256 {actual[:12]}..., "
        f"but its {LABEL_PREFIX}.sbom.sha256 label says {'0' * 12}..."
    ]


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
    # V1's checkout: its build/ has the wheelhouse the Dockerfile copies (a clean clone has none)
    checkout = pipeline.checkout
    listings = []
    for attempt in ("a", "b"):
        tag = f"nbship-hermetic-test:{attempt}"
        subprocess.run(
            [
                "docker", "build", "--no-cache", "--quiet", "--tag", tag,
                "--build-arg", f"PYTHON_BUILD={PYTHON_BUILD}",
                "--build-arg", f"PYTHON_RUNTIME={PYTHON_RUNTIME}",
                "--file", str(checkout / gateway.dockerfile.relative_to(ROOT)), str(checkout),
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
