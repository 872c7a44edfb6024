"""Erasures: storing a node's ``record.erased`` deletes its record's sealed personal data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

import factories as make
from cardtrace.domain.events import event_uuid_for
from cardtrace.ingest.pipeline import OTHER_NODE_ERASURE, IngestSummary, ingest_files
from cardtrace.ingest.protect import ProtectionKeys
from cardtrace.store.database import Database

KEYS = ProtectionKeys(bytes(range(32)), bytes(range(32)), "testkey")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = Database.open(database_url)
    yield opened
    opened.close()


def ingest(
    database: Database,
    tmp_path: Path,
    name: str,
    *records: dict[str, Any],
    batch: int = 2,
    workers: int = 0,
) -> IngestSummary:
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    summary = ingest_files(
        [path],
        database,
        KEYS,
        rejects=tmp_path / "rejects.jsonl",
        batch_size=batch,
        workers=workers,
    )
    assert summary.rejected == 0, (tmp_path / "rejects.jsonl").read_text()
    return summary


def stored(database: Database, node: str, source_id: str) -> tuple[bytes, bytes | None]:
    """The leaf and the sealed data of a node's stored record."""
    event_id = event_uuid_for(node, source_id).bytes
    with database.engine.connect() as connection:
        seq = database.event(event_id).seq
        row = connection.execute(
            text("SELECT leaf, protected FROM events WHERE seq = :seq"), {"seq": seq}
        ).one()
    return bytes(row.leaf), None if row.protected is None else bytes(row.protected)


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("batch", [1, 100])
def test_an_erasure_deletes_its_records_sealed_data_and_keeps_its_leaf(
    database: Database, tmp_path: Path, batch: int, workers: int
) -> None:
    kept = make.card_sold("s-2", serial=make.serial())
    ingest(database, tmp_path, "sold", make.card_sold("s-1"), kept, batch=batch, workers=workers)
    leaf, sealed = stored(database, "shop-a", "s-1")
    assert sealed is not None
    summary = ingest(
        database, tmp_path, "erased", make.record_erased("s-1"), batch=batch, workers=workers
    )
    assert (summary.accepted, summary.erased, summary.erasures_waiting) == (1, 1, 0)
    assert stored(database, "shop-a", "s-1") == (leaf, None)
    assert stored(database, "shop-a", "s-2")[1] is not None  # only the record named
    assert summary.as_dict()["erased"] == 1


@pytest.mark.parametrize("batch", [1, 100])
def test_an_erasure_stored_before_its_record_erases_it_when_the_record_comes(
    database: Database, tmp_path: Path, batch: int
) -> None:
    early = ingest(database, tmp_path, "erased", make.record_erased("s-1"), batch=batch)
    assert (early.erased, early.erasures_waiting) == (0, 1)
    later = ingest(database, tmp_path, "sold", make.card_sold("s-1"), batch=batch)
    assert (later.accepted, later.erased, later.erasures_waiting) == (1, 1, 0)
    assert stored(database, "shop-a", "s-1")[1] is None


@pytest.mark.parametrize("batch", [1, 100])
def test_an_erasure_and_its_record_in_one_file_in_either_order(
    database: Database, tmp_path: Path, batch: int
) -> None:
    summary = ingest(
        database,
        tmp_path,
        "both",
        make.record_erased("s-1"),
        make.card_sold("s-2", serial=make.serial()),
        make.card_sold("s-1"),
        make.record_erased("s-2", source_id="e-2"),
        batch=batch,
    )
    assert (summary.accepted, summary.erased, summary.erasures_waiting) == (4, 2, 0)
    assert stored(database, "shop-a", "s-1")[1] is None
    assert stored(database, "shop-a", "s-2")[1] is None


def test_a_record_sent_again_after_its_erasure_stays_erased(
    database: Database, tmp_path: Path
) -> None:
    record = make.card_sold("s-1")
    ingest(database, tmp_path, "first", record, make.record_erased("s-1"))
    again = ingest(database, tmp_path, "again", record, make.record_erased("s-1"))
    assert (again.accepted, again.duplicates, again.erased) == (0, 2, 0)
    assert stored(database, "shop-a", "s-1")[1] is None


def test_two_erasures_of_one_record_erase_it_once(database: Database, tmp_path: Path) -> None:
    summary = ingest(
        database,
        tmp_path,
        "twice",
        make.card_sold("s-1"),
        make.record_erased("s-1"),
        make.record_erased("s-1", source_id="e-2", reason="subject_request"),
    )
    assert summary.accepted == 3
    assert stored(database, "shop-a", "s-1")[1] is None
    with database.engine.connect() as connection:
        outcomes = connection.execute(text("SELECT outcome FROM erasures")).scalars().all()
    assert outcomes == ["erased", "erased"]


def test_a_node_cannot_erase_another_nodes_record(database: Database, tmp_path: Path) -> None:
    ingest(database, tmp_path, "sold", make.card_sold("s-1", node="shop-a"))
    erasure = make.record_erased("s-1", node="shop-b", target_node="shop-a")
    summary = ingest(database, tmp_path, "erased", erasure)
    assert (summary.accepted, summary.erased, summary.erasures_waiting) == (1, 0, 0)
    assert summary.warnings == {OTHER_NODE_ERASURE: 1}
    assert stored(database, "shop-a", "s-1")[1] is not None


def test_another_nodes_erasure_waiting_for_its_record_erases_nothing_when_it_comes(
    database: Database, tmp_path: Path
) -> None:
    erasure = make.record_erased("s-1", node="shop-b", target_node="shop-a")
    assert ingest(database, tmp_path, "erased", erasure).erasures_waiting == 1
    summary = ingest(database, tmp_path, "sold", make.card_sold("s-1", node="shop-a"))
    assert (summary.erased, summary.erasures_waiting) == (0, 0)
    assert summary.warnings == {OTHER_NODE_ERASURE: 1}
    assert stored(database, "shop-a", "s-1")[1] is not None


def test_a_dry_run_counts_what_its_erasures_would_do_and_erases_nothing(
    database: Database, tmp_path: Path
) -> None:
    ingest(database, tmp_path, "sold", make.card_sold("s-1"))
    path = tmp_path / "erased.jsonl"
    erasures = [
        make.record_erased("s-1", "e-1"),
        make.record_erased("s-2", "e-2"),  # its record is not stored: it would wait
        make.record_erased("s-1", "e-3", node="shop-b", target_node="shop-a"),
    ]
    path.write_bytes(b"".join(orjson.dumps(erasure) + b"\n" for erasure in erasures))
    dry = ingest_files([path], database, KEYS, rejects=None, batch_size=2, dry_run=True)
    assert (dry.accepted, dry.erased, dry.erasures_waiting) == (3, 1, 1)
    assert dry.warnings == {OTHER_NODE_ERASURE: 1}
    assert stored(database, "shop-a", "s-1")[1] is not None
    assert database.erasure_counts()["waiting"] == 0
    done = ingest_files([path], database, KEYS, rejects=None, batch_size=2)
    assert done.as_dict() == {**dry.as_dict(), "dry_run": False}
    assert stored(database, "shop-a", "s-1")[1] is None


@pytest.mark.parametrize(
    "target",
    [
        "-" * 36,
        "3FF99E51-7056-56C9-97B4-5DB68CC35F88",  # upper case: not the form ids are given in
        "3ff99e51705656c997b45db68cc35f88",
        "3ff99e51-7056-56c9-97b4-5db68cc35f8",
    ],
)
def test_an_erasure_must_name_an_event_id(database: Database, tmp_path: Path, target: str) -> None:
    path = tmp_path / "erased.jsonl"
    path.write_bytes(orjson.dumps(make.record_erased("s-1", target_event_id=target)) + b"\n")
    rejects = tmp_path / "rejects.jsonl"
    summary = ingest_files([path], database, KEYS, rejects=rejects, batch_size=2)
    assert (summary.accepted, summary.rejected) == (0, 1)
    (reject,) = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert reject["field"] == "target_event_id"
    assert target not in reject["reason"]


def test_erased_sealed_data_is_gone_from_the_sqlite_files(tmp_path: Path) -> None:
    """Not only unreadable through SQL: the bytes are overwritten in the database file,
    once the WAL is checkpointed into it, and the WAL holds none of them (PostgreSQL
    keeps old row versions until VACUUM; docs/ingest.md)."""
    database = Database.open(f"sqlite:///{tmp_path / 'erased.db'}")

    def checkpoint() -> None:
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0] == 0

    try:
        ingest(database, tmp_path, "sold", make.card_sold("s-1"), make.card_sold("s-2"))
        sealed = stored(database, "shop-a", "s-1")[1]
        assert sealed is not None
        checkpoint()
        assert sealed[16:48] in (tmp_path / "erased.db").read_bytes()  # the scan finds it
        ingest(database, tmp_path, "erased", make.record_erased("s-1"))
        assert sealed[16:48] not in (tmp_path / "erased.db-wal").read_bytes()
        checkpoint()
        assert all(sealed[16:48] not in path.read_bytes() for path in tmp_path.glob("erased.db*"))
    finally:
        database.close()


# -- any order, any batching -----------------------------------------------------------

#: The sales of the property test below: (node, source id); "s-9" is never sent.
SALES = [("shop-a", f"s-{n}") for n in range(4)] + [("shop-b", f"t-{n}") for n in range(2)]
TARGETS = [*SALES, ("shop-a", "s-9")]


def sale(node: str, source: str) -> dict[str, Any]:
    return make.card_sold(source, node=node, serial=make.serial(int(source[2:])))


@st.composite
def erasure_runs(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], int]:
    """Sales, some sent twice, and erasures by either node of any of them (or of a sale
    never sent), shuffled and split into runs; and a batch size."""
    records = [sale(*s) for s in SALES if draw(st.booleans())]
    records += draw(st.lists(st.sampled_from(records), max_size=2)) if records else []
    for n in range(draw(st.integers(0, 6))):
        node = draw(st.sampled_from(["shop-a", "shop-b"]))
        target_node, target = draw(st.sampled_from(TARGETS))
        records.append(make.record_erased(target, f"e-{n}", node=node, target_node=target_node))
    records = draw(st.permutations(records))
    cuts = sorted(draw(st.lists(st.integers(0, len(records)), max_size=2)))
    runs = [records[a:b] for a, b in zip([0, *cuts], [*cuts, len(records)], strict=True)]
    return runs, draw(st.integers(1, 3))


@settings(max_examples=40, deadline=None)
@given(erasure_runs())
def test_erasures_do_the_same_whatever_the_order_and_batching(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[list[list[dict[str, Any]]], int]
) -> None:
    """On SQLite (the rule is the same SQL on both backends, tested apart above): a sale
    ends erased exactly when its own node's erasure of it is stored, every erasure's row
    says what it did or that it waits, and each dry run tells what its run then does."""
    runs, batch = case
    folder = tmp_path_factory.mktemp("erasures")
    database = Database.open(f"sqlite:///{folder / 'e.db'}")
    try:
        for number, records in enumerate(runs):
            path = folder / f"run-{number}.jsonl"
            path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
            options: dict[str, Any] = {"rejects": None, "batch_size": batch}
            dry = ingest_files([path], database, KEYS, dry_run=True, **options)
            done = ingest_files([path], database, KEYS, **options)
            assert done.as_dict() == {**dry.as_dict(), "dry_run": False}
        everything = [record for records in runs for record in records]
        erasures = [r for r in everything if r["type"] == "record.erased"]
        stored = {(r["node_id"], r["source_id"]) for r in everything if r["type"] == "card.sold"}
        ids = {event_uuid_for(*s).bytes: s for s in stored}
        erasing = {(e["node_id"], ids.get(uuid.UUID(e["target_event_id"]).bytes)) for e in erasures}
        with database.engine.connect() as connection:
            sealed = {
                ids[bytes(event_id)]: protected is not None
                for event_id, protected in connection.execute(
                    text("SELECT event_id, protected FROM events WHERE type = 'card.sold'")
                )
            }
            outcomes = sorted(
                connection.execute(text("SELECT outcome FROM erasures")).scalars(),
                key=str,
            )
        assert sealed == {s: (s[0], s) not in erasing for s in stored}
        expected = [
            None if target is None else ("erased" if node == target[0] else "other_node")
            for node, target in (
                (e["node_id"], ids.get(uuid.UUID(e["target_event_id"]).bytes)) for e in erasures
            )
        ]
        assert outcomes == sorted(expected, key=str)
    finally:
        database.close()
