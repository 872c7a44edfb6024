"""How a SQLite connection is tuned for ingest (docs/performance.md gives the reasons)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text

from cardtrace.store.engine import open_engine


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
    helpers = len(os.sched_getaffinity(0)) - 1
    assert found == {"journal_mode": "wal", "page_size": 16384, "temp_store": 1, "threads": helpers}
