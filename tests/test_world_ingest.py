"""A whole synthetic world through the CLI: stored once, no PIN and no personal value in
clear anywhere on disk."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cardtrace.cli.main import run
from cardtrace.domain.events import event_adapter
from cardtrace.domain.handling import Personal, handling_of
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


def personal_values_of(world: Path) -> set[bytes]:
    """Every personal value of the world's valid records, as sent and as validated, long
    enough (6 bytes and more) not to turn up in a database file by chance."""
    adapter = event_adapter()
    found: set[bytes] = set()
    for path in world.glob("*.jsonl"):
        if "truth" in path.name:
            continue
        for line in path.read_bytes().splitlines():
            sent = orjson.loads(line)
            try:
                event = adapter.validate_python(sent)
            except ValueError:
                continue  # a record written invalid on purpose: it is rejected
            for name, info in type(event).model_fields.items():
                if not isinstance(handling_of(info), Personal):
                    continue
                for value in (sent.get(name), getattr(event, name)):
                    for item in value if isinstance(value, list) else [value]:
                        if isinstance(item, str) and len(item.encode()) >= 6:
                            found.add(item.encode())
    return found


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


def test_no_personal_value_of_the_world_is_in_clear_in_the_sqlite_file_or_its_wal(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    values = personal_values_of(world)
    assert len(values) > 1000
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'scan.db'}")
    with Node(settings) as node:
        node.ingest([world], rejects=tmp_path / "rejects.jsonl")
        disk = b"".join(path.read_bytes() for path in sorted(tmp_path.glob("scan.db*")))
    assert sorted(value for value in values if value in disk) == []
