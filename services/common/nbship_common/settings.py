"""Typed settings read from the environment; every error names the variable at fault."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

ENVIRONMENTS = ("development", "test", "staging", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
UNKNOWN = "unknown"
DEFAULT_BILLING_QUEUE = "billing_queue"
# Gunicorn threads per worker; database pools are sized from the same number.
DEFAULT_THREADS = 4
# Seconds a client has to send a whole request body. The largest body (MAX_CONTENT_LENGTH) takes
# under 3 s at 50 kB/s; a client slower than that holds a connection for nothing.
DEFAULT_BODY_TIMEOUT = 10
# Below gunicorn's worker timeout (30 s), so a slow body is answered 408, never a killed worker.
MAX_BODY_TIMEOUT = 25

# The committed .env.example uses obvious placeholders such as CHANGE_ME_db_password; a stack
# started from it unedited must refuse to run anywhere but on a developer's machine.
_PLACEHOLDER = re.compile(r"change[-_ ]?me", re.IGNORECASE)
# AMQP queue names are short strings; a plain token keeps a typo from hiding in whitespace.
_QUEUE_NAME = re.compile(r"[A-Za-z0-9._:\-]{1,255}")


class SettingsError(RuntimeError):
    """A required setting is missing or a value is invalid; the message names the variable."""


@dataclass(frozen=True)
class CommonSettings:
    """What every service reads: identity, environment, logging and the port it serves on."""

    service: str
    env: str
    version: str
    git_sha: str
    log_level: str
    port: int
    threads: int = DEFAULT_THREADS
    body_timeout: int = DEFAULT_BODY_TIMEOUT
    # Provenance baked in at build time: hashes of the lock file and of the exported notebook
    # cells behind this image (the same values as its io.nbship.* labels).
    lock_sha256: str = UNKNOWN
    notebook_cells_sha256: str = UNKNOWN

    @property
    def development(self) -> bool:
        """Whether relaxed checks (placeholder secrets) are allowed."""
        return self.env == "development"


class Env:
    """Reads settings from one environment mapping; each accessor validates one variable."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ: Mapping[str, str] = os.environ if environ is None else environ

    def optional(self, name: str, default: str) -> str:
        """The stripped value of `name`, or `default` when unset or blank."""
        value = self._environ.get(name, "").strip()
        return value or default

    def required(self, name: str) -> str:
        """The stripped value of `name`; fails when unset or blank."""
        value = self._environ.get(name, "").strip()
        if not value:
            raise SettingsError(f"{name} is required but not set")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        """A value from `choices`, compared case-insensitively and returned as listed."""
        value = self.optional(name, default)
        for allowed in choices:
            if value.casefold() == allowed.casefold():
                return allowed
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        """A base-10 integer within [minimum, maximum]."""
        raw = self.optional(name, str(default))
        if not raw.isascii() or not raw.isdigit():
            raise SettingsError(f"{name} must be an integer, got {raw!r}")
        value = int(raw)
        if not minimum <= value <= maximum:
            raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
        return value

    def url(self, name: str, *, schemes: tuple[str, ...], development: bool) -> str:
        """A required URL with one of `schemes` and a host; placeholder passwords are refused."""
        value = self.required(name)
        try:
            parts = urlsplit(value)
            password = parts.password
            hostname = parts.hostname
            port = parts.port
        except ValueError as exc:
            raise SettingsError(f"{name} is not a valid URL: {exc}") from None
        if parts.scheme not in schemes:
            raise SettingsError(
                f"{name} must use one of the schemes {', '.join(schemes)}, got {parts.scheme!r}"
            )
        if not hostname:
            raise SettingsError(f"{name} must name a host")
        if port == 0:
            raise SettingsError(f"{name} must not use port 0")
        if password is not None and not development and is_placeholder(unquote(password)):
            raise SettingsError(
                f"{name} contains a placeholder password; set a real secret "
                "(placeholders are accepted only when NBSHIP_ENV=development)"
            )
        return value


def is_placeholder(secret: str) -> bool:
    """Whether `secret` is an obvious placeholder such as "changeme" or "CHANGE_ME_..."."""
    return bool(_PLACEHOLDER.search(secret))


def read_common(env: Env, *, service: str, default_port: int) -> CommonSettings:
    """Read the settings every service shares."""
    return CommonSettings(
        service=service,
        env=env.choice("NBSHIP_ENV", "production", ENVIRONMENTS),
        version=env.optional("NBSHIP_VERSION", UNKNOWN),
        git_sha=env.optional("NBSHIP_GIT_SHA", UNKNOWN),
        lock_sha256=env.optional("NBSHIP_LOCK_SHA256", UNKNOWN),
        notebook_cells_sha256=env.optional("NBSHIP_CELLS_SHA256", UNKNOWN),
        log_level=env.choice("LOG_LEVEL", "INFO", LOG_LEVELS),
        port=env.integer("PORT", default_port, minimum=1, maximum=65535),
        threads=threads_from_env(env),
        body_timeout=env.integer(
            "BODY_TIMEOUT_SECONDS", DEFAULT_BODY_TIMEOUT, minimum=1, maximum=MAX_BODY_TIMEOUT
        ),
    )


def threads_from_env(env: Env) -> int:
    """Threads per gunicorn worker, from GUNICORN_THREADS."""
    return env.integer("GUNICORN_THREADS", DEFAULT_THREADS, minimum=1, maximum=64)


def database_url(env: Env, common: CommonSettings, name: str = "DATABASE_URL") -> str:
    """A PostgreSQL URL for SQLAlchemy, always using the psycopg 3 driver."""
    value = env.url(
        name,
        schemes=("postgresql+psycopg", "postgresql", "postgres"),
        development=common.development,
    )
    # Plain postgresql:// would make SQLAlchemy look for psycopg2, which the images do not ship.
    scheme, rest = value.split("://", 1)
    if scheme != "postgresql+psycopg":
        value = f"postgresql+psycopg://{rest}"
    return value


def rabbitmq_url(env: Env, common: CommonSettings, name: str = "RABBITMQ_URL") -> str:
    """An AMQP URL for pika."""
    return env.url(name, schemes=("amqp", "amqps"), development=common.development)


def billing_queue(env: Env) -> str:
    """BILLING_QUEUE, the durable queue orders travel through from gateway to billing."""
    queue = env.optional("BILLING_QUEUE", DEFAULT_BILLING_QUEUE)
    if not _QUEUE_NAME.fullmatch(queue):
        raise SettingsError(f"BILLING_QUEUE must be a plain queue name, got {queue!r}")
    return queue
