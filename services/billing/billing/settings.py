"""Billing's settings, read once from the environment at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nbship_common.settings import (
    CommonSettings,
    Env,
    billing_queue,
    database_url,
    rabbitmq_url,
    read_common,
)


@dataclass(frozen=True)
class BillingSettings:
    """Everything billing reads from its environment."""

    common: CommonSettings
    database_url: str
    rabbitmq_url: str
    billing_queue: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BillingSettings:
        """Read and validate; a missing or invalid variable raises SettingsError naming it."""
        env = Env(environ)
        common = read_common(env, service="billing", default_port=8080)
        return cls(
            common=common,
            database_url=database_url(env, common),
            rabbitmq_url=rabbitmq_url(env, common),
            billing_queue=billing_queue(env),
        )
