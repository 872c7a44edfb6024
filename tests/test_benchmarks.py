"""The benchmarks still run and print their tables (at toy sizes: figures mean nothing here)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_benchmark(name: str, *args: str, out: Path) -> str:
    env = {**os.environ, "CARDTRACE_BENCH_OUT": str(out)}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_ingest_benchmark_prints_every_stage_and_the_end_to_end_run(tmp_path: Path) -> None:
    table = run_benchmark("ingest.py", "--events", "3000", "--backends", "sqlite", out=tmp_path)
    for row in (
        "stage: parse and validate",
        "stage: protect (all of it)",
        "stage: insert (rows, event ids, log)",
        "stage: index maintenance (time, links)",
        "workers alone",
        "end to end SQLite: throughput",
        "end to end SQLite: peak memory with workers",
        "cardtrace verify (SQLite)",
    ):
        assert row in table
    assert "failed" not in table
    assert "exit code" not in table
    split = re.search(r"CPU by process +writer (\d+) µs/event, workers (-?\d+) µs/event", table)
    assert split is not None, table
    assert int(split[1]) > 0
    assert int(split[2]) >= 0


@pytest.mark.postgres
def test_ingest_benchmark_runs_against_postgresql(tmp_path: Path) -> None:
    table = run_benchmark("ingest.py", "--events", "2000", "--backends", "postgresql", out=tmp_path)
    assert "end to end PostgreSQL: throughput" in table
    assert "cardtrace verify (PostgreSQL)" in table


def test_writer_benchmark_prints_every_variant(tmp_path: Path) -> None:
    table = run_benchmark("writer.py", "--events", "3000", out=tmp_path)
    assert "as built" in table
    assert "without link rows" in table
    assert "without either" in table


def test_instructions_benchmark_counts_every_stage(tmp_path: Path) -> None:
    table = run_benchmark("instructions.py", "--cards", "100", out=tmp_path)
    counts = {
        name.strip(): int(count.replace(",", ""))
        for name, count in re.findall(r"^(\w[^\d\n]*?) +([\d,]+)$", table, re.MULTILINE)
    }
    stages = [
        "read",
        "parse and validate",
        "protect",
        "the rest (card checks, batch, leaf hash, pickle)",
    ]
    assert all(counts[stage] > 0 for stage in stages), table
    # The stages add up to the whole, but for each figure's rounding to a whole count.
    whole = counts["a worker, all of it (prepare_batches)"]
    assert abs(whole - sum(counts[stage] for stage in stages)) <= len(stages)


def test_ledger_benchmark_prints_its_report(tmp_path: Path) -> None:
    table = run_benchmark(
        "ledger.py",
        "--leaves",
        "3000",
        "--queries",
        "20",
        "--pymerkle-cold",
        "2",
        "--audit-events",
        "2000",
        "--dir",
        str(tmp_path),
        out=tmp_path,
    )
    assert "verify inclusion" in table


def test_formats_benchmark_times_each_format_over_the_same_records(tmp_path: Path) -> None:
    table = run_benchmark("formats.py", "--events", "2000", "--rounds", "1", out=tmp_path)
    rows = dict(re.findall(r"^(jsonl|csv|parquet) +[\d.]+ +([\d.]+ +[\d.]+)$", table, re.M))
    assert sorted(rows) == ["csv", "jsonl", "parquet"], table
    for timings in rows.values():
        read, worker = map(float, timings.split())
        assert 0 < read < worker
