"""The migration step waits, bounded, for a database that does not accept connections yet."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from nbship_common.migrations import connect_when_ready


def test_a_database_that_comes_up_during_the_wait_is_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # SQLite cannot open a file in a folder that does not exist yet: refused like a database
    # that is not up, until the folder appears.
    folder = tmp_path / "not-yet"
    engine = create_engine(f"sqlite:///{folder / 'db.sqlite'}")
    appears = threading.Timer(0.6, folder.mkdir)
    appears.start()
    try:
        with caplog.at_level(logging.WARNING), connect_when_ready(engine, 10) as connection:
            assert connection.execute(text("select 1")).scalar() == 1
    finally:
        appears.cancel()
    retries = [record for record in caplog.records if "Retrying" in record.getMessage()]
    assert retries, "each failed attempt before the last is logged"


def test_a_database_that_never_comes_up_fails_after_the_wait(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'db.sqlite'}")
    started = time.monotonic()
    with pytest.raises(OperationalError, match="unable to open database file"):
        connect_when_ready(engine, 1.0)
    assert 1.0 <= time.monotonic() - started < 6
