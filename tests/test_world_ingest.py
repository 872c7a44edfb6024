"""A whole synthetic world through the CLI: stored once, no PIN and no personal value in
clear anywhere on disk, with either backend."""

from __future__ import annotations

from pathlib import Path

import ahocorasick
import orjson
import psycopg
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


def stored_source_ids(world: Path) -> set[bytes]:
    """The source id of the first stored record of each node file (the truth lists the
    records ingest rejects), as bytes."""
    rejected = {
        (r.node_id, r.source_id) for t in read_truth(world / TRUTH_FILE) for r in t.rejected
    }
    found = set()
    for path in sorted(world.glob("*.jsonl")):
        if "truth" in path.name:
            continue
        records = (orjson.loads(line) for line in path.read_bytes().splitlines())
        first = next(r for r in records if (r["node_id"], r["source_id"]) not in rejected)
        found.add(first["source_id"].encode())
    return found


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
    erasures = summary["accepted_by_type"]["record.erased"]
    assert erasures > 0
    assert (summary["erased"], summary["erasures_waiting"]) == (erasures, 0)
    assert run(["ingest", "--json", "--db", db, "--rejects", str(rejects), str(world)]) == code
    again = orjson.loads(capsys.readouterr().out.splitlines()[-1])
    assert (again["accepted"], again["duplicates"]) == (0, summary["accepted"])
    assert again["erased"] == 0


def database_bytes(url: str, tmp_path: Path) -> bytes:
    """Every byte the database keeps on disk: the SQLite file and its WAL, or the
    PostgreSQL database's own folder and the server's WAL, after a checkpoint."""
    if url.startswith("sqlite"):
        files = sorted(tmp_path.glob("scan.db*"))
        assert {path.name for path in files} >= {"scan.db", "scan.db-wal"}
    else:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CHECKPOINT")  # table pages on disk, not only in the WAL
            row = connection.execute(
                "SELECT current_setting('data_directory'), oid FROM pg_database "
                "WHERE datname = current_database()"
            ).fetchone()
        assert row is not None
        data = Path(row[0])
        files = [*(data / "base" / str(row[1])).iterdir(), *(data / "pg_wal").glob("0*")]
        assert len(files) > 10
    return b"".join(path.read_bytes() for path in files if path.is_file())


@pytest.fixture
def scanned(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> tuple[bytes, bytes]:
    """The database's bytes on disk after ingesting the world, and the reject file's."""
    monkeypatch.chdir(tmp_path)
    url = database_url.replace("cardtrace.db", "scan.db")
    with Node(load_settings(database_url=url)) as node:
        node.ingest([world], rejects=tmp_path / "rejects.jsonl")
        disk = database_bytes(url, tmp_path)
    reject_file = tmp_path / "rejects.jsonl"
    return disk, reject_file.read_bytes() if reject_file.exists() else b""


def found_in(data: bytes, values: set[bytes]) -> list[bytes]:
    """The ``values`` that occur in ``data``, found in one pass (Aho-Corasick); bytes are
    searched as latin-1 text, one character a byte, since the automaton takes text."""
    automaton = ahocorasick.Automaton()
    for value in values:
        automaton.add_word(value.decode("latin-1"), value)
    automaton.make_automaton()
    return sorted({value for _, value in automaton.iter(data.decode("latin-1"))})


def test_the_scan_finds_what_it_looks_for() -> None:
    values = {"王伟".encode(), b"13800138000", b"alipay:2088"}
    data = b"\x00\xff" + "x王伟".encode() + b"+8613800138000"
    assert found_in(data, values) == sorted(values - {b"alipay:2088"})


def test_no_pin_of_the_world_is_anywhere_on_disk(world: Path, scanned: tuple[bytes, bytes]) -> None:
    pins = pins_of(world)
    assert len(pins) > 500
    disk, rejects = scanned
    assert found_in(disk, pins) == []
    assert found_in(rejects, pins) == []


def test_no_personal_value_of_the_world_is_in_clear_on_disk(
    world: Path, scanned: tuple[bytes, bytes]
) -> None:
    values = personal_values_of(world)
    assert len(values) > 1000
    disk, rejects = scanned
    clear = stored_source_ids(world)
    assert found_in(disk, clear) == sorted(clear)  # the scan reads the stored rows
    assert found_in(disk, values) == []
    assert found_in(rejects, values) == []
