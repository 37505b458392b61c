"""atomic_write: whole files or nothing, with permissions kept or set."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbship import files
from nbship.files import atomic_write


def test_new_file_is_written_whole_with_unix_newlines(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    atomic_write(target, "a\nb\n")
    assert target.read_bytes() == b"a\nb\n"
    assert target.stat().st_mode & 0o777 == 0o644


def test_existing_permissions_are_kept_unless_a_mode_is_given(tmp_path: Path) -> None:
    target = tmp_path / ".env"
    atomic_write(target, "A=1\n", mode=0o600)
    atomic_write(target, "A=2\n")
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.read_text() == "A=2\n"


def test_a_failed_replace_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ledger.json"
    atomic_write(target, "old")

    def crash(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.json"]
