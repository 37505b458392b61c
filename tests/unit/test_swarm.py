"""The compose file's rendering, translated for `docker stack deploy`: what Swarm lacks is
translated or dropped, what it shares with compose is kept as is."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nbship.deploy.swarm import STACK_FORMAT, _service_state, for_swarm, stack_file
from nbship.errors import NbshipError


def rendering(**service: Any) -> dict[str, Any]:
    """A rendering like `docker compose config --format json` writes, with one service."""
    return {
        "name": "nbship",
        "services": {"app": {"image": "registry/app@sha256:abc", **service}},
        "networks": {"back": {"name": "nbship_back", "internal": True, "ipam": {}}},
        "volumes": {"data": {"name": "nbship_data"}},
        "x-app": {"restart": "on-failure"},
    }


def test_stack_has_the_loader_format_and_only_its_sections() -> None:
    stack = for_swarm(rendering())
    assert set(stack) == {"version", "services", "networks", "volumes"}
    assert stack["version"] == STACK_FORMAT


def test_depends_on_security_opt_and_compose_only_keys_are_dropped() -> None:
    service = for_swarm(
        rendering(
            depends_on={"db": {"condition": "service_healthy", "required": True}},
            security_opt=["no-new-privileges:true"],
            command=None,
            entrypoint=None,
            container_name="x",
        )
    )["services"]["app"]
    assert not {"depends_on", "security_opt", "command", "entrypoint", "container_name"} & set(
        service
    )


@pytest.mark.parametrize(
    ("restart", "condition"),
    [("on-failure", "on-failure"), ("on-failure:3", "on-failure"), ("always", "any"),
     ("unless-stopped", "any"), ("no", "none")],
)  # fmt: skip
def test_restart_becomes_the_restart_policy(restart: str, condition: str) -> None:
    service = for_swarm(rendering(restart=restart))["services"]["app"]
    assert "restart" not in service
    assert service["deploy"]["restart_policy"] == {"condition": condition}


def test_a_restart_policy_the_file_gives_wins_over_restart() -> None:
    deploy = {"restart_policy": {"condition": "any", "delay": "2s"}}
    service = for_swarm(rendering(restart="on-failure", deploy=deploy))["services"]["app"]
    assert service["deploy"]["restart_policy"] == {"condition": "any", "delay": "2s"}


def test_unknown_restart_is_refused_naming_the_service() -> None:
    with pytest.raises(NbshipError, match="service app: restart 'sometimes'"):
        for_swarm(rendering(restart="sometimes"))


def test_shm_size_becomes_a_tmpfs_on_dev_shm_beside_the_volumes() -> None:
    volumes = [{"type": "volume", "source": "data", "target": "/data", "volume": {}}]
    service = for_swarm(rendering(shm_size="134217728", volumes=volumes))["services"]["app"]
    assert "shm_size" not in service
    assert service["volumes"] == [
        {"type": "volume", "source": "data", "target": "/data", "volume": {}},
        {"type": "tmpfs", "target": "/dev/shm", "tmpfs": {"size": 134217728}},
    ]


def test_published_port_loses_its_host_address() -> None:
    port = {"mode": "ingress", "host_ip": "127.0.0.1", "target": 3000, "published": "3100"}
    service = for_swarm(rendering(ports=[port]))["services"]["app"]
    assert service["ports"] == [
        {"target": 3000, "published": 3100, "protocol": "tcp", "mode": "ingress"}
    ]


def test_port_without_a_published_number_is_refused() -> None:
    with pytest.raises(NbshipError, match="service app: a port without a published number"):
        for_swarm(rendering(ports=[{"target": 3000}]))


def test_networks_are_overlay_keep_internal_and_leave_naming_to_the_stack() -> None:
    stack = for_swarm(rendering(networks={"back": None}))
    assert stack["networks"] == {"back": {"driver": "overlay", "internal": True}}
    assert stack["volumes"] == {"data": {}}
    assert stack["services"]["app"]["networks"] == ["back"]


def test_what_swarm_shares_with_compose_is_kept_as_is() -> None:
    kept = {
        "environment": {"A": "1"},
        "read_only": True,
        "tmpfs": ["/tmp"],
        "stop_grace_period": "30s",
        "deploy": {"placement": {"constraints": ["node.role == manager"]}},
    }
    service = for_swarm(rendering(**kept))["services"]["app"]
    assert {key: service[key] for key in kept} == kept
    assert service["image"] == "registry/app@sha256:abc"


def test_rendering_without_services_is_refused() -> None:
    with pytest.raises(NbshipError, match="no services"):
        for_swarm({"name": "nbship", "services": {}})


def test_translation_leaves_the_rendering_untouched() -> None:
    original = rendering(restart="on-failure", ports=[{"target": 1, "published": "2"}])
    before = json.dumps(original, sort_keys=True)
    stack_file(original)
    assert json.dumps(original, sort_keys=True) == before


# --- a service's state, from `docker stack services` and `docker stack ps` rows ------------------

IMAGE = "registry/app@sha256:new"


def task(state: str, image: str = IMAGE, error: str = "") -> dict[str, str]:
    return {"CurrentState": state, "Image": image, "Error": error}


@pytest.mark.parametrize(
    ("tasks", "replicas", "state"),
    [
        ([task("Running 5 seconds ago")], "1/1", "healthy"),
        ([task("Running 5 seconds ago"), task("Running 1 second ago")], "2/2", "healthy"),
        ([task("Starting 3 seconds ago")], "0/1", "starting"),
        ([task("Preparing 1 second ago")], "0/1", "preparing"),
        ([task("Rejected 1 second ago", error="no such image")], "0/1", "rejected (no such image)"),
        ([task("Running 9 seconds ago", image="registry/app@sha256:old")], "1/1", "updating"),
        ([task("Running 1 second ago"), task("Running 9 seconds ago", image="x@old")], "2/1",
         "updating"),
        ([task("Running 5 seconds ago")], "1/2", "1 of 2 tasks running"),
        # Two new tasks healthy while the two they replace drain: Replicas counts all four.
        ([task("Running 1 second ago"), task("Running 2 seconds ago")], "4/2", "healthy"),
        ([task("Running 1 second ago")], "1/1 (max 1 per node)", "healthy"),
        ([], "0/1", "no task running"),
    ],
)  # fmt: skip
def test_service_is_healthy_only_when_every_wanted_task_runs_its_image(
    tasks: list[dict[str, str]], replicas: str, state: str
) -> None:
    service = {"Name": "nbship_app", "Image": IMAGE, "Replicas": replicas}
    assert _service_state(service, tasks) == state


def test_a_dollar_in_a_value_reaches_the_stack_literally() -> None:
    text = stack_file(rendering(environment={"PASSWORD": "pa$$word$HOME"}))
    # The stack loader interpolates again; `$$` is its escape for one literal `$`.
    assert '"PASSWORD": "pa$$$$word$$HOME"' in text
