"""``reindex_node`` rebuilds what the audit finds wrong in the derived tables, from the
event rows, on SQLite and PostgreSQL; it refuses when the rows themselves are wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

import factories as make
from cardtrace import service
from cardtrace.domain.events import EVENT_MODELS
from cardtrace.errors import ConfigurationError, TamperDetected
from cardtrace.service import Node
from cardtrace.store import rebuild as rebuild_module
from tampering import fetch, ingest, sql

#: Each derived table as a whole, in an order that does not depend on the backend.
TABLES = {
    "links": "SELECT token, seq, field FROM links UNION ALL SELECT token, seq, field FROM "
    "link_queue ORDER BY 1, 2, 3",
    "ids": "SELECT event_id, seq FROM event_ids UNION ALL SELECT event_id, seq FROM "
    "event_id_queue ORDER BY 1",
    "counts": "SELECT node_id, type, events, first_us, last_us FROM event_counts ORDER BY 1, 2",
}


def tables(node: Node) -> dict[str, list[tuple[Any, ...]]]:
    with node.database.engine.connect() as connection:
        return {
            name: [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in connection.execute(text(query))
            ]
            for name, query in TABLES.items()
        }


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
