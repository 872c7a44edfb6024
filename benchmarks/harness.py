"""What the benchmarks share: their output folder, a synthetic world, validated events,
a measured CLI run."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from cardtrace.domain.events import Envelope
from cardtrace.ingest.pipeline import Rejected, validate
from cardtrace.ingest.readers import Record
from cardtrace.sim import generate

__all__ = ["OUT", "Measured", "make_world", "run_measured", "valid_events"]

#: Where worlds and databases go: benchmarks/out, or the folder CARDTRACE_BENCH_OUT names.
OUT = Path(os.environ.get("CARDTRACE_BENCH_OUT") or Path(__file__).resolve().parent / "out")
EVENTS_PER_CARD = 7  # about, in the synthetic world (7.4 measured at 1M cards)


def make_world(events: int) -> tuple[Path, float, int]:
    """A fresh world of about ``events`` events: its folder, seconds taken, events."""
    cards = max(events // EVENTS_PER_CARD, 100)
    world = OUT / f"world-{cards}"
    shutil.rmtree(world, ignore_errors=True)
    started = time.perf_counter()
    summary = generate(seed=1, cards=cards, out=world)
    return world, time.perf_counter() - started, summary.events


def valid_events(records: Iterable[Record], now: datetime) -> list[Envelope]:
    """The events of ``records`` that parse and validate; the others are skipped."""
    events = []
    for record in records:
        if record.data is not None:
            try:
                events.append(validate(record.data, now))
            except Rejected:
                continue
    return events


#: Runs the CLI, then prints as its last stderr line the process's own peak RSS (VmHWM,
#: which exec resets, unlike the rusage of a forked child), the peak of the memory of
#: it and its child processes (the ingest workers) together, sampled every half second:
#: their summed PSS, which counts pages they share (libraries) once, not once each, and
#: the process's own CPU seconds (the ingest's writer, without its workers).
_MEASURED_CLI = """
import os, resource, sys, threading, time
from cardtrace.cli.main import run

peak_tree = 0

def tree_kib():
    me, total = os.getpid(), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            if int(entry) == me or parent == me:
                with open(f"/proc/{entry}/smaps_rollup") as handle:
                    total += next(int(l.split()[1]) for l in handle if l.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
    return total

def sample():
    global peak_tree
    while True:
        peak_tree = max(peak_tree, tree_kib())
        time.sleep(0.5)

threading.Thread(target=sample, daemon=True).start()
code = run(sys.argv[1:])
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
own = resource.getrusage(resource.RUSAGE_SELF)
print(peak, max(peak_tree, int(peak)), own.ru_utime + own.ru_stime, file=sys.stderr)
sys.exit(code)
"""


class Measured(NamedTuple):
    """A measured CLI run."""

    seconds: float
    stdout: bytes
    code: int
    #: Peak RSS of the command's own process, KiB.
    peak_kib: int
    #: Peak of the summed PSS of the command and its child processes, KiB (sampled).
    peak_tree_kib: int
    #: User + system CPU seconds of the command and every process it waited for.
    cpu_seconds: float
    #: User + system CPU seconds of the command's own process, without its children.
    own_cpu_seconds: float


def run_measured(args: list[str]) -> Measured:
    """Run ``cardtrace ARGS`` in a child process and measure it."""
    env = {**os.environ, "CARDTRACE_KEY_DIR": str(OUT / "keys")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", _MEASURED_CLI, *args], capture_output=True, env=env, check=False
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak, peak_tree, own_cpu = child.stderr.decode().strip().splitlines()[-1].split()
    return Measured(
        seconds, child.stdout, child.returncode, int(peak), int(peak_tree), cpu, float(own_cpu)
    )
