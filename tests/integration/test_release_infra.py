"""A release replaces only what changed: images versioned by their content, containers left
running when their image did not change, every container stopping cleanly, the audit's names.

V1 is this checkout and V2 the next commit, which changes the three apps and neither the
databases nor the broker (see conftest.py).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from nbship.build.images import CONTENT_LABEL, VERSION_LABEL
from nbship.catalogue import IMAGES, stack_services
from nbship.deploy import naming
from nbship.registry.client import Registry

pytestmark = pytest.mark.integration

V1, V2 = "0.1.0", "0.2.0"
INFRA = ("inventory-db", "billing-db", "rabbit-queue")
APPS = ("api-gateway-app", "inventory-app", "billing-app")


def labels(ref: str) -> dict[str, str]:
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", ref],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def image_id(ref: str) -> str:
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def containers(stack: Any) -> dict[str, dict[str, Any]]:
    """Each service's container as `docker inspect` sees it, found by the name nbship gives it."""
    project = stack.pipeline.project
    names = [naming.container(project, service) for service in stack_services()]
    out = subprocess.run(["docker", "inspect", *names], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout)
    return {row["Config"]["Labels"]["com.docker.compose.service"]: row for row in found}


def running_identity(row: dict[str, Any]) -> tuple[str, str, int]:
    """What changes when a container is replaced or restarted: its ID, start time, restarts."""
    return row["Id"], row["State"]["StartedAt"], row["RestartCount"]


def test_database_and_broker_images_keep_their_digest_and_own_version(pipeline: Any) -> None:
    registry = Registry(pipeline.registry)
    for image in IMAGES:
        v1, v2 = registry.digest(image.repository, V1), registry.digest(image.repository, V2)
        assert v1 and v2, image.name
        # Labels of the image pushed, by its ID: local tags like X.Y.Z are shared by every
        # checkout building on this engine, the session's registry is not.
        pushed = labels(str(registry.config_digest(image.repository, V2)))
        if image.package:
            assert v1 == v2, f"{image.name} changed between two app releases"
            # The Debian package's version (e.g. 15.10-0+deb12u1), not the app's release.
            own = pushed[VERSION_LABEL]
            assert own not in (V1, V2) and own[:1].isdigit(), own
        else:
            assert v1 != v2, f"{image.name} changed in V2 but kept its digest"
            assert pushed[VERSION_LABEL] == V2


def test_same_inputs_under_a_new_version_reuse_the_images(pipeline: Any) -> None:
    """Building V1's commit again as another version makes no new image: V1's, as pushed."""
    registry = Registry(pipeline.registry)
    again = f"{V1}-same-{pipeline.tag}"
    try:
        result = pipeline.invoke("build", "--version", again, root=pipeline.checkout)
        for image in IMAGES:
            pushed = str(registry.config_digest(image.repository, V1))
            assert image_id(image.ref(again)) == pushed, image.name
            # The reused image still says when its content was first built.
            assert labels(image.ref(again))[VERSION_LABEL] == labels(pushed)[VERSION_LABEL]
            assert labels(image.ref(again))[CONTENT_LABEL].startswith("sha256:")
        reused = "unchanged, same digest as before: " + ", ".join(i.name for i in IMAGES)
        assert reused in result.stdout
    finally:
        refs = [image.ref(again) for image in IMAGES]
        subprocess.run(["docker", "rmi", *refs], capture_output=True)


def test_deploy_and_rollback_leave_the_databases_and_broker_running(stack: Any) -> None:
    line = stack.pipeline
    line.invoke("deploy", "--version", V1)
    before = containers(stack)

    line.invoke("deploy", "--version", V2)
    assert stack.version()["version"] == V2
    after_deploy = containers(stack)
    line.invoke("rollback")
    assert stack.version()["version"] == V1
    after_rollback = containers(stack)

    for service in INFRA:
        same = running_identity(before[service])
        assert running_identity(after_deploy[service]) == same, service
        assert running_identity(after_rollback[service]) == same, service
    for service in APPS:
        assert after_deploy[service]["Id"] != before[service]["Id"], service
        assert after_rollback[service]["Id"] != after_deploy[service]["Id"], service
    # The ledger still records every image of each release, by digest.
    for release in stack.deploy_stack.ledger.entries()[-2:]:
        assert set(release.images) == {image.name for image in IMAGES}
        assert all("@sha256:" in ref for ref in release.images.values())


def test_containers_and_volumes_are_named_by_the_naming_rule(stack: Any) -> None:
    """A private stack's names are its project's prefix and the service (the default stack has
    no prefix: see tests/unit/test_naming.py), so `docker kill NAME` reaches the right one."""
    project = stack.pipeline.project
    found = containers(stack)
    assert set(found) == set(stack_services())
    for service, row in found.items():
        assert row["Name"] == f"/{project}-{service}"
        assert row["Config"]["Labels"]["com.docker.compose.project"] == project
    listed = subprocess.run(
        ["docker", "volume", "ls", "--quiet", "--filter",
         f"label=com.docker.compose.project={project}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert set(listed) == {naming.volume(project, key) for key in naming.VOLUMES}
    mounts = {m["Destination"]: m["Name"] for m in found["api-gateway-app"]["Mounts"]}
    assert mounts["/var/log/gateway"] == f"{project}-api-gateway-app"


def test_every_container_stops_on_sigterm_within_its_grace(stack: Any) -> None:
    """Stopped as a deploy stops them, every process exits by itself (0, or 143 for a default
    SIGTERM death), never 137: nothing waits out its grace period to be SIGKILLed."""
    line = stack.pipeline
    stack.compose("stop")
    try:
        codes = {name: row["State"]["ExitCode"] for name, row in containers(stack).items()}
        oom = [name for name, row in containers(stack).items() if row["State"]["OOMKilled"]]
    finally:
        line.invoke("deploy", "--version", V1)  # back up for the tests after this one
    assert oom == []
    assert {name: code for name, code in codes.items() if code not in (0, 143)} == {}
