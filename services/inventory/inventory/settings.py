"""Inventory's settings, read once from the environment at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nbship_common.settings import CommonSettings, Env, database_url, read_common


@dataclass(frozen=True)
class InventorySettings:
    """Everything inventory reads from its environment."""

    common: CommonSettings
    database_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InventorySettings:
        """Read and validate; a missing or invalid variable raises SettingsError naming it."""
        env = Env(environ)
        common = read_common(env, service="inventory", default_port=8080)
        return cls(common=common, database_url=database_url(env, common))
