"""An ingest killed (SIGKILL), interrupted (Ctrl-C) or terminated (SIGTERM) half-way and
run again stores every event exactly once, and leaves no worker process behind."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import orjson
import psycopg
import pytest

import factories as make
from cardtrace.ledger import tiles
from cardtrace.store.database import Database
from cardtrace.store.ledger_sql import SqlTileStore

TOTAL = 30_000


def stored(url: str) -> int:
    """Events committed so far: 0 before the ingest has made the database and its schema."""
    if url.startswith("postgresql://"):
        try:
            with psycopg.connect(url) as connection:
                (count,) = connection.execute("SELECT count(*) FROM events").fetchall()
                return int(count[0])
        except psycopg.errors.UndefinedTable:
            return 0
    db = Path(url.removeprefix("sqlite:///"))
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as connection:
            return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'k.db'}"


def ingest(
    folder: Path, data: Path, batch: str, workers: int = 0, url: str | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CARDTRACE_BATCH_SIZE": batch,
        "CARDTRACE_DATABASE_URL": url or sqlite_url(folder),
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


def write_events(data: Path) -> None:
    with data.open("wb") as handle:
        for n in range(TOTAL):
            handle.write(orjson.dumps(make.card_sold(source_id=f"k-{n}", serial=make.serial(n))))
            handle.write(b"\n")


def wait_until_storing(process: subprocess.Popen[bytes], url: str) -> None:
    """Wait until the ingest has committed some events, and check it is still running."""
    deadline = time.monotonic() + 120
    while (seen := stored(url)) < 2000 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, f"the ingest ended before it was stopped ({seen} events seen)"


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux /proc)."""
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert found, "the ingest runs worker processes"
    return [int(child) for child in found]


def started(pid: int) -> str | None:
    """When the live process ``pid`` started (None when it is gone or a zombie, which its
    new parent may never reap): tells it from a later process given the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    state, *fields = stat.rsplit(")", 1)[1].split()  # the fields after the command's name
    return None if state == "Z" else fields[18]  # field 22 of proc(5), the start time


def still_running(processes: list[tuple[int, str | None]], within: float) -> list[int]:
    """The pids of ``processes`` (pid, start time) still running after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        running = [pid for pid, start in processes if start and started(pid) == start]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.05)


def stop_for_good(processes: list[tuple[int, str | None]]) -> None:
    """SIGKILL what is left of ``processes``, so a failed test leaves none running."""
    for pid in still_running(processes, within=0):
        os.kill(pid, signal.SIGKILL)


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
    stop_half_way_then_rerun(tmp_path, sqlite_url(tmp_path), batch, transaction, stop)


@pytest.mark.slow
@pytest.mark.postgres
def test_killed_half_way_on_postgresql_then_rerun_stores_each_event_once(
    tmp_path: Path, postgres_url: str
) -> None:
    """The server undoes the open transaction of a client killed mid-COPY, and frees its
    writer lock with the connection, so the rerun can take it."""
    stop_half_way_then_rerun(tmp_path, postgres_url, "500", 500, signal.SIGKILL)


def stop_half_way_then_rerun(
    tmp_path: Path, url: str, batch: str, transaction: int, stop: signal.Signals
) -> None:
    data = tmp_path / "events.jsonl"
    write_events(data)

    # Ctrl-C in a terminal signals the whole process group, worker processes included.
    first = ingest(tmp_path, data, batch, workers=2 if stop == signal.SIGINT else 0, url=url)
    wait_until_storing(first, url)
    if stop == signal.SIGINT:
        assert all(ignores_sigint(child) for child in children(first.pid))
    os.killpg(first.pid, stop)
    first_out, first_err = first.communicate()
    before = stored(url)
    if stop == signal.SIGKILL:
        assert first.returncode == -signal.SIGKILL
    else:  # Ctrl-C: a clean exit with one line saying what became of the run
        assert first.returncode == 130
        assert first_err.decode().startswith("cardtrace: interrupted; finished transactions")
        assert first_err.count(b"\n") == 1
        assert_the_summary_counts_what_is_stored(first_out, before)
    assert 0 < before < TOTAL, "the kill must land half-way"
    assert before % transaction == 0, "a kill leaves whole transactions or nothing"
    assert_a_rerun_stores_each_event_once(tmp_path, url, data, batch, before)


@contextmanager
def stopped_with_workers(
    tmp_path: Path, data: Path, stop: signal.Signals
) -> Iterator[subprocess.Popen[bytes]]:
    """An ingest with two workers, sent ``stop`` (it alone, as `kill PID` does) once it
    stores events; its workers must be gone within 5 s, else they would wait forever for
    room on a queue no one reads. Whatever the caller checks, nothing is left running."""
    workers: list[tuple[int, str | None]] = []
    with ingest(tmp_path, data, "500", workers=2) as process:
        try:
            wait_until_storing(process, sqlite_url(tmp_path))
            workers = [(pid, started(pid)) for pid in children(process.pid)]
            process.send_signal(stop)
            process.wait(timeout=30)
            assert still_running(workers, within=5) == []
            yield process
        finally:
            stop_for_good(workers)
            process.kill()


@pytest.mark.slow
def test_sigterm_ends_the_ingest_and_its_workers_as_ctrl_c_does(tmp_path: Path) -> None:
    data, url = tmp_path / "events.jsonl", sqlite_url(tmp_path)
    write_events(data)
    with stopped_with_workers(tmp_path, data, signal.SIGTERM) as first:
        # Read only now: workers left running would hold its output open.
        first_out, first_err = first.communicate(timeout=30)
        assert first.returncode == 128 + signal.SIGTERM, first_err.decode()
        assert first_err.decode().startswith("cardtrace: terminated; finished transactions")
        assert first_err.count(b"\n") == 1
    before = stored(url)
    assert_the_summary_counts_what_is_stored(first_out, before)
    assert 0 < before < TOTAL, "the signal must land half-way"
    assert before % 500 == 0, "a stopped run leaves whole transactions or nothing"
    assert_a_rerun_stores_each_event_once(tmp_path, url, data, "500", before)


@pytest.mark.slow
def test_workers_end_when_the_ingest_is_killed_outright(tmp_path: Path) -> None:
    data = tmp_path / "events.jsonl"
    write_events(data)
    # SIGKILL gives the ingest no chance to stop its workers: they must end by themselves.
    with stopped_with_workers(tmp_path, data, signal.SIGKILL) as first:
        assert first.returncode == -signal.SIGKILL


def assert_the_summary_counts_what_is_stored(out: bytes, stored_events: int) -> None:
    """A stopped run's last line on stdout (--json) counts its finished transactions."""
    summary = orjson.loads(out.splitlines()[-1])
    assert summary["stopped"] is True
    assert summary["accepted"] == sum(summary["accepted_by_type"].values()) == stored_events


def assert_a_rerun_stores_each_event_once(
    tmp_path: Path, url: str, data: Path, batch: str, before: int
) -> None:
    second = ingest(tmp_path, data, batch, url=url)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err.decode()
    summary = orjson.loads(out.splitlines()[-1])
    assert summary["stopped"] is False
    assert summary["accepted"] + summary["duplicates"] == TOTAL
    assert summary["duplicates"] >= before

    database = Database.open(url)
    try:
        assert database.count() == TOTAL
        with database.engine.connect() as connection:
            assert tiles.size(SqlTileStore(connection)) == TOTAL
            ids = connection.exec_driver_sql("SELECT count(DISTINCT event_id) FROM events")
            assert ids.scalar_one() == TOTAL
    finally:
        database.close()
