"""The release ledger: every deployment of a stack, in order, as an append-only JSON file.

Replaying the ledger gives the live history, a stack whose top is the release running now:

- a deploy, and a `rollback --to` a release other than the previous one (a roll-forward, or a
  jump further back), push what they started: a plain rollback afterwards undoes exactly them;
- a plain rollback pops back to the previous release, so rolling back twice goes two releases
  back, never forth and back between the last two;
- the previous release is the newest one below the top with a different version: redeploying a
  version (even rebuilt, with other digests) does not make it its own previous release;
- failed attempts are kept for the record but never become live.

A rollback entry is recognised by its digests, not by a flag: one that lands on the previous
release pops, any other pushes. So ledgers written before this rule replay the same way, and
`rollback --to PREVIOUS` is the same thing as a plain rollback.
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
    # Per database: the Alembic revision the release's code expects and the one live after it
    # ({"inventory-db": {"expects": "0001", "live": "0001"}}); empty in ledgers from before.
    schema: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # The database snapshots taken before this release changed a schema (their file names).
    snapshots: list[str] = field(default_factory=list)


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
        """The live history, oldest first; the last entry is the release running now."""
        stack: list[Release] = []
        for entry in self.entries():
            if entry.status != "succeeded":
                continue
            below = _previous_index(stack)
            if (
                entry.action == "rollback"
                and below is not None
                and stack[below].images == entry.images
            ):
                del stack[below + 1 :]
                continue
            if not stack or stack[-1].images != entry.images:
                stack.append(entry)
        return stack

    def current(self) -> Release | None:
        live = self.live()
        return live[-1] if live else None

    def rollback_target(self, version: str | None = None) -> Release:
        """The release a rollback returns to: the previous live one, or the newest of VERSION.

        The previous one is the newest release below the current one in the live history whose
        version differs from the current one (see the module docstring for how the history is
        replayed).
        """
        live = self.live()
        if not live:
            raise NbshipError("nothing is deployed yet, so there is nothing to roll back")
        if version is None:
            below = _previous_index(live)
            if below is None:
                raise NbshipError(
                    f"no earlier release to roll back to: {live[-1].version} is the first "
                    "version deployed to this stack (`invoke rollback --to X.Y.Z` returns to any "
                    "release that `invoke releases` lists)"
                )
            return live[below]
        if version == live[-1].version:
            raise NbshipError(f"{version} is already the running release")
        for entry in reversed(self.entries()):
            if entry.version == version and entry.status == "succeeded":
                return entry
        known = sorted({entry.version for entry in self.entries() if entry.status == "succeeded"})
        raise NbshipError(
            f"version {version} was never deployed to this stack; deployed: {', '.join(known)}"
        )

    def record(self, version: str, images: dict[str, str], **fields: Any) -> Release:
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


def _previous_index(live: list[Release]) -> int | None:
    """Where the release before the top of LIVE is: the newest below it of another version."""
    if not live:
        return None
    top = live[-1].version
    for index in range(len(live) - 2, -1, -1):
        if live[index].version != top:
            return index
    return None
