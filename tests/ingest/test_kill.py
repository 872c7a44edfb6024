"""An ingest killed with SIGKILL half-way and run again stores every event exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import factories as make
from cardtrace.ledger import tiles
from cardtrace.store.database import Database
from cardtrace.store.ledger_sql import SqlTileStore

TOTAL = 30_000


def stored(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as connection:
            return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def ingest(folder: Path, data: Path, batch: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CARDTRACE_BATCH_SIZE": batch, "CARDTRACE_DATABASE_URL": "sqlite:///k.db"}
    return subprocess.Popen(
        [sys.executable, "-m", "cardtrace", "ingest", "--json", str(data)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("batch", "transaction"),
    # Batches hold at most 2,500 records; a transaction closes once it holds `batch` events.
    [("500", 500), ("6000", 7500)],
    ids=["one-batch-transactions", "three-batch-transactions"],
)
def test_sigkill_half_way_then_rerun_stores_each_event_once(
    tmp_path: Path, batch: str, transaction: int
) -> None:
    data = tmp_path / "events.jsonl"
    with data.open("wb") as handle:
        for n in range(TOTAL):
            handle.write(orjson.dumps(make.card_sold(source_id=f"k-{n}", serial=make.serial(n))))
            handle.write(b"\n")
    db = tmp_path / "k.db"

    first = ingest(tmp_path, data, batch)
    deadline = time.monotonic() + 120
    while stored(db) < 2000 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    before = stored(db)
    assert first.returncode == -signal.SIGKILL
    assert 0 < before < TOTAL, "the kill must land half-way"
    assert before % transaction == 0, "a kill leaves whole transactions or nothing"

    second = ingest(tmp_path, data, batch)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err.decode()
    summary = orjson.loads(out.splitlines()[-1])
    assert summary["accepted"] + summary["duplicates"] == TOTAL
    assert summary["duplicates"] >= before

    database = Database.open(f"sqlite:///{db}")
    try:
        assert database.count() == TOTAL
        with database.engine.connect() as connection:
            assert tiles.size(SqlTileStore(connection)) == TOTAL
            ids = connection.exec_driver_sql("SELECT count(DISTINCT event_id) FROM events")
            assert ids.scalar_one() == TOTAL
    finally:
        database.close()
