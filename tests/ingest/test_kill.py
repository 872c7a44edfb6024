"""An ingest killed (SIGKILL) or interrupted (Ctrl-C) half-way and run again stores every
event exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import orjson
import pytest

import factories as make
from cardtrace.ledger import tiles
from cardtrace.store.database import Database
from cardtrace.store.ledger_sql import SqlTileStore

TOTAL = 30_000


def stored(db: Path) -> int:
    """Events committed so far: 0 before the ingest has made the database and its schema."""
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as connection:
            return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise


def ingest(folder: Path, data: Path, batch: str, workers: int = 0) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CARDTRACE_BATCH_SIZE": batch,
        "CARDTRACE_DATABASE_URL": "sqlite:///k.db",
        "CARDTRACE_INGEST_WORKERS": str(workers),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cardtrace", "ingest", "--json", str(data)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux /proc)."""
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert found, "the ingest runs worker processes"
    return [int(child) for child in found]


def ignores_sigint(pid: int) -> bool:
    """Whether the process ignores SIGINT: else its traceback would follow a Ctrl-C."""
    status = Path(f"/proc/{pid}/status").read_text()
    (ignored,) = (line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(int(ignored, 16) & (1 << (signal.SIGINT - 1)))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("batch", "transaction", "stop"),
    # Batches hold at most 2,500 records; a transaction closes once it holds `batch` events.
    [("500", 500, signal.SIGKILL), ("6000", 7500, signal.SIGKILL), ("500", 500, signal.SIGINT)],
    ids=["kill-one-batch-transactions", "kill-three-batch-transactions", "ctrl-c"],
)
def test_stopped_half_way_then_rerun_stores_each_event_once(
    tmp_path: Path, batch: str, transaction: int, stop: signal.Signals
) -> None:
    data = tmp_path / "events.jsonl"
    with data.open("wb") as handle:
        for n in range(TOTAL):
            handle.write(orjson.dumps(make.card_sold(source_id=f"k-{n}", serial=make.serial(n))))
            handle.write(b"\n")
    db = tmp_path / "k.db"

    # Ctrl-C in a terminal signals the whole process group, worker processes included.
    first = ingest(tmp_path, data, batch, workers=2 if stop == signal.SIGINT else 0)
    deadline = time.monotonic() + 120
    while (seen := stored(db)) < 2000 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    assert first.poll() is None, f"the ingest ended before it was stopped ({seen} events seen)"
    if stop == signal.SIGINT:
        assert all(ignores_sigint(child) for child in children(first.pid))
    os.killpg(first.pid, stop)
    _, first_err = first.communicate()
    before = stored(db)
    if stop == signal.SIGKILL:
        assert first.returncode == -signal.SIGKILL
    else:  # Ctrl-C: a clean exit with one line saying what became of the run
        assert first.returncode == 130
        assert first_err.decode().startswith("cardtrace: interrupted; finished transactions")
        assert first_err.count(b"\n") == 1
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
