"""A whole synthetic world through the CLI: stored once, no PIN anywhere on disk."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cardtrace.cli.main import run
from cardtrace.service import Node
from cardtrace.settings import load_settings
from cardtrace.sim import TRUTH_FILE, read_truth


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    assert run(["sim", "--seed", "3", "--cards", "600", "--out", str(out)]) == 0
    return out


def pins_of(world: Path) -> set[bytes]:
    pins = set()
    for path in world.glob("*.jsonl"):
        if "truth" in path.name:
            continue
        for line in path.read_bytes().splitlines():
            pin = orjson.loads(line).get("pin")
            if pin:
                pins.add(pin.encode())
    return pins


def test_ingesting_a_world_stores_every_valid_event_and_rejects_the_planted_ones(
    world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted = sum(len(record.rejected) for record in read_truth(world / TRUTH_FILE))
    db = f"sqlite:///{tmp_path / 'w.db'}"
    rejects = tmp_path / "rejects.jsonl"
    code = run(["ingest", "--json", "--db", db, "--rejects", str(rejects), str(world)])
    summary = orjson.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["rejected"] == planted
    assert code == (1 if planted else 0)
    assert summary["accepted"] > 600
    assert run(["ingest", "--json", "--db", db, "--rejects", str(rejects), str(world)]) == code
    again = orjson.loads(capsys.readouterr().out.splitlines()[-1])
    assert (again["accepted"], again["duplicates"]) == (0, summary["accepted"])


def test_no_pin_of_the_world_is_anywhere_in_the_sqlite_file_or_its_wal(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pins = pins_of(world)
    assert len(pins) > 500
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'scan.db'}")
    with Node(settings) as node:
        node.ingest([world], rejects=tmp_path / "rejects.jsonl")
        files = sorted(tmp_path.glob("scan.db*"))
        assert {path.name for path in files} >= {"scan.db", "scan.db-wal"}
        disk = b"".join(path.read_bytes() for path in files)
        reject_file = tmp_path / "rejects.jsonl"
        rejects = reject_file.read_bytes() if reject_file.exists() else b""
    assert [pin for pin in pins if pin in disk] == []
    assert [pin for pin in pins if pin in rejects] == []
