"""Opening a database: a missing SQLite file, and how a connection is tuned for ingest."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from cardtrace.errors import NotFound
from cardtrace.settings import usable_cores
from cardtrace.store.engine import open_engine


def test_a_missing_sqlite_file_is_made_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with pytest.raises(NotFound, match=f"no database at {path}"):
        open_engine(f"sqlite:///{path}", create=False)
    assert not path.exists()
    for url in ("sqlite://", "sqlite:///:memory:"):  # nothing on disk to be missing
        open_engine(url, create=False).dispose()
    engine = open_engine(f"sqlite:///{path}")
    with engine.connect():
        assert path.exists()
    engine.dispose()
    open_engine(f"sqlite:///{path}", create=False).dispose()


def test_sqlite_connections_use_wal_big_pages_file_sorts_and_sort_helper_threads(
    tmp_path: Path,
) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'tuned.db'}")
    names = ("journal_mode", "page_size", "temp_store", "threads")
    try:
        with engine.connect() as connection:
            found = {name: connection.execute(text(f"PRAGMA {name}")).scalar() for name in names}
    finally:
        engine.dispose()
    helpers = usable_cores() - 1
    assert found == {"journal_mode": "wal", "page_size": 16384, "temp_store": 1, "threads": helpers}
