"""``reindex_node`` rebuilds what the audit finds wrong in the derived tables, from the
event rows, on SQLite and PostgreSQL; it refuses when the rows themselves are wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import factories as make
from cardtrace import service
from cardtrace.domain.events import EVENT_MODELS
from cardtrace.errors import ConfigurationError, TamperDetected
from cardtrace.service import Node
from cardtrace.store import rebuild as rebuild_module
from tampering import fetch, fetch_rows, ingest, sql

#: Each derived table as a whole, in an order that does not depend on the backend.
TABLES = {
    "links": "SELECT token, seq, field FROM links UNION ALL SELECT token, seq, field FROM "
    "link_queue ORDER BY 1, 2, 3",
    "ids": "SELECT event_id, seq FROM event_ids UNION ALL SELECT event_id, seq FROM "
    "event_id_queue ORDER BY 1",
    "counts": "SELECT node_id, type, events, first_us, last_us FROM event_counts ORDER BY 1, 2",
    "erasures": "SELECT seq, node_id, target_id, target_seq, outcome FROM erasures ORDER BY seq",
}


def tables(node: Node) -> dict[str, list[tuple[Any, ...]]]:
    return {name: fetch_rows(node, query) for name, query in TABLES.items()}


@pytest.mark.parametrize(
    ("statements", "kinds"),
    [
        (["DELETE FROM links WHERE seq = 4"], {"link-index"}),
        (["UPDATE links SET seq = 9 WHERE seq = 4 AND field = 'card'"], {"link-index"}),
        (
            [
                "INSERT INTO links (token, seq, field) "
                "SELECT token, 4, 'merchant' FROM links WHERE seq = 7 AND field = 'card'"
            ],
            {"link-index"},
        ),
        (
            ["DELETE FROM event_ids WHERE seq = 3", "DELETE FROM event_id_queue WHERE seq = 3"],
            {"id-index"},
        ),
        (["UPDATE event_counts SET events = events + 3, last_us = last_us + 1"], {"count-changed"}),
        (
            [
                "DELETE FROM links",
                "UPDATE event_ids SET seq = seq + 1",
                "UPDATE event_id_queue SET seq = seq + 1",
                "DELETE FROM event_counts",
            ],
            {"link-index", "id-index", "count-changed"},
        ),
    ],
    ids=["links-deleted", "link-moved", "link-inserted", "id-deleted", "counts", "all"],
)
@pytest.mark.parametrize("page", [20_000, 7])  # link rows queued in one go or in many
def test_a_rebuild_gives_back_the_tables_appends_made(
    node: Node,
    ids: list[str],
    statements: list[str],
    kinds: set[str],
    page: int,
    *,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rebuild_module, "_PAGE", page)
    made = tables(node)
    for statement in statements:
        sql(node, statement)
    assert set(service.verify_node(node).counts) == kinds
    result = service.reindex_node(node)
    assert set(result.found) == set(result.rebuilt) == kinds
    assert service.verify_node(node).clean
    assert tables(node) == made
    expected_rows = {"link-index": len(made["links"]), "id-index": 20, "count-changed": 1}
    assert result.rebuilt == {kind: expected_rows[kind] for kind in kinds}
    # The rebuilt index finds what the first one did: the card of event 4.
    (card,) = [token for token, seq, field in made["links"] if seq == 4 and field == "card"]
    assert [event.seq for event in node.database.events_by_token(card)] == [4]


def test_link_rows_still_queued_are_rebuilt_merged(node: Node, ids: list[str]) -> None:
    sql(node, "INSERT INTO link_queue (token, seq, field) SELECT token, seq, field FROM links")
    sql(node, "DELETE FROM links")
    sql(node, "DELETE FROM link_queue WHERE seq = 2")  # as an ingest stopped half-way would not
    result = service.reindex_node(node)
    assert result.rebuilt == {"link-index": 80}
    assert (
        fetch(node, "SELECT count(*) FROM links"),
        fetch(node, "SELECT count(*) FROM link_queue"),
    ) == (80, 0)
    assert service.verify_node(node).clean


def test_a_whole_node_rebuilds_nothing(node: Node, ids: list[str]) -> None:
    made = tables(node)
    result = service.reindex_node(node)
    assert (result.found, result.rebuilt) == ({}, {})
    assert tables(node) == made


def test_a_rebuild_is_refused_when_the_event_rows_are_wrong(node: Node, ids: list[str]) -> None:
    leaf = bytes(fetch(node, "SELECT leaf FROM events WHERE seq = 3"))
    sql(
        node,
        "UPDATE events SET leaf = :leaf WHERE seq = 3",
        leaf=leaf.replace(b'"face_value":100', b'"face_value":500'),
    )
    sql(node, "DELETE FROM links WHERE seq = 4")
    tampered = tables(node)
    with pytest.raises(TamperDetected) as raised:
        service.reindex_node(node)
    message = str(raised.value)
    assert message.startswith("the audit found the event rows or the log wrong (")
    assert "event-edited 1" in message
    assert "link-index" not in message
    assert message.endswith("nothing was changed ('cardtrace verify' lists the problems)")
    assert tables(node) == tampered


def test_events_stored_after_a_rebuild_are_indexed_as_before(
    node: Node, ids: list[str], tmp_path: Path
) -> None:
    sql(node, "DELETE FROM links")
    sql(node, "DELETE FROM event_counts")
    service.reindex_node(node)
    ingest(node, tmp_path, 20, 5)
    assert service.verify_node(node).clean
    assert fetch(node, "SELECT events FROM event_counts") == 25


def test_a_rebuild_is_refused_for_events_of_a_type_this_cardtrace_does_not_know(
    node: Node, ids: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "recycled.jsonl"
    path.write_bytes(orjson.dumps(make.card_recycled()) + b"\n")
    assert node.ingest([path], rejects=tmp_path / "rejects.jsonl").accepted == 1
    sql(node, "DELETE FROM links WHERE seq = 20")
    # As if a newer cardtrace had stored the sales: the audit cannot check their links.
    monkeypatch.delitem(EVENT_MODELS, "card.sold")
    assert set(service.verify_node(node).counts) == {"link-index"}
    tampered = tables(node)
    with pytest.raises(ConfigurationError, match="not one this cardtrace can index"):
        service.reindex_node(node)
    assert tables(node) == tampered


def test_an_ingest_that_cannot_merge_an_edited_queue_says_so_and_a_rebuild_mends_it(
    node: Node, ids: list[str], tmp_path: Path
) -> None:
    sql(node, "INSERT INTO event_id_queue (event_id, seq) SELECT event_id, seq FROM event_ids")
    with pytest.raises(TamperDetected, match=r"^event_id_queue holds a row that event_ids"):
        ingest(node, tmp_path, 20, 5)
    assert node.database.count() == 25  # the events are stored; their ids wait in the queue
    assert service.reindex_node(node).rebuilt == {"id-index": 25}
    assert service.verify_node(node).clean
    ingest(node, tmp_path, 25, 5)


#: Ways to edit the derived tables, as an attacker or a failing disk might; each picks a
#: row by the first number and a change by the second.
EDITS = st.tuples(
    st.sampled_from(
        [
            "link-delete",
            "link-seq",
            "link-token",
            "link-field",
            "link-copy",
            "id-delete",
            "id-seq",
            "id-bytes",
            "id-copy",
            "count-events",
            "count-span",
            "erasure-delete",
            "erasure-node",
            "erasure-target-id",
            "erasure-target-seq",
            "erasure-outcome",
            "erasure-copy",
        ]
    ),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
)
LINK_FIELDS = ["card", "pin", "merchant_id", "payment_account"]


def physical_rows(node: Node, table: str, columns: str) -> list[tuple[Any, ...]]:
    return fetch_rows(node, f"SELECT {columns} FROM {table} ORDER BY {columns}")  # noqa: S608


def held(node: Node, table: str, where: str, **params: Any) -> bool:
    return bool(fetch(node, f"SELECT count(*) FROM {table} WHERE {where}", **params))  # noqa: S608


def flipped(value: bytes, at: int) -> bytes:
    position = at % len(value)
    return value[:position] + bytes([value[position] ^ (1 + at % 255)]) + value[position + 1 :]


def edit_links(node: Node, kind: str, pick: int, change: int) -> None:
    rows = [
        (table, row)
        for table in ("links", "link_queue")
        for row in physical_rows(node, table, "token, seq, field")
    ]
    table, (token, seq, field) = rows[pick % len(rows)]
    row = "token = :token AND seq = :seq AND field = :field"
    if kind == "link-delete":
        sql(node, f"DELETE FROM {table} WHERE {row}", token=token, seq=seq, field=field)  # noqa: S608
        return
    if kind == "link-copy":
        copy = "INSERT INTO link_queue (token, seq, field) VALUES (:token, :seq, :field)"
        sql(node, copy, token=token, seq=seq + change % 30, field=field)
        return
    new = {
        "link-seq": (token, seq + 1 + change % 30, field),
        "link-token": (flipped(token, change), seq, field),
        "link-field": (token, seq, LINK_FIELDS[change % len(LINK_FIELDS)]),
    }[kind]
    if table == "links" and held(node, table, row, token=new[0], seq=new[1], field=new[2]):
        return  # the edit would break the primary key, which the database refuses anyway
    sql(
        node,
        f"UPDATE {table} SET token = :t, seq = :s, field = :f WHERE {row}",  # noqa: S608
        t=new[0],
        s=new[1],
        f=new[2],
        token=token,
        seq=seq,
        field=field,
    )


def edit_ids(node: Node, kind: str, pick: int, change: int) -> None:
    tables = ("event_ids", "event_id_queue")
    rows = [(table, row) for table in tables for row in physical_rows(node, table, "event_id, seq")]
    table, (event_id, seq) = rows[pick % len(rows)]
    if kind == "id-delete":
        sql(node, f"DELETE FROM {table} WHERE event_id = :e", e=event_id)  # noqa: S608
    elif kind == "id-seq":
        update = f"UPDATE {table} SET seq = :s WHERE event_id = :e"  # noqa: S608
        sql(node, update, s=seq + 1 + change % 30, e=event_id)
    elif kind == "id-bytes":
        new = flipped(event_id, change)
        if not held(node, table, "event_id = :e", e=new):
            sql(node, f"UPDATE {table} SET event_id = :n WHERE event_id = :e", n=new, e=event_id)  # noqa: S608
    else:  # a copy into the other table
        other = tables[1 - tables.index(table)]
        if not held(node, other, "event_id = :e", e=event_id):
            insert = f"INSERT INTO {other} (event_id, seq) VALUES (:e, :s)"  # noqa: S608
            sql(node, insert, e=event_id, s=seq)


def edit_counts(node: Node, kind: str, change: int) -> None:
    column = "events" if kind == "count-events" else ("first_us", "last_us")[change % 2]
    sql(node, f"UPDATE event_counts SET {column} = {column} + :d", d=1 + change % 3)  # noqa: S608


def erasure_table(node: Node) -> list[tuple[Any, ...]]:
    return fetch_rows(node, TABLES["erasures"])


@pytest.fixture
def erasures(node: Node, ids: list[str], tmp_path: Path) -> list[tuple[Any, ...]]:
    """Three erasures after the 20 sales: one erases sale 3, one by another node names
    sale 4, one waits for a sale not stored; the table as the appends made it."""
    path = tmp_path / "erasures.jsonl"
    records = [
        make.record_erased("3", "e-1"),
        make.record_erased("4", "e-2", node="shop-b", target_node="shop-a"),
        make.record_erased("99", "e-3"),
    ]
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    assert node.ingest([path], rejects=tmp_path / "rejects.jsonl").accepted == 3
    made = erasure_table(node)
    assert [(row[0], row[3], row[4]) for row in made] == [
        (20, 3, "erased"),
        (21, 4, "other_node"),
        (22, None, None),
    ]
    return made


OUTCOMES = [None, "erased", "other_node"]


def edit_erasures(node: Node, kind: str, pick: int, change: int) -> None:
    rows = physical_rows(node, "erasures", "seq, node_id, target_id, target_seq, outcome")
    if not rows:  # earlier edits deleted them all
        return
    seq, node_id, target_id, target_seq, outcome = rows[pick % len(rows)]
    at = {"seq": seq}
    if kind == "erasure-delete":
        sql(node, "DELETE FROM erasures WHERE seq = :seq", **at)
    elif kind == "erasure-node":
        sql(node, "UPDATE erasures SET node_id = :n WHERE seq = :seq", n=f"{node_id}x", **at)
    elif kind == "erasure-target-id":
        new_id = flipped(target_id, change)
        sql(node, "UPDATE erasures SET target_id = :t WHERE seq = :seq", t=new_id, **at)
    elif kind == "erasure-target-seq":
        new_seq = None if change % 4 == 0 else (target_seq or 0) + 1 + change % 30
        sql(node, "UPDATE erasures SET target_seq = :t WHERE seq = :seq", t=new_seq, **at)
    elif kind == "erasure-outcome":
        others = [value for value in OUTCOMES if value != outcome]
        new_outcome = others[change % len(others)]
        sql(node, "UPDATE erasures SET outcome = :o WHERE seq = :seq", o=new_outcome, **at)
    else:  # a copy at a seq no erasure holds
        copy = seq + 100 + change % 30
        if not held(node, "erasures", "seq = :seq", seq=copy):
            insert = (
                "INSERT INTO erasures (seq, node_id, target_id, target_seq, outcome) "
                "VALUES (:seq, :n, :t, :ts, :o)"
            )
            sql(node, insert, seq=copy, n=node_id, t=target_id, ts=target_seq, o=outcome)


#: The editing function of each kind of edit, by the kind's first word.
EDITORS = {
    "link": edit_links,
    "id": edit_ids,
    "count": lambda node, kind, _, change: edit_counts(node, kind, change),
    "erasure": edit_erasures,
}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=st.lists(EDITS, min_size=1, max_size=4))
def test_any_edit_of_the_derived_tables_is_found_and_mended(
    node: Node, erasures: list[tuple[Any, ...]], edits: list[tuple[str, int, int]]
) -> None:
    """Over 20 sales and three erasures (an applied, an other node's, a waiting one)."""
    made = tables(node)  # each example ends with the tables as the appends made them
    for kind, pick, change in edits:
        EDITORS[kind.split("-")[0]](node, kind, pick, change)
    changed = tables(node) != made
    report = service.verify_node(node)
    # Edits of derived tables are found as such, never as a fault of the event rows.
    assert set(report.counts) <= {"id-index", "count-changed", "link-index", "erasure-index"}
    assert report.clean is not changed, report.problems
    result = service.reindex_node(node)
    assert set(result.rebuilt) == set(report.counts)
    assert tables(node) == made


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM erasures WHERE outcome IS NULL",  # its sale would not be erased on arrival
        "UPDATE erasures SET outcome = 'other_node' WHERE outcome = 'erased'",
        "UPDATE erasures SET target_seq = 5 WHERE outcome = 'erased'",
        "UPDATE erasures SET outcome = 'erased', target_seq = 7 WHERE outcome IS NULL",
        "INSERT INTO erasures (seq, node_id, target_id) "
        "SELECT seq + 100, node_id, target_id FROM erasures WHERE outcome IS NULL",
    ],
    ids=["deleted", "outcome", "target", "not-waiting", "inserted"],
)
def test_an_edited_erasures_table_is_found_and_rebuilt(
    node: Node, erasures: list[tuple[Any, ...]], statement: str
) -> None:
    sql(node, statement)
    report = service.verify_node(node)
    assert report.counts == {"erasure-index": 1}
    (problem,) = report.problems
    assert problem.message.startswith("erasures holds ")
    assert service.reindex_node(node).rebuilt == {"erasure-index": 3}
    assert erasure_table(node) == erasures
    assert service.verify_node(node).clean


def test_an_id_index_leading_an_erased_id_elsewhere_is_an_id_problem_only(
    node: Node, erasures: list[tuple[Any, ...]]
) -> None:
    """Sale 3 is erased; its id led to sale 5, which holds sealed data. Looked up through
    the index, sale 5 would seem an erasure not applied, which no rebuild can mend."""
    for table in ("event_ids", "event_id_queue"):
        sql(node, f"UPDATE {table} SET seq = 5 WHERE seq = 3")  # noqa: S608
    report = service.verify_node(node)
    assert set(report.counts) == {"id-index"}, report.problems
    assert service.reindex_node(node).rebuilt == {"id-index": 23}
    assert erasure_table(node) == erasures
    assert service.verify_node(node).clean


def test_an_erasure_never_deletes_the_data_of_the_event_an_edited_id_index_leads_to(
    node: Node, ids: list[str], tmp_path: Path
) -> None:
    for table in ("event_ids", "event_id_queue"):
        sql(node, f"UPDATE {table} SET seq = 5 WHERE seq = 3")  # noqa: S608
    path = tmp_path / "erasure.jsonl"
    path.write_bytes(orjson.dumps(make.record_erased("3", "e-1")) + b"\n")
    assert node.ingest([path], rejects=tmp_path / "rejects.jsonl").accepted == 1
    sealed = "SELECT count(*) FROM events WHERE seq IN (3, 5) AND protected IS NOT NULL"
    assert fetch(node, sealed) == 2  # sale 5 keeps its data, and so, for now, does sale 3
    assert erasure_table(node)[0][3:] == (None, None)  # the erasure waits
    report = service.verify_node(node)
    assert set(report.counts) == {"id-index", "erasure-index", "erasure-not-applied"}
    (not_applied,) = (p for p in report.problems if p.kind == "erasure-not-applied")
    assert not_applied.seq == 3
    # Mended: the index rebuilt, the erasure found, and what it erases deleted at last.
    rebuilt = service.reindex_node(node).rebuilt
    assert rebuilt == {"id-index": 21, "erasure-index": 1, "erasure-not-applied": 1}
    assert fetch(node, sealed) == 1
    assert fetch(node, "SELECT protected FROM events WHERE seq = 3") is None
    assert service.verify_node(node).clean


def test_sealed_data_stored_again_after_its_erasure_is_deleted_again(
    node: Node, ids: list[str], tmp_path: Path
) -> None:
    """Sale 3's sealed data, kept from before its erasure (a backup), is put back."""
    sealed = "SELECT protected FROM events WHERE seq = 3"
    kept = bytes(fetch(node, sealed))
    path = tmp_path / "erasure.jsonl"
    path.write_bytes(orjson.dumps(make.record_erased("3", "e-1")) + b"\n")
    assert node.ingest([path], rejects=tmp_path / "rejects.jsonl").accepted == 1
    made = erasure_table(node)
    sql(node, "UPDATE events SET protected = :p WHERE seq = 3", p=kept)
    assert service.verify_node(node).counts == {"erasure-not-applied": 1}
    assert service.reindex_node(node).rebuilt == {"erasure-not-applied": 1}
    assert fetch(node, sealed) is None
    assert erasure_table(node) == made
    assert service.verify_node(node).clean


def test_a_rebuilt_waiting_erasure_erases_its_event_when_it_comes(
    node: Node, erasures: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    sql(node, "DELETE FROM erasures")
    service.reindex_node(node)
    ingest(node, tmp_path, 99, 1)
    assert erasure_table(node)[2][3:] == (23, "erased")
    assert fetch(node, "SELECT count(*) FROM events WHERE seq = 23 AND protected IS NULL") == 1
    assert service.verify_node(node).clean
