"""Settings: a missing or bad variable stops the start-up with its name; placeholders refused."""

from __future__ import annotations

import pytest

from nbship_common.settings import (
    CommonSettings,
    Env,
    SettingsError,
    billing_queue,
    database_url,
    is_placeholder,
    rabbitmq_url,
    read_common,
)


def common(environ: dict[str, str]) -> CommonSettings:
    return read_common(Env(environ), service="svc", default_port=8080)


def test_defaults_when_only_required_values_are_set() -> None:
    settings = common({})
    assert settings.env == "production"
    assert settings.version == "unknown"
    assert settings.git_sha == "unknown"
    assert settings.log_level == "INFO"
    assert settings.port == 8080
    assert settings.body_timeout == 10
    assert not settings.development


def test_values_are_read_from_the_environment() -> None:
    settings = common(
        {
            "NBSHIP_ENV": "Development",
            "NBSHIP_VERSION": "1.2.3",
            "NBSHIP_GIT_SHA": "abc123",
            "LOG_LEVEL": "debug",
            "PORT": "3000",
        }
    )
    assert (settings.env, settings.version, settings.git_sha) == ("development", "1.2.3", "abc123")
    assert (settings.log_level, settings.port) == ("DEBUG", 3000)
    assert settings.development


def test_missing_required_setting_is_named() -> None:
    env = Env({})
    with pytest.raises(SettingsError, match=r"^DATABASE_URL is required"):
        database_url(env, common({}))


def test_blank_required_setting_counts_as_missing() -> None:
    with pytest.raises(SettingsError, match=r"^RABBITMQ_URL is required"):
        rabbitmq_url(Env({"RABBITMQ_URL": "   "}), common({}))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "http", "PORT must be an integer"),
        ("PORT", "70000", "PORT must be between 1 and 65535"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL must be one of"),
        ("NBSHIP_ENV", "prod", "NBSHIP_ENV must be one of"),
        ("BODY_TIMEOUT_SECONDS", "0", "BODY_TIMEOUT_SECONDS must be between 1 and 25"),
        ("BODY_TIMEOUT_SECONDS", "30", "BODY_TIMEOUT_SECONDS must be between 1 and 25"),
    ],
)
def test_invalid_values_are_named(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        common({name: value})


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://inventory:changeme@db:5432/movies_db",
        "postgresql+psycopg://inventory:CHANGE_ME_inventory_password@db:5432/movies_db",
        "postgresql+psycopg://inventory:please-change-me@db:5432/movies_db",
    ],
)
def test_placeholder_password_is_refused_outside_development(url: str) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL contains a placeholder password"):
        database_url(Env({"DATABASE_URL": url}), common({}))


def test_placeholder_error_does_not_echo_the_secret() -> None:
    url = "amqp://billing:CHANGE_ME_rabbit@rabbit-queue:5672/%2F"
    with pytest.raises(SettingsError) as raised:
        rabbitmq_url(Env({"RABBITMQ_URL": url}), common({}))
    assert "CHANGE_ME_rabbit" not in str(raised.value)


def test_placeholder_password_is_accepted_in_development() -> None:
    url = "amqp://billing:changeme@rabbit-queue:5672/%2F"
    assert rabbitmq_url(Env({"RABBITMQ_URL": url}), common({"NBSHIP_ENV": "development"})) == url


def test_real_password_is_accepted() -> None:
    url = "postgresql+psycopg://inventory:s3cr%2Ft@inventory-db:5432/movies_db"
    assert database_url(Env({"DATABASE_URL": url}), common({})) == url


def test_plain_postgresql_url_is_pinned_to_psycopg() -> None:
    url = "postgresql://inventory:s3cret@inventory-db:5432/movies_db"
    assert database_url(Env({"DATABASE_URL": url}), common({})) == (
        "postgresql+psycopg://inventory:s3cret@inventory-db:5432/movies_db"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:p@db/x", "DATABASE_URL must use one of the schemes"),
        ("postgresql:///movies_db", "DATABASE_URL must name a host"),
        ("postgresql://u:p@db:notaport/x", "DATABASE_URL is not a valid URL"),
    ],
)
def test_malformed_urls_are_named(url: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        database_url(Env({"DATABASE_URL": url}), common({}))


def test_billing_queue_defaults_and_rejects_odd_names() -> None:
    assert billing_queue(Env({})) == "billing_queue"
    assert billing_queue(Env({"BILLING_QUEUE": "orders.v2"})) == "orders.v2"
    with pytest.raises(SettingsError, match="BILLING_QUEUE"):
        billing_queue(Env({"BILLING_QUEUE": "two words"}))


@pytest.mark.parametrize(
    ("secret", "placeholder"),
    [("changeme", True), ("Change-Me", True), ("CHANGE_ME_x", True), ("s3cr3t-Xy9", False)],
)
def test_is_placeholder(secret: str, placeholder: bool) -> None:
    assert is_placeholder(secret) is placeholder
