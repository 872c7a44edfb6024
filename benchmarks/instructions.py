"""Instructions per record of the worker's steps, counted by valgrind: the same on every run.

    .venv/bin/python benchmarks/instructions.py [--cards 1500]

Timings on this shared machine move by a third from day to day (docs/performance.md),
more than most single changes to the hot path gain or lose. Instruction counts do not:
``valgrind --tool=callgrind`` counts what the CPU executes, whatever else the machine
runs, so the same code over the same input gives the same count to within 0.1 %. That
makes them the figure for telling whether a change to reading, validation or protection
made the work smaller (fewer instructions can still run slower, when they miss the cache
more: confirm a gain in time with ``benchmarks/ingest.py``).

It generates a small world (seed 1, deterministic), then runs a child process under
callgrind per level. The first does imports and a warm-up (every step once over a few
records per file, so what is built on first use is not counted); each of the next three
does one step more: reading every record into memory, validating them, protecting the
valid ones. The last does the warm-up and then what a worker does: ``prepare_batches``
over the files, each batch pickled as it is sent to the writer. A stage's count per
record is its level's minus the level before, divided by the records; the rest of a
worker (card checks, warnings, the batch's columns, leaf hashes, pickling) is the
worker's count less the three stages.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from cardtrace.domain.events import Envelope
from cardtrace.ingest.pipeline import Prepared, collecting_less, prepare_batches
from cardtrace.ingest.protect import ProtectionKeys, Protector
from cardtrace.ingest.readers import discover, read_records
from cardtrace.sim import generate
from harness import OUT, valid_events

KEYS = ProtectionKeys(bytes(32), bytes(32), "bench")
LEVELS = ["base", "read", "validate", "protect", "worker"]
WARM_UP = 20  # records per file
_COLLECTED = re.compile(rb"Collected : (\d+)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=1500, help="cards in the world")
    parser.add_argument("--child", nargs=2, metavar=("LEVEL", "WORLD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        level, world = args.child
        run_level(LEVELS.index(level), Path(world))
        return
    if shutil.which("valgrind") is None:
        sys.exit("instructions.py: needs valgrind (Debian package valgrind)")
    world = OUT / f"instructions-world-{args.cards}"
    shutil.rmtree(world, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    generate(seed=1, cards=args.cards, out=world)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counted = list(pool.map(lambda level: count(level, world), LEVELS))
    records = sum(1 for f in discover([world]).files for _ in read_records(f))
    totals = dict(zip(LEVELS, counted, strict=True))
    rows = [
        ("read", totals["read"] - totals["base"]),
        ("parse and validate", totals["validate"] - totals["read"]),
        ("protect", totals["protect"] - totals["validate"]),
        ("the rest (card checks, batch, leaf hash, pickle)", totals["worker"] - totals["protect"]),
        ("a worker, all of it (prepare_batches)", totals["worker"] - totals["base"]),
    ]
    version = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=True)
    print(
        f"{records:,} records of a seed-1 world of {args.cards:,} cards; {version.stdout.strip()}"
    )
    print(f"{'stage':48} {'instructions per record':>24}")
    for name, instructions in rows:
        print(f"{name:48} {instructions / records:>24,.0f}")


def count(level: str, world: Path) -> int:
    """Instructions of a child that runs up to ``level``."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            level,
            str(world),
        ],
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=True,
    )
    found = _COLLECTED.search(done.stderr)
    if found is None:
        sys.exit(f"instructions.py: no count from valgrind:\n{done.stderr.decode()[-2000:]}")
    return int(found.group(1))


def run_level(level: int, world: Path) -> None:
    """Do the work of ``LEVELS[:level + 1]``."""
    files = discover([world]).files
    now = datetime.now(UTC)
    protector = KEYS.protector()
    with collecting_less():
        warm = [r for f in files for r in islice(read_records(f), WARM_UP)]
        _protect_all(protector, valid_events(warm, now))
        _send(prepare_batches(files[:1], KEYS, batch_size=WARM_UP))
        if LEVELS[level] == "worker":
            _send(prepare_batches(files, KEYS, batch_size=2500))
        elif level >= LEVELS.index("read"):
            records = [r for f in files for r in read_records(f)]
            if level >= LEVELS.index("validate"):
                events = valid_events(records, now)
                if level >= LEVELS.index("protect"):
                    _protect_all(protector, events)


def _protect_all(protector: Protector, events: list[Envelope]) -> None:
    for event in events:
        protector.protect(event)


def _send(batches: Iterable[Prepared]) -> None:
    for batch in batches:
        pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    main()
