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
    try:
        with engine.connect() as connection:

            def pragma(name: str) -> object:
                return connection.execute(text(f"PRAGMA {name}")).scalar_one()

            assert pragma("journal_mode") == "wal"
            assert pragma("page_size") == 16384
            assert pragma("temp_store") == 1  # FILE
            assert pragma("threads") == len(os.sched_getaffinity(0)) - 1
    finally:
        engine.dispose()
