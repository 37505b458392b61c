"""The gateway's settings, read once from the environment at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nbship_common.settings import (
    CommonSettings,
    Env,
    SettingsError,
    billing_queue,
    rabbitmq_url,
    read_common,
)


@dataclass(frozen=True)
class GatewaySettings:
    """Everything the gateway reads from its environment."""

    common: CommonSettings
    inventory_url: str
    rabbitmq_url: str
    billing_queue: str
    log_dir: Path | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        """Read and validate; a missing or invalid variable raises SettingsError naming it."""
        env = Env(environ)
        common = read_common(env, service="api-gateway", default_port=3000)
        # Plain HTTP on the stack's internal network; the client speaks nothing else.
        inventory_url = env.url("INVENTORY_URL", schemes=("http",), development=common.development)
        return cls(
            common=common,
            inventory_url=inventory_url.rstrip("/"),
            rabbitmq_url=rabbitmq_url(env, common),
            billing_queue=billing_queue(env),
            log_dir=_log_dir(env),
        )

    @property
    def log_file(self) -> Path | None:
        """Where JSON logs are also written, when LOG_DIR is set."""
        return None if self.log_dir is None else self.log_dir / "gateway.log"


def _log_dir(env: Env) -> Path | None:
    raw = env.optional("LOG_DIR", "")
    if not raw:
        return None
    path = Path(raw)
    if not path.is_dir():
        raise SettingsError(f"LOG_DIR must be an existing directory, got {raw!r}")
    return path
