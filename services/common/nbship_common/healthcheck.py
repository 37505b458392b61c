"""Docker HEALTHCHECK probe: exit 0 when the URL answers 2xx within 3 seconds, else 1.

Usage: python -m nbship_common.healthcheck http://127.0.0.1:8080/readyz
Stdlib only, so the probe works in every image whatever the app depends on.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

TIMEOUT_SECONDS = 3.0


def probe(url: str, timeout: float = TIMEOUT_SECONDS) -> tuple[bool, str]:
    """Whether `url` answers 2xx, and a one-line reason for the health log."""
    if not url.startswith(("http://", "https://")):
        return False, f"not an http(s) URL: {url!r}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return False, f"{url} answered {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, f"{url} unreachable: {exc}"
    if 200 <= status < 300:
        return True, f"{url} answered {status}"
    return False, f"{url} answered {status}"


def main(argv: Sequence[str] | None = None) -> int:
    """Probe the URL given as the only argument; the exit status is the verdict."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m nbship_common.healthcheck URL", file=sys.stderr)
        return 1
    healthy, reason = probe(args[0])
    print(reason, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
