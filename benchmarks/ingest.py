"""Ingest benchmark: events/s into SQLite and PostgreSQL, peak memory, cost per stage.

    .venv/bin/python benchmarks/ingest.py [--events 1000000] [--sim-cards 1000000]

1. Generates a synthetic world of about ``--events`` events (``cardtrace sim``), timed.
2. Profiles each stage on a sample drawn from every file, in this process, on one core,
   with the garbage collector set as during an ingest: read, parse and validate,
   protect (with its parts found by ablation: tokenise, canonical encoding, sealing),
   leaf hashing, and the SQLite append, split by ablation into the insert and the
   maintenance of the time and link indexes (benchmarks/writer.py breaks it down more);
   then runs the worker processes alone over the whole world, storing nothing: the
   ceiling they set whatever the store does.
3. Runs ``cardtrace ingest`` end to end in a child process for each backend, measuring
   events/s, the CPU time of all its processes per event (the ceiling on 2 cores) and
   the child's peak RSS (``VmHWM``), then ``cardtrace checkpoint`` and the full audit
   ``cardtrace verify`` over the stored log. PostgreSQL is a throwaway server started
   like the tests do.
4. Optionally times ``cardtrace sim`` for ``--sim-cards`` cards.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from cardtrace.crypto.tokens import Tokenizer
from cardtrace.crypto.vault import Vault
from cardtrace.domain.canonical import canonical_bytes_of_valid
from cardtrace.domain.cards import CARD_FORMATS
from cardtrace.domain.events import Envelope
from cardtrace.ingest import protect as protect_module
from cardtrace.ingest.pipeline import PREPARED_RECORDS, collecting_less
from cardtrace.ingest.protect import ProtectionKeys, Protector
from cardtrace.ingest.readers import UTF8, Record, discover, read_records
from cardtrace.ingest.workers import prepare_in_workers
from cardtrace.ledger import merkle, tiles
from cardtrace.settings import usable_cores
from cardtrace.store.database import Database
from cardtrace.store.rows import EventBatch, EventRow
from harness import OUT, make_world, run_measured, valid_events
from pgserver import throwaway_postgres
from writer import Variant, as_built, rows_only

KEY = bytes(32)
SAMPLE = 50_000
REPEAT = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sim-cards", type=int, default=0, help="also time sim (0: skip)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    rows: list[tuple[str, str]] = []

    world, seconds, events = make_world(args.events)
    rows.append(("world: events generated", f"{events:,} in {seconds:.1f} s"))
    with collecting_less():  # as during an ingest
        rows += stage_profile(world)
        rows += workers_alone(world)
    for backend in args.backends.split(","):
        rows += end_to_end(world, backend, events)
    if args.sim_cards:
        rows.append(time_sim(args.sim_cards))
    print_table(rows)


def per_event(seconds: float, count: int) -> str:
    return f"{seconds / count * 1e6:7.2f} µs/event"


def timed(function: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """The best of ``repeat`` runs (the machine is shared and noisy) and the result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def stage_profile(world: Path) -> list[tuple[str, str]]:
    files = discover([world]).files
    read_seconds, records = timed(lambda: [r for f in files for r in read_records(f)])
    rows = [("stage: read", per_event(read_seconds, len(records)))]
    sample: list[Record] = records[:: max(len(records) // SAMPLE, 1)]  # from every file
    del records
    now = datetime.now(UTC)
    validate_seconds, events = timed(lambda: valid_events(sample, now))
    rows.append(("stage: parse and validate (pydantic)", per_event(validate_seconds, len(sample))))

    protector = Protector(Tokenizer(bytes(32)), Vault(bytes(32)), "bench")
    protect_seconds, protected = timed(lambda: [protector.protect(e) for e in events], REPEAT)
    count = len(events)
    rows.append(("stage: protect (all of it)", per_event(protect_seconds, count)))
    for name, seconds in _ablations(events, protect_seconds).items():
        rows.append((f"  of which {name}", per_event(seconds, count)))
    hash_seconds, _ = timed(lambda: _hash_all(protected))
    rows.append(("stage: leaf hashing + tree (in memory)", per_event(hash_seconds, count)))
    rows += _insert_costs(protected)
    return rows


def _ablations(events: Sequence[Envelope], full: float) -> dict[str, float]:
    """The cost of one part of protect: full time minus the time with that part stubbed."""

    class ConstantTokens(Tokenizer):
        def token(self, *_: str) -> bytes:
            return bytes(16)

    class NoSeal(Vault):
        def seal(self, *_: Any) -> bytes:
            return b"x"

    def cost_without(protector: Protector) -> float:
        return full - timed(lambda: [protector.protect(e) for e in events], REPEAT)[0]

    costs = {
        "tokenise (HMAC)": cost_without(Protector(ConstantTokens(KEY), Vault(KEY), "b")),
        "seal (AES-GCM)": cost_without(Protector(Tokenizer(KEY), NoSeal(KEY), "b")),
    }
    original = canonical_bytes_of_valid
    setattr(protect_module, "canonical_bytes_of_valid", lambda *_: b"{}")  # noqa: B010
    try:
        costs["canonical encoding"] = cost_without(Protector(Tokenizer(KEY), Vault(KEY), "b"))
    finally:
        setattr(protect_module, "canonical_bytes_of_valid", original)  # noqa: B010
    return costs


def _hash_all(rows: Sequence[EventRow]) -> None:
    store = tiles.MemoryTileStore()
    tiles.append(store, [merkle.leaf_hash(row.leaf) for row in rows])


def _insert_costs(rows: list[EventRow]) -> list[tuple[str, str]]:
    """The SQLite append split by ablation (benchmarks/writer.py): the rows, their ids and
    the log; then what the time index and the link rows (queued, then merged) add."""
    batches = [EventBatch.of(rows[start : start + 5000]) for start in range(0, len(rows), 5000)]
    whole, bare = _append_all(batches, as_built), _append_all(batches, rows_only)
    return [
        ("stage: insert (rows, event ids, log)", per_event(bare, len(rows))),
        ("stage: index maintenance (time, links)", per_event(whole - bare, len(rows))),
    ]


def _append_all(batches: list[EventBatch], variant: Variant) -> float:
    """Seconds to append ``batches`` into a fresh SQLite file and merge its queues."""
    path = OUT / "insert.db"
    for leftover in OUT.glob("insert.db*"):
        leftover.unlink()
    database = Database.open(f"sqlite:///{path}")
    with variant(database, batches) as replayed:
        started = time.perf_counter()
        for events in replayed:
            database.append(events)
        database.integrate_links()
        database.integrate_ids()
        seconds = time.perf_counter() - started
    database.close()
    return seconds


def workers_alone(world: Path) -> list[tuple[str, str]]:
    """The ceiling the workers set: every record read, validated and protected, not stored.

    As many worker processes as an ingest of the world would start (one per core), this
    process only receiving their batches.
    """
    workers = usable_cores()
    keys = ProtectionKeys(KEY, KEY, "bench")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    records = sum(
        prepared.records
        for prepared in prepare_in_workers(
            discover([world]).files,
            keys,
            PREPARED_RECORDS,
            workers,
            formats=CARD_FORMATS,
            encoding=UTF8,
        )
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return [
        (
            f"workers alone ({workers}, nothing stored)",
            f"{records / seconds:,.0f} records/s, {cpu / records * 1e6:.1f} µs/record of CPU",
        )
    ]


def end_to_end(world: Path, backend: str, events: int) -> list[tuple[str, str]]:
    if backend == "sqlite":
        path = OUT / "e2e.db"
        for leftover in OUT.glob("e2e.db*"):
            leftover.unlink()
        rows = _ingest_child(world, f"sqlite:///{path}", "SQLite", events)
        return rows + _checkpoint_and_audit(f"sqlite:///{path}", "SQLite")
    with throwaway_postgres() as url:
        rows = _ingest_child(world, url, "PostgreSQL", events)
        return rows + _checkpoint_and_audit(url, "PostgreSQL")


def _checkpoint_and_audit(url: str, label: str) -> list[tuple[str, str]]:
    """Time ``cardtrace checkpoint`` and the full audit ``cardtrace verify`` on the log."""
    rows = []
    for command in ("checkpoint", "verify"):
        run = run_measured([command, "--db", url])
        outcome = "ok" if run.code == 0 else f"exit code {run.code}"
        rows.append(
            (
                f"cardtrace {command} ({label})",
                f"{run.seconds:.1f} s, peak RSS {run.peak_kib / 1024:,.0f} MiB, {outcome}",
            )
        )
    return rows


def _ingest_child(world: Path, url: str, label: str, events: int) -> list[tuple[str, str]]:
    args = ["ingest", "--json", "--db", url, "--rejects", str(OUT / "rejects.jsonl"), str(world)]
    run = run_measured(args)
    if run.code not in (0, 1):
        return [(f"end to end {label}", f"failed with exit code {run.code}")]
    stored = orjson.loads(run.stdout.splitlines()[-1])["accepted"]
    seconds, cpu, writer = run.seconds, run.cpu_seconds, run.own_cpu_seconds
    return [
        (f"end to end {label}: events stored", f"{stored:,} of {events:,}"),
        (f"end to end {label}: throughput", f"{stored / seconds:,.0f} events/s ({seconds:.1f} s)"),
        (
            f"end to end {label}: CPU (all processes)",
            f"{cpu / stored * 1e6:.0f} µs/event ({cpu / seconds:.2f} cores busy)",
        ),
        (
            f"end to end {label}: CPU by process",
            f"writer {writer / stored * 1e6:.0f} µs/event, "
            f"workers {(cpu - writer) / stored * 1e6:.0f} µs/event",
        ),
        (f"end to end {label}: peak RSS", f"{run.peak_kib / 1024:,.0f} MiB"),
        (
            f"end to end {label}: peak memory with workers",
            f"{run.peak_tree_kib / 1024:,.0f} MiB (summed PSS of all processes, sampled)",
        ),
    ]


def time_sim(cards: int) -> tuple[str, str]:
    world = OUT / "sim-timing"
    shutil.rmtree(world, ignore_errors=True)
    args = ["sim", "--json", "--seed", "2", "--cards", str(cards), "--out", str(world)]
    run = run_measured(args)
    events = orjson.loads(run.stdout)["events"]
    shutil.rmtree(world, ignore_errors=True)
    return (
        f"cardtrace sim --cards {cards:,}",
        f"{run.seconds:.1f} s, {events:,} events, peak RSS {run.peak_kib / 1024:,.0f} MiB",
    )


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
