"""Writer benchmark: what the SQLite writer spends per event, and on which index.

    .venv/bin/python benchmarks/writer.py [--events 1000000]

Prepares the batches of a synthetic world once (in this process, as the workers would),
then replays them into a fresh SQLite file per variant, the way an ingest's writer
does: transactions of ``CARDTRACE_BATCH_SIZE`` events, the link and event-id queues
merged on the ingest's schedule (``QueueMerges``; merges during the run count as
appending, the last ones as merging). The variants take one thing away at a time, so
the difference to the first row is its cost: the time index, the link rows, both. Reports µs
per event for the appends and the final merges, the writer's user and system CPU, and
bytes written to disk per event (``/proc/self/io``).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from cardtrace.ingest.pipeline import (
    PREPARED_RECORDS,
    QueueMerges,
    collecting_less,
    prepare_batches,
)
from cardtrace.ingest.protect import ProtectionKeys
from cardtrace.ingest.readers import discover
from cardtrace.store.database import Database
from cardtrace.store.rows import EVENT_COLUMNS, EventBatch
from harness import OUT, make_world

KEYS = ProtectionKeys(bytes(32), bytes(32), "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    world, _, _ = make_world(args.events)
    with collecting_less():
        batches = [
            prepared.events
            for prepared in prepare_batches(
                discover([world]).files, KEYS, batch_size=PREPARED_RECORDS
            )
        ]
    count = sum(map(len, batches))
    print(f"{count:,} events in batches of {PREPARED_RECORDS:,}")
    print(f"{'variant':44} {'append':>8} {'merge':>8} {'user':>8} {'system':>8} {'written':>9}")
    for label, transaction, variant in VARIANTS:
        figures = replay(batches, transaction, variant)
        cells = " ".join(f"{value / count * 1e6:6.2f}µs" for value in figures[:4])
        print(f"{label:44} {cells} {figures[4] / count:7,.0f} B", flush=True)


Variant = Callable[[Database, list[EventBatch]], AbstractContextManager[list[EventBatch]]]


@contextmanager
def as_built(_: Database, batches: list[EventBatch]) -> Iterator[list[EventBatch]]:
    yield batches


@contextmanager
def without_time_index(database: Database, batches: list[EventBatch]) -> Iterator[list[EventBatch]]:
    with database.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_events_occurred_us")
    yield batches


@contextmanager
def without_links(_: Database, batches: list[EventBatch]) -> Iterator[list[EventBatch]]:
    yield [
        EventBatch(**{name: getattr(batch, name) for name in EVENT_COLUMNS}) for batch in batches
    ]


@contextmanager
def rows_only(database: Database, batches: list[EventBatch]) -> Iterator[list[EventBatch]]:
    """Neither the time index nor link rows: the rows, their ids and the log."""
    with without_time_index(database, batches), without_links(database, batches) as replayed:
        yield replayed


VARIANTS: list[tuple[str, int, Variant]] = [
    ("as built (20,000-event transactions)", 20_000, as_built),
    ("5,000-event transactions", 5_000, as_built),
    ("without the time index", 20_000, without_time_index),
    ("without link rows (no queue, no merge)", 20_000, without_links),
    ("without either (rows, ids and log only)", 20_000, rows_only),
]


def replay(
    batches: list[EventBatch], transaction: int, variant: Variant
) -> tuple[float, float, float, float, int]:
    """Seconds appending and merging, user and system CPU seconds, bytes written."""
    path = OUT / "writer.db"
    for leftover in OUT.glob("writer.db*"):
        leftover.unlink()
    database = Database.open(f"sqlite:///{path}")
    with variant(database, batches) as replayed:
        written, usage = _written(), resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        merges = QueueMerges(database)  # as an ingest does
        for group in _transactions(replayed, transaction):
            with database.appending() as append:
                results = [append(batch) for batch in group]
            merges.stored(
                sum(result.link_rows for result in results),
                sum(result.accepted for result in results),
            )
        appended = time.perf_counter()
        merges.finish()
        merged = time.perf_counter()
        after = resource.getrusage(resource.RUSAGE_SELF)
    database.close()
    return (
        appended - started,
        merged - appended,
        after.ru_utime - usage.ru_utime,
        after.ru_stime - usage.ru_stime,
        _written() - written,
    )


def _transactions(batches: Sequence[EventBatch], events: int) -> Iterator[list[EventBatch]]:
    group: list[EventBatch] = []
    size = 0
    for batch in batches:
        group.append(batch)
        size += len(batch)
        if size >= events:
            yield group
            group, size = [], 0
    if group:
        yield group


def _written() -> int:
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("write_bytes"))


if __name__ == "__main__":
    main()
