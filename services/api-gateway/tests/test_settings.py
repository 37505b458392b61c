"""The gateway refuses to start without the settings it needs, naming them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import create_app
from gateway.settings import GatewaySettings
from nbship_common.logging import flush_logs
from nbship_common.settings import SettingsError


@pytest.mark.parametrize("name", ["INVENTORY_URL", "RABBITMQ_URL"])
def test_create_app_names_a_missing_setting(
    gateway_env: None, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delenv(name)
    with pytest.raises(SettingsError, match=f"^{name} is required"):
        create_app()


def test_inventory_url_must_be_http(gateway_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVENTORY_URL", "inventory-app:8080")
    with pytest.raises(SettingsError, match="INVENTORY_URL"):
        create_app()


def test_defaults() -> None:
    settings = GatewaySettings.from_env(
        {"INVENTORY_URL": "http://inventory-app:8080/", "RABBITMQ_URL": "amqp://g:pw@rabbit/%2F"}
    )
    assert settings.inventory_url == "http://inventory-app:8080"
    assert settings.billing_queue == "billing_queue"
    assert settings.common.port == 3000
    assert settings.log_file is None


def test_log_dir_must_exist(tmp_path: Path) -> None:
    environ = {
        "INVENTORY_URL": "http://inventory-app:8080",
        "RABBITMQ_URL": "amqp://g:pw@rabbit/%2F",
        "LOG_DIR": str(tmp_path / "missing"),
    }
    with pytest.raises(SettingsError, match="LOG_DIR"):
        GatewaySettings.from_env(environ)


def test_logs_also_go_to_log_dir(
    gateway_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOG_DIR", str(tmp_path))
    create_app().test_client().get("/version", headers={"X-Request-ID": "to-the-volume"})
    flush_logs()
    assert "to-the-volume" in (tmp_path / "gateway.log").read_text(encoding="utf-8")
