"""Database snapshots of the running test stack: taken, listed, verified, restored, refused.

Each is a real pg_dump of the stack's PostgreSQL, restored with pg_restore into the same database
while the apps run.
"""

from __future__ import annotations

import json
import stat
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration

TIMEOUT = 10


def _movie(stack: Any, title: str) -> int:
    created = requests.post(
        f"{stack.gateway_url}/api/movies",
        json={"title": title, "description": "written after the snapshot"},
        timeout=TIMEOUT,
    )
    assert created.status_code == 201, created.text
    movie_id: int = created.json()["id"]
    return movie_id


def _movie_count(stack: Any) -> int:
    [(count,)] = stack.sql("inventory-db", "SELECT count(*) FROM movies")
    return int(count)


def test_snapshot_restore_brings_back_the_data_as_it_was(stack: Any) -> None:
    line = stack.pipeline
    folder = stack.deploy_stack.snapshots
    before = len(folder.entries())
    kept = _movie(stack, "kept: written before the snapshot")
    count = _movie_count(stack)

    taken = line.invoke("snapshot")
    assert "inventory-db:" in taken.stdout and "billing-db:" in taken.stdout
    entries = folder.entries()[before:]
    assert [entry.database for entry in entries] == ["inventory-db", "billing-db"]
    inventory = entries[0]
    assert inventory.revision == stack.deploy_stack.ledger.current().schema["inventory-db"]["live"]
    path = folder.folder / inventory.file
    assert path.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.folder.stat().st_mode) == 0o700
    index = json.loads(folder.index.read_text())["snapshots"]
    assert index[-2]["sha256"] == inventory.sha256 and index[-2]["size"] == path.stat().st_size

    listed = line.invoke("snapshots", "--verify").stdout
    assert f"{inventory.file}" in listed and "by hand ok" in listed

    lost = _movie(stack, "lost: written after the snapshot")
    assert _movie_count(stack) == count + 1

    refused = line.invoke("restore", inventory.file, check=False)
    assert refused.returncode == 1 and "Say --yes" in refused.stderr
    assert _movie_count(stack) == count + 1  # nothing done

    restored = line.invoke("restore", inventory.file, "--yes")
    assert f"inventory-db restored from {inventory.file}" in restored.stdout
    assert _movie_count(stack) == count
    gone = requests.get(f"{stack.gateway_url}/api/movies/{lost}", timeout=TIMEOUT)
    assert gone.status_code == 404
    there = requests.get(f"{stack.gateway_url}/api/movies/{kept}", timeout=TIMEOUT)
    assert there.status_code == 200
    # The app goes on writing on the restored schema.
    _movie(stack, "after the restore")


def test_a_corrupted_snapshot_is_refused_and_the_database_is_untouched(stack: Any) -> None:
    line = stack.pipeline
    line.invoke("snapshot", "--database", "inventory-db")
    folder = stack.deploy_stack.snapshots
    newest = folder.entries()[-1]
    path = folder.folder / newest.file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, as a bad disk would
    path.write_bytes(bytes(data))
    _movie(stack, "must survive a refused restore")
    count = _movie_count(stack)

    result = line.invoke("restore", newest.file, "--yes", check=False)

    assert result.returncode == 1
    [said] = result.stderr.strip().splitlines()
    assert said.startswith(f"nbship: error: snapshot {path} is corrupted:") and "refusing" in said
    assert _movie_count(stack) == count
    listed = line.invoke("snapshots", "--verify", check=False)
    assert listed.returncode == 1 and f"{newest.file}" in listed.stdout
    assert "CORRUPTED" in listed.stdout
    path.unlink()  # later tests' `snapshots --verify` would trip over it
    folder._write([entry for entry in folder.entries() if entry != newest])
