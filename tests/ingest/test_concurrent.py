"""Two ingests into one database at once (two cron jobs, two exports): every event is
stored once, at one log index, and the audit finds the log whole."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import factories as make
from cardtrace.store.database import Database

#: Records in each file; the two files share half of them.
PER_FILE = 16_000


def write_events(path: Path, numbers: range) -> None:
    with path.open("wb") as handle:
        for n in numbers:
            handle.write(orjson.dumps(make.card_sold(source_id=f"c-{n}", serial=make.serial(n))))
            handle.write(b"\n")


@pytest.mark.slow
def test_two_ingests_at_once_store_each_event_once_in_one_whole_log(
    database_url: str, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    write_events(first, range(PER_FILE))
    write_events(second, range(PER_FILE // 2, PER_FILE // 2 + PER_FILE))
    distinct = PER_FILE + PER_FILE // 2
    env = {
        **os.environ,
        "CARDTRACE_DATABASE_URL": database_url,
        # No keys yet: both runs make them, and must agree on them.
        "CARDTRACE_KEY_DIR": str(tmp_path / "keys"),
        "CARDTRACE_BATCH_SIZE": "500",  # many short transactions, so the two interleave
        "CARDTRACE_INGEST_WORKERS": "0",
    }
    command = [sys.executable, "-m", "cardtrace", "ingest", "--json", "--rejects"]
    runs = [
        subprocess.Popen(
            [*command, str(tmp_path / f"rejects-{n}.jsonl"), *map(str, files)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n, files in enumerate(([first, second], [second, first]))
    ]
    done = [run.communicate(timeout=600) for run in runs]
    for run, (_, err) in zip(runs, done, strict=True):
        assert run.returncode == 0, err.decode()
    summaries = [orjson.loads(out.splitlines()[-1]) for out, _ in done]
    for summary in summaries:
        assert (summary["rejected"], summary["conflicts"]) == (0, 0)
        assert summary["accepted"] + summary["duplicates"] == 2 * PER_FILE
        assert summary["accepted"] > 0  # each stored some: they ran at the same time
    assert sum(summary["accepted"] for summary in summaries) == distinct
    database = Database.open(database_url)
    try:
        assert database.count() == database.log_size() == distinct
    finally:
        database.close()
    audit = subprocess.run(
        [sys.executable, "-m", "cardtrace", "verify"], env=env, capture_output=True, check=False
    )
    assert audit.returncode == 0, audit.stdout.decode() + audit.stderr.decode()
