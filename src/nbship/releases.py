"""The release ledger: every deployment of a stack, in order, as an append-only JSON file.

Deploys push a release onto the stack of live history and rollbacks pop it, so replaying the
ledger gives the release running now and the one a rollback returns to. Failed deploys are kept
for the record but never become current.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nbship.errors import NbshipError
from nbship.files import atomic_write

FORMAT = 1


@dataclass(frozen=True)
class Release:
    """One deployment: which version, which exact images (by digest), when and how."""

    id: int
    version: str
    images: dict[str, str]
    action: str = "deploy"  # "deploy" or "rollback"
    status: str = "succeeded"  # "succeeded" or "failed"
    deployed_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    note: str = ""


class Ledger:
    """The ledger file of one deployed stack (one compose project)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[Release]:
        if not self.path.exists():
            return []
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            return [Release(**entry) for entry in data["releases"]]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise NbshipError(
                f"release ledger {self.path} is unreadable ({exc}); fix or move it"
            ) from None

    def live(self) -> list[Release]:
        """The live history: deploys push, rollbacks pop back to their target."""
        stack: list[Release] = []
        for entry in self.entries():
            if entry.status != "succeeded":
                continue
            if entry.action == "rollback":
                while stack and stack[-1].images != entry.images:
                    stack.pop()
                if not stack:
                    stack.append(entry)
            elif not stack or stack[-1].images != entry.images:
                stack.append(entry)
        return stack

    def current(self) -> Release | None:
        live = self.live()
        return live[-1] if live else None

    def rollback_target(self, version: str | None = None) -> Release:
        """The release a rollback returns to: the previous live one, or the newest of VERSION."""
        live = self.live()
        if not live:
            raise NbshipError("nothing is deployed yet, so there is nothing to roll back")
        earlier = live[:-1]
        if version is None:
            if not earlier:
                raise NbshipError(
                    f"no earlier release to roll back to: {live[-1].version} is the first one "
                    "deployed (see `invoke releases`)"
                )
            return earlier[-1]
        if version == live[-1].version:
            raise NbshipError(f"{version} is already the running release")
        for entry in reversed(self.entries()):
            if entry.version == version and entry.status == "succeeded" and entry != live[-1]:
                return entry
        known = sorted({entry.version for entry in self.entries() if entry.status == "succeeded"})
        raise NbshipError(
            f"version {version} was never deployed to this stack; deployed: {', '.join(known)}"
        )

    def record(self, version: str, images: dict[str, str], **fields: str) -> Release:
        entries = self.entries()
        release = Release(id=len(entries) + 1, version=version, images=images, **fields)
        payload = {"format": FORMAT, "releases": [asdict(e) for e in [*entries, release]]}
        atomic_write(self.path, json.dumps(payload, indent=2) + "\n")
        return release

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the stack's lock: two deploys of one stack never interleave."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.parent / "deploy.lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise NbshipError(
                    f"another deploy of this stack is running ({self.path.parent})"
                ) from None
            yield
