"""Container and volume names: the audit's names in the default stack, prefixed in any other.
(The renaming of the start-first services' containers runs in tests/integration.)

The compose file is rendered by compose itself (`docker compose config`, no engine needed) with
the environment a deploy gives it, so these are the names Docker will really use.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nbship import docker
from nbship.catalogue import IMAGES, stack_services
from nbship.deploy import naming
from nbship.deploy.stack import Stack
from nbship.paths import COMPOSE_FILE

AUDIT_CONTAINERS = {
    "api-gateway-app", "inventory-app", "billing-app", "inventory-db", "billing-db", "rabbit-queue",
}  # fmt: skip
AUDIT_VOLUMES = {"inventory-database", "billing-database", "api-gateway-app"}


def rendered(project: str, tmp_path: Path) -> dict[str, Any]:
    """deploy/compose.yaml as compose renders it for PROJECT, with the variables a deploy sets."""
    stack = Stack(project=project, env_file=tmp_path / "stack.env", state_dir=tmp_path)
    images = {
        image.name: f"localhost:5001/{image.repository}@sha256:{'a' * 64}" for image in IMAGES
    }
    result = subprocess.run(
        [*docker.compose_command(), "-f", str(COMPOSE_FILE), "-p", project, "config", "--format",
         "json"],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", **stack.environment(images)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_default_stack_uses_the_audits_container_and_volume_names(tmp_path: Path) -> None:
    config = rendered(naming.DEFAULT_PROJECT, tmp_path)
    fixed = {
        service: spec["container_name"]
        for service, spec in config["services"].items()
        if "container_name" in spec
    }
    # Compose names the four replaced stop-first; settle renames the two replaced start-first.
    assert set(fixed) == set(stack_services()) - set(naming.RENAMED)
    assert fixed == {service: service for service in fixed}
    renamed = {naming.container(naming.DEFAULT_PROJECT, s) for s in naming.RENAMED}
    assert set(fixed.values()) | renamed == AUDIT_CONTAINERS
    volumes = {spec["name"] for spec in config["volumes"].values()}
    assert volumes >= AUDIT_VOLUMES
    gateway_logs = next(
        mount["source"]
        for mount in config["services"]["api-gateway-app"]["volumes"]
        if mount["target"] == "/var/log/gateway"
    )
    assert config["volumes"][gateway_logs]["name"] == "api-gateway-app"


def test_another_project_prefixes_every_name_so_both_stacks_can_run(tmp_path: Path) -> None:
    default = rendered(naming.DEFAULT_PROJECT, tmp_path)
    other = rendered("nbship-it-1a2b3c4d", tmp_path)
    for service, spec in other["services"].items():
        assert naming.container("nbship-it-1a2b3c4d", service) == f"nbship-it-1a2b3c4d-{service}"
        if service not in naming.RENAMED:
            assert spec["container_name"] == naming.container("nbship-it-1a2b3c4d", service)
    for key, spec in other["volumes"].items():
        assert spec["name"] == naming.volume("nbship-it-1a2b3c4d", key)
        assert spec["name"] != default["volumes"][key]["name"]


def test_naming_knows_every_volume_of_the_compose_file(tmp_path: Path) -> None:
    config = rendered(naming.DEFAULT_PROJECT, tmp_path)
    assert set(config["volumes"]) == set(naming.VOLUMES)
    for key, spec in config["volumes"].items():
        assert spec["name"] == naming.volume(naming.DEFAULT_PROJECT, key)


def test_compose_refuses_to_run_without_the_name_prefix(tmp_path: Path) -> None:
    """Run by hand without nbship's variables, compose names the missing one instead of guessing
    names (this compose's `config` says so on stderr, even where it exits 0). Every other required
    variable is set: compose names only the first missing one it meets, in no fixed order."""
    required = set(re.findall(r"\$\{([A-Z0-9_]+):?\?", COMPOSE_FILE.read_text(encoding="utf-8")))
    assert {"NBSHIP_NAME_PREFIX", "INVENTORY_DB_USER"} <= required
    env = {name: "x" for name in required - {"NBSHIP_NAME_PREFIX"}}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    result = subprocess.run(
        [*docker.compose_command(), "-f", str(COMPOSE_FILE), "config", "--quiet"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert "required variable NBSHIP_NAME_PREFIX is missing" in result.stderr


@pytest.mark.parametrize(
    ("project", "expected"),
    [("nbship", ""), ("staging", "staging-"), ("nbship-it-9", "nbship-it-9-")],
)
def test_prefix_is_empty_only_for_the_default_project(project: str, expected: str) -> None:
    assert naming.prefix(project) == expected
    assert naming.compose_variables(project) == {naming.PREFIX_VARIABLE: expected}
