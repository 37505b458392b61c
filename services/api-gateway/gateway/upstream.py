"""The inventory client: one pooled requests.Session per worker, with bounded timeouts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter

# urllib3 is requests' own transport; its Retry is how requests' HTTPAdapter is told to retry.
from urllib3.util.retry import Retry

from nbship_common.health import add_readiness_check

CONNECT_TIMEOUT_SECONDS = 3.05
# Well under gunicorn's 30 s worker timeout, so a slow inventory becomes a 504, not a killed worker.
READ_TIMEOUT_SECONDS = 15.0
PROBE_TIMEOUT_SECONDS = 2.0
# Re-sending after a dropped connection is only safe when the request is idempotent.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_EXTENSION = "inventory_client"


class InventoryClient:
    """Sends requests to inventory over kept-alive connections."""

    def __init__(self, base_url: str, *, pool_size: int) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()
        # Internal traffic must never be routed through a proxy picked up from the environment.
        self._session.trust_env = False
        retry = Retry(
            total=2,
            # A pooled connection inventory closed while idle fails on first use: one new
            # connection fixes it. Nothing has been sent when connecting fails, so any method.
            connect=1,
            read=1,
            status=0,
            other=0,
            redirect=0,
            allowed_methods=_IDEMPOTENT,
            backoff_factor=0,
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=retry)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]],
        body: bytes | None,
        headers: Mapping[str, str],
    ) -> requests.Response:
        """Send one request to inventory; raises requests.RequestException when it cannot."""
        return self._session.request(
            method,
            f"{self.base_url}{path}",
            params=list(params),
            data=body,
            headers=dict(headers),
            timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
            allow_redirects=False,
        )

    def ping(self) -> None:
        """Readiness check: inventory's process answers (its own /readyz covers its database)."""
        response = self._session.get(
            f"{self.base_url}/healthz", timeout=(PROBE_TIMEOUT_SECONDS, PROBE_TIMEOUT_SECONDS)
        )
        response.raise_for_status()


def init_app(app: Flask, base_url: str, *, pool_size: int) -> InventoryClient:
    """Create the app's inventory client and probe it from /readyz."""
    client = InventoryClient(base_url, pool_size=pool_size)
    app.extensions[_EXTENSION] = client
    add_readiness_check(app, "inventory", client.ping)
    return client


def inventory_client() -> InventoryClient:
    """The current app's inventory client."""
    client: InventoryClient = current_app.extensions[_EXTENSION]
    return client
