"""What each input format costs a worker: the same records as JSON Lines, CSV and Parquet.

    .venv/bin/python benchmarks/formats.py [--events 200000] [--rounds 3]

It generates a synthetic world, writes each node's file again as CSV (a header of the
file's fields, list fields joined by ``;``, an absent value as an empty cell) and as
Parquet (a column per field, inferred by pyarrow), and checks that the three give the
same records: as many accepted and rejected, with the same warnings. Then, in turns so
that the machine's noise falls on each alike, it times in one process reading the
records (the reader alone) and all a worker does (``prepare_batches``: read, validate,
protect, batch), with the identifier caches emptied before each. It prints CPU µs per
record, the best of the rounds.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from cardtrace.domain.events import LIST_FIELDS
from cardtrace.domain.identifiers import clear_identifier_caches
from cardtrace.ingest.pipeline import collecting_less, prepare_batches
from cardtrace.ingest.protect import ProtectionKeys
from cardtrace.ingest.readers import CSV_LIST_SEPARATOR, discover, read_records
from harness import make_world

KEYS = ProtectionKeys(bytes(32), bytes(32), "bench")
FORMATS = ("jsonl", "csv", "parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events in the world")
    parser.add_argument("--rounds", type=int, default=3, help="timings of each, best kept")
    args = parser.parse_args()
    world, _, events = make_world(args.events)
    files = {"jsonl": discover([world]).files}
    files["csv"], files["parquet"] = convert(files["jsonl"], world.with_name(world.name + "-as"))
    outcomes = {name: outcome(paths) for name, paths in files.items()}
    if len(set(outcomes.values())) != 1:
        raise SystemExit(f"formats.py: the formats give different records: {outcomes}")
    records = outcomes["jsonl"][0] + outcomes["jsonl"][1]
    timings: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for name, paths in files.items():
            for step, work in (("read", read_all), ("worker", prepare_all)):
                timings.setdefault((name, step), []).append(cpu_seconds(work, paths) / records)
    print(f"{records:,} records of a world of {events:,} events; best of {args.rounds}")
    print(f"{'format':10} {'files (MiB)':>12} {'read (µs/record)':>18} {'worker (µs/record)':>20}")
    for name, paths in files.items():
        size = sum(path.stat().st_size for path in paths) / 2**20
        read, worker = (min(timings[name, step]) * 1e6 for step in ("read", "worker"))
        print(f"{name:10} {size:>12.1f} {read:>18.2f} {worker:>20.2f}")


def convert(sources: list[Path], folder: Path) -> tuple[list[Path], list[Path]]:
    """Each JSON Lines file of ``sources`` written to ``folder`` as CSV and as Parquet."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    as_csv, as_parquet = [], []
    for source in sources:
        rows = [orjson.loads(line) for line in source.read_bytes().splitlines() if line]
        fields = sorted({name for row in rows for name in row})
        as_csv.append(folder / f"{source.stem}.csv")
        with as_csv[-1].open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(fields)
            writer.writerows([cell(row.get(name), name) for name in fields] for row in rows)
        as_parquet.append(folder / f"{source.stem}.parquet")
        table = pa.Table.from_pylist([{name: row.get(name) for name in fields} for row in rows])
        pq.write_table(table, as_parquet[-1])
    return as_csv, as_parquet


def cell(value: Any, name: str) -> str:
    """``value`` as a CSV cell (docs/ingest.md, "Input formats")."""
    if value is None:
        return ""
    if name in LIST_FIELDS:
        return CSV_LIST_SEPARATOR.join(value)
    return str(value)


def outcome(paths: list[Path]) -> tuple[int, int, tuple[tuple[str, int], ...]]:
    """Accepted, rejected and the warnings of a worker's pass over ``paths``."""
    accepted = rejected = 0
    warnings: Counter[str] = Counter()
    for batch in prepare_batches(paths, KEYS, batch_size=2500):
        accepted += len(batch.events)
        rejected += len(batch.rejects)
        warnings.update(batch.warnings)
    return accepted, rejected, tuple(sorted(warnings.items()))


def read_all(paths: list[Path]) -> None:
    for path in paths:
        for _ in read_records(path):
            pass


def prepare_all(paths: list[Path]) -> None:
    for _ in prepare_batches(paths, KEYS, batch_size=2500):
        pass


def cpu_seconds(work: Callable[[list[Path]], None], paths: list[Path]) -> float:
    clear_identifier_caches()
    with collecting_less():
        started = time.process_time()
        work(paths)
        return time.process_time() - started


if __name__ == "__main__":
    main()
