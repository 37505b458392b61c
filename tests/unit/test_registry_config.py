"""The local registry's configuration files and compose overlays stay consistent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbship import docker
from nbship.paths import REGISTRY_DIR
from nbship.registry.local import LocalRegistry


def _load(name: str) -> Any:
    return yaml.safe_load((REGISTRY_DIR / name).read_text(encoding="utf-8"))


def test_auth_config_is_the_plain_config_plus_htpasswd_auth() -> None:
    plain, with_auth = _load("config.yml"), _load("config-auth.yml")
    auth = with_auth.pop("auth")
    assert with_auth == plain
    assert auth == {"htpasswd": {"realm": "nbship-registry", "path": "/auth/htpasswd"}}


def _merged(*overlays: str, auth_dir: Path) -> dict[str, Any]:
    files = [
        arg for name in ("compose.yaml", *overlays) for arg in ("-f", str(REGISTRY_DIR / name))
    ]
    result = subprocess.run(
        [*docker.compose_command(), *files, "config", "--format", "json"],
        env={
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "NBSHIP_REGISTRY_IMAGE": "registry:2",
            "NBSHIP_REGISTRY_AUTH_DIR": str(auth_dir),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)["services"]["registry"]


def test_auth_overlay_replaces_the_config_and_mounts_htpasswd(tmp_path: Path) -> None:
    service = _merged("compose.auth.yaml", "compose.readonly.yaml", auth_dir=tmp_path)
    mounts = {volume["target"]: volume for volume in service["volumes"]}
    config = mounts["/etc/docker/registry/config.yml"]
    assert Path(config["source"]).name == "config-auth.yml" and config["read_only"]
    assert mounts["/auth/htpasswd"]["source"] == str(tmp_path / "htpasswd")
    assert len(service["volumes"]) == 3  # data, config (replaced, not added) and htpasswd
    assert json.loads(service["environment"]["REGISTRY_STORAGE_MAINTENANCE_READONLY"]) == {
        "enabled": True
    }


def test_plain_registry_is_writable_and_open(tmp_path: Path) -> None:
    service = _merged(auth_dir=tmp_path)
    assert "environment" not in service
    assert {volume["target"] for volume in service["volumes"]} == {
        "/var/lib/registry",
        "/etc/docker/registry/config.yml",
    }


@pytest.mark.parametrize(
    ("has_login", "readonly", "overlays"),
    [
        (False, False, []),
        (True, False, ["compose.auth.yaml"]),
        (True, True, ["compose.auth.yaml", "compose.readonly.yaml"]),
    ],
)
def test_compose_files_follow_the_login_and_read_only_state(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    has_login: bool,
    readonly: bool,
    overlays: list[str],
) -> None:
    calls: list[list[str]] = []

    def run(args: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(list(args))
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(docker, "run", run)
    local = LocalRegistry(port=5999, project="p", volume="v", auth_dir=tmp_path)
    if has_login:
        (tmp_path / "htpasswd").write_text("nbship:$2y$05$x\n")
    local._compose("up", readonly=readonly)
    files = [Path(arg).name for arg in calls[0] if arg.endswith((".yaml", ".yml"))]
    assert files == ["compose.yaml", *overlays]
    assert calls[0][-3:] == ["-p", "p", "up"]


def test_default_registry_keeps_its_login_in_build_registry_auth() -> None:
    assert LocalRegistry().auth_path.parts[-2:] == ("build", "registry-auth")
    other = LocalRegistry(project="nbship-it-1-registry").auth_path
    assert other.name == "registry-auth-nbship-it-1-registry"
