"""``verify_node`` finds each kind of tampering, made with raw SQL on SQLite and PostgreSQL.

The log has 20 events and two checkpoints (#1 at size 12, #2 at size 20); each test
alters the database as an attacker with write access would, and checks the audit names
the right event, tile or checkpoint.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import factories as make
from cardtrace import service
from cardtrace.domain.events import CardRecycled
from cardtrace.errors import TamperDetected
from cardtrace.ledger import merkle
from cardtrace.ledger.note import Checkpoint, sign_note
from cardtrace.service import AuditReport, Node
from cardtrace.service.audit import _indexes, _report
from cardtrace.service.ledger import node_signer
from cardtrace.settings import load_settings
from cardtrace.store import checkpoints as records
from tampering import PROTECTED_VALUES, changed, fetch, fetch_rows, ingest, sql


def problems(report: AuditReport, kind: str) -> list[service.Problem]:
    return [problem for problem in report.problems if problem.kind == kind]


#: A row deleted: the kept counts of events by node and type disagree with the rows,
#: and the id and link indexes lead to an event that is not there.
DELETED = frozenset({"count-changed", "id-index", "link-index"})


def only(report: AuditReport, kind: str, *, also: frozenset[str] = frozenset()) -> service.Problem:
    """The one problem of the report of ``kind``; ``also`` the kinds it brings with it."""
    (problem,) = problems(report, kind)
    assert set(report.counts) == {kind, *also}
    return problem


def test_an_untouched_node_is_clean(node: Node, ids: list[str]) -> None:
    report = service.verify_node(node)
    assert report.clean, report.problems
    assert (report.events, report.log_size, report.checkpoints) == (20, 20, 2)


def test_an_audit_tells_its_steps_as_it_goes(node: Node, ids: list[str]) -> None:
    told: list[tuple[str, int, int | None]] = []
    assert service.verify_node(node, lambda *step: told.append(step)).clean
    assert told[0] == ("events", 0, 20)
    assert told[told.index(("events", 20, 20)) + 1 :] == [
        ("counts and id index", 0, None),
        ("erasures", 0, None),
        ("link index", 0, None),
        ("checkpoints", 0, None),
    ]


def test_an_edited_event_row(node: Node, ids: list[str]) -> None:
    leaf = bytes(fetch(node, "SELECT leaf FROM events WHERE seq = 3"))
    edited = leaf.replace(b'"face_value":100', b'"face_value":500')
    assert edited != leaf
    sql(node, "UPDATE events SET leaf = :leaf WHERE seq = 3", leaf=edited)
    report = service.verify_node(node)
    (problem,) = problems(report, "event-edited")
    assert (problem.seq, problem.event_id) == (3, ids[3])
    assert "the event row was edited" in problem.message
    assert {p.checkpoint_id for p in problems(report, "checkpoint-root")} == {1, 2}
    assert set(report.counts) == {"event-edited", "checkpoint-root"}


def test_an_unreadable_first_leaf_is_reported_not_fatal(node: Node, ids: list[str]) -> None:
    # The first leaf names the keys the events were stored under; the next one serves.
    sql(node, "UPDATE events SET leaf = :leaf WHERE seq = 0", leaf=b"\x00 not a leaf")
    report = service.verify_node(node)
    (problem,) = problems(report, "event-edited")
    assert (problem.seq, problem.event_id) == (0, ids[0])


def test_leaves_that_name_no_key_are_refused_in_one_line(node: Node, ids: list[str]) -> None:
    sql(node, "UPDATE events SET leaf = :leaf", leaf=b"[]")
    with pytest.raises(TamperDetected, match="none of the first 16 stored events' leaves"):
        service.verify_node(node)


@pytest.mark.parametrize("leaf", [b"{broken", b"[1]", b'{"type": "card.sold"}'])
def test_a_card_history_through_an_unreadable_leaf_says_so(
    node: Node, ids: list[str], leaf: bytes
) -> None:
    found = orjson.loads(fetch(node, "SELECT leaf FROM events WHERE seq = 6"))
    serial = found["serial"]
    sql(node, "UPDATE events SET leaf = :leaf WHERE seq = 6", leaf=leaf)
    with pytest.raises(TamperDetected, match=r"^the stored event at seq 6 is not a leaf"):
        node.card_history("cmcc", serial=serial)


def test_a_card_history_the_link_index_leads_to_another_cards_event_is_refused(
    node: Node, ids: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "two-cards.jsonl"
    first, second = make.serial(10**15 + 1), make.serial(10**15 + 2)  # the counter's far off
    cards = [
        make.card_sold(f"c-{n}", serial=s, pin=make.pin(n)) for n, s in ((2, first), (3, second))
    ]
    path.write_bytes(b"".join(orjson.dumps(card) + b"\n" for card in cards))
    assert node.ingest([path], rejects=tmp_path / "rejects.jsonl").accepted == 2
    assert [e.seq for e in node.card_history("cmcc", serial=first).events] == [20]
    for table in ("links", "link_queue"):  # card 1's row led to card 2's sale
        sql(node, f"UPDATE {table} SET seq = 21 WHERE seq = 20 AND field = 'card'")  # noqa: S608
    misled = r"^the link index leads this card to the event at seq 21, whose leaf does not"
    with pytest.raises(TamperDetected, match=misled):
        node.card_history("cmcc", serial=first)
    assert service.verify_node(node).counts == {"link-index": 2}


def test_an_edited_column_that_lookups_use(node: Node, ids: list[str]) -> None:
    sql(node, "UPDATE events SET type = 'card.redeemed' WHERE seq = 4")
    report = service.verify_node(node)
    problem = only(report, "row-changed", also=frozenset({"count-changed"}))
    assert (problem.seq, problem.event_id) == (4, ids[4])
    assert (
        "column type says 'card.redeemed', the event's leaf bytes say 'card.sold'"
        in problem.message
    )


def test_sealed_data_moved_from_another_event(node: Node, ids: list[str]) -> None:
    sql(
        node,
        "UPDATE events SET protected = (SELECT protected FROM events WHERE seq = 14) WHERE seq = 9",
    )
    problem = only(service.verify_node(node), "protected-changed")
    assert (problem.seq, problem.event_id) == (9, ids[9])
    assert "fails authentication (altered, or moved from another event)" in problem.message


def test_sealed_data_removed(node: Node, ids: list[str]) -> None:
    sql(node, "UPDATE events SET protected = NULL WHERE seq = 5")
    problem = only(service.verify_node(node), "protected-missing")
    assert (problem.seq, problem.event_id) == (5, ids[5])
    assert "commits to personal fields (payment_account)" in problem.message


def erase(node: Node, folder: Path, *erasures: dict[str, Any]) -> None:
    path = folder / "erasures.jsonl"
    path.write_bytes(b"".join(orjson.dumps(erasure) + b"\n" for erasure in erasures))
    node.ingest([path], rejects=folder / "rejects.jsonl")


def test_an_erased_event_holds_no_sealed_data_and_is_clean(
    node: Node, ids: list[str], tmp_path: Path
) -> None:
    erase(node, tmp_path, make.record_erased("5"))
    assert fetch(node, "SELECT protected FROM events WHERE seq = 5") is None
    report = service.verify_node(node)
    assert report.clean, report.problems


def test_sealed_data_removed_where_another_node_recorded_an_erasure(
    node: Node, ids: list[str], tmp_path: Path
) -> None:
    erase(node, tmp_path, make.record_erased("5", node="shop-b", target_node="shop-a"))
    sql(node, "UPDATE events SET protected = NULL WHERE seq = 5")
    problem = only(service.verify_node(node), "protected-missing")
    assert (problem.seq, problem.event_id) == (5, ids[5])
    assert "the log holds no erasure of it by its node" in problem.message


def test_sealed_data_put_back_after_its_erasure(node: Node, ids: list[str], tmp_path: Path) -> None:
    sealed = bytes(fetch(node, "SELECT protected FROM events WHERE seq = 7"))
    erase(node, tmp_path, make.record_erased("7"))
    sql(node, "UPDATE events SET protected = :sealed WHERE seq = 7", sealed=sealed)
    problem = only(service.verify_node(node), "erasure-not-applied")
    assert (problem.seq, problem.event_id) == (7, ids[7])
    assert "(record.erased, seq 20) and its sealed personal data is still stored" in (
        problem.message
    )


def test_sealed_data_resealed_with_another_value(node: Node, ids: list[str]) -> None:
    """Whoever holds the vault key can reseal; the leaf's commitment still tells."""
    from cardtrace.crypto.vault import Vault

    vault = Vault(node.protection_keys_for(node.database).vault_key)
    blob = bytes(fetch(node, "SELECT protected FROM events WHERE seq = 6"))
    sealed = orjson.loads(vault.open(blob, ids[6]))
    sealed["payment_account"]["value"] = "bank:6222020200112233445"
    sql(
        node,
        "UPDATE events SET protected = :blob WHERE seq = 6",
        blob=vault.seal(orjson.dumps(sealed), ids[6]),
    )
    problem = only(service.verify_node(node), "protected-changed")
    assert "sealed values of payment_account do not match the leaf's commitments" in (
        problem.message
    )


def test_a_changed_content_digest(node: Node, ids: list[str]) -> None:
    sql(node, "UPDATE events SET content = :digest WHERE seq = 12", digest=bytes(16))
    problem = only(service.verify_node(node), "content-changed")
    assert (problem.seq, problem.event_id) == (12, ids[12])


@pytest.mark.parametrize("moved", [False, True], ids=["deleted", "moved"])
def test_an_edited_id_index(node: Node, ids: list[str], *, moved: bool) -> None:
    statement = "UPDATE {} SET seq = 2 WHERE seq = 13" if moved else "DELETE FROM {} WHERE seq = 13"
    for table in ("event_ids", "event_id_queue"):  # merged or still queued
        sql(node, statement.format(table))
    report = service.verify_node(node)
    found = problems(report, "id-index")
    assert report.counts == {"id-index": len(found)}
    assert (found[0].seq, found[0].event_id) == (13, ids[13])
    assert found[0].message == (
        f"event seq 13 (id {ids[13]}) is missing from the id index: a re-send of it would "
        "be stored a second time"
    )
    if moved:
        assert (found[1].seq, found[1].event_id) == (2, None)
        assert found[1].message == (
            f"the id index leads id {ids[13]} to seq 2, where no event has that id: a "
            "re-send of that event would be taken as already stored"
        )
    assert len(found) == 1 + moved


def test_an_id_both_merged_and_queued(node: Node, ids: list[str]) -> None:
    sql(node, "DELETE FROM event_id_queue")
    sql(node, "INSERT INTO event_id_queue (event_id, seq) SELECT event_id, seq FROM event_ids")
    sql(node, "DELETE FROM event_id_queue WHERE seq <> 5")
    problem = only(service.verify_node(node), "id-index")
    assert (problem.seq, problem.event_id) == (5, None)
    assert problem.message == (
        f"the id index holds id {ids[5]} (seq 5) twice, merged and queued: the next merge "
        "of its queue would fail"
    )


def test_id_index_problems_beyond_those_kept_are_counted(
    node: Node, ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_report, "MAX_PER_KIND", 3)
    for table in ("event_ids", "event_id_queue"):
        sql(node, f"UPDATE {table} SET seq = seq + 100 WHERE seq < 5")  # noqa: S608
    report = service.verify_node(node)
    assert report.counts == {"id-index": 10}  # five events unindexed, five rows astray
    assert [problem.seq for problem in problems(report, "id-index")] == [0, 1, 2]


#: What the link index lacks and holds beyond an event's leaf, as the audit says it.
LACKS_CARD = "the link index lacks 1 row (card) its leaf makes, so a lookup by it misses"
HOLDS = "holds 1 row ({}) its leaf does not make, so a lookup by it finds the event where"


@pytest.mark.parametrize(
    ("statement", "found"),
    [
        ("DELETE FROM {} WHERE seq = 4 AND field = 'card'", {4: [LACKS_CARD]}),
        (  # moved to another event
            "UPDATE {} SET seq = 9 WHERE seq = 4 AND field = 'card'",
            {4: [LACKS_CARD], 9: ["the link index " + HOLDS.format("card")]},
        ),
        (
            "UPDATE {} SET field = 'merchant_id' WHERE seq = 4 AND field = 'card'",
            {4: [LACKS_CARD, "; and it " + HOLDS.format("merchant_id")]},
        ),
        (  # ties event 4 to event 7's card
            "INSERT INTO {0} (token, seq, field) "
            "SELECT token, 4, field FROM {0} WHERE seq = 7 AND field = 'card'",
            {4: ["the link index " + HOLDS.format("card")]},
        ),
    ],
    ids=["deleted", "moved", "relabelled", "inserted"],
)
@pytest.mark.parametrize("table", ["links", "link_queue"])
def test_an_edited_link_index(
    node: Node, ids: list[str], statement: str, found: dict[int, list[str]], table: str
) -> None:
    if table == "link_queue":  # rows not merged yet, as an ingest stopped before its end
        sql(node, "INSERT INTO link_queue (token, seq, field) SELECT token, seq, field FROM links")
        sql(node, "DELETE FROM links")
    # card, PIN, merchant and payment account: four links an event, 80 for the 20
    assert fetch(node, f"SELECT count(*) FROM {table} WHERE seq = 4") == 4  # noqa: S608
    sql(node, statement.format(table))
    report = service.verify_node(node)
    assert report.counts == {"link-index": len(found)}
    reported = problems(report, "link-index")
    assert [problem.seq for problem in reported] == list(found)
    for problem, (seq, parts) in zip(reported, found.items(), strict=True):
        assert problem.event_id == ids[seq]
        assert problem.message.startswith(f"event seq {seq} (id {ids[seq]}): ")
        for part in parts:
            assert part in problem.message


def test_link_rows_of_a_deleted_event(node: Node, ids: list[str]) -> None:
    sql(node, "DELETE FROM events WHERE seq = 6")
    problem = only(service.verify_node(node), "link-index", also=DELETED | {"event-missing"})
    assert (problem.seq, problem.event_id) == (6, None)
    assert problem.message == (
        "seq 6, where no event is stored: the link index holds 4 rows (card, merchant_id, "
        "payment_account, pin), so a lookup by them finds an event that is not there"
    )


def test_link_ranges_beyond_the_first_that_differ_are_reported_as_ranges(
    node: Node, ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_indexes, "_LINK_RANGE", 4)  # five ranges of the 20 events
    monkeypatch.setattr(_indexes, "_NARROWED", 2)
    sql(node, "DELETE FROM links WHERE field = 'pin' AND seq IN (1, 2, 5, 9, 13, 17)")
    report = service.verify_node(node)
    assert report.counts == {"link-index": 6}  # three events, then three ranges
    reported = problems(report, "link-index")
    assert [problem.seq for problem in reported] == [1, 2, 5, 8, 12, 16]
    assert all("lacks 1 row (pin)" in problem.message for problem in reported[:3])
    assert reported[3].message.startswith(
        "events seq 8 to 11: the link index holds 15 rows where their leaves make 16;"
    )
    assert reported[5].message.endswith(
        "(only the first 2 ranges that differ are narrowed down to events)"
    )


def test_link_problems_beyond_those_kept_are_counted(
    node: Node, ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_report, "MAX_PER_KIND", 3)
    sql(node, "DELETE FROM links WHERE field = 'pin' AND seq < 10")
    report = service.verify_node(node)
    assert report.counts == {"link-index": 10}
    assert [problem.seq for problem in problems(report, "link-index")] == [0, 1, 2]


def test_a_link_row_edited_to_other_bytes_of_the_same_text_hashes_apart() -> None:
    # A NUL moved between token and field keeps the bytes "card\0" + token the same.
    token = bytes(range(16))
    rows = [(b"\x00" + token, "card"), (token, "card\x00")]
    assert len({_indexes._link_hash(t, b"4\x00", name) for t, name in rows}) == 2


def test_the_link_index_of_every_kind_of_event_is_what_its_leaf_makes(
    node: Node, tmp_path: Path
) -> None:
    path = tmp_path / "kinds.jsonl"
    records = [
        make.card_sold(payment_method="alipay", payment_account="alipay:2088000000000001"),
        make.card_recycled(),
        make.card_redeemed(),
        make.usage_summarized(),
        make.record_erased("r-1", "e-1", node="shop-b"),
    ]
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    assert node.ingest([path], rejects=tmp_path / "rejects.jsonl").accepted == len(records)
    fields = fetch(node, "SELECT count(DISTINCT field) FROM links")
    assert fields >= 8  # cards, parties and personal links, not only cards
    assert service.verify_node(node).clean
    sql(node, "DELETE FROM links WHERE field = 'seller_msisdn'")
    assert set(service.verify_node(node).counts) == {"link-index"}


def test_changed_event_counts(node: Node, ids: list[str]) -> None:
    sql(node, "UPDATE event_counts SET events = events + 3")
    report = service.verify_node(node)
    problem = only(report, "count-changed")
    assert problem.message == (
        "event_counts says 23 events of type card.sold from node shop-a; the event rows hold 20"
    )


def test_a_changed_span_of_times_in_event_counts(node: Node, ids: list[str]) -> None:
    sql(node, "UPDATE event_counts SET last_us = last_us + 86400000000")  # a day later
    report = service.verify_node(node)
    problem = only(report, "count-changed")
    assert problem.message == (
        "event_counts says the events of type card.sold from node shop-a occurred from "
        "2025-03-01T02:00:00.000000Z to 2025-03-02T02:00:00.000000Z; the event rows span "
        "2025-03-01T02:00:00.000000Z to 2025-03-01T02:00:00.000000Z"
    )


def test_personal_data_kept_in_a_clear_field_by_an_older_ingest(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ingest refuses such a record now; one stored before it did is found by the audit.
    monkeypatch.setattr(CardRecycled, "refusal", lambda *_: None)
    path = tmp_path / "leak.jsonl"
    path.write_bytes(orjson.dumps(make.card_recycled(source_id="R-13800138000")) + b"\n")
    assert node.ingest([path], rejects=tmp_path / "rejects.jsonl").accepted == 1
    problem = only(service.verify_node(node), "personal-in-clear")
    assert problem.seq == 0
    assert problem.message.endswith(
        "the leaf's source_id holds the event's seller_msisdn, personal data kept only "
        "sealed: it stays in clear in the ledger for good (stored before ingest refused "
        "such records)"
    )


def test_a_deleted_row(node: Node, ids: list[str]) -> None:
    sql(node, "DELETE FROM events WHERE seq = 5")
    report = service.verify_node(node)
    problem = only(report, "event-missing", also=DELETED)
    assert problem.seq == 5
    assert "events seq 5 to 5 are missing" in problem.message


def test_an_inserted_row(node: Node, ids: list[str]) -> None:
    sql(
        node,
        "INSERT INTO events (seq, event_id, node_id, type, occurred_us, leaf) "
        "SELECT 20, :event_id, node_id, type, occurred_us, leaf FROM events WHERE seq = 2",
        event_id=bytes(16),
    )
    report = service.verify_node(node)
    (problem,) = problems(report, "event-extra")
    assert problem.seq == 20
    assert "lies outside the log of 20 leaves" in problem.message
    assert "event-extra" in report.counts


def test_reordered_rows(node: Node, ids: list[str]) -> None:
    sql(node, "UPDATE events SET seq = -1 WHERE seq = 6")
    sql(node, "UPDATE events SET seq = 6 WHERE seq = 7")
    sql(node, "UPDATE events SET seq = 7 WHERE seq = -1")
    report = service.verify_node(node)
    moved = problems(report, "event-moved")
    assert [(p.seq, p.event_id) for p in moved] == [(6, ids[7]), (7, ids[6])]
    assert "its bytes are those of leaf 7, not of leaf 6" in moved[0].message
    # Each id now leads to the other's row.
    assert set(report.counts) == {"event-moved", "checkpoint-root", "id-index"}


def test_rows_deleted_from_the_end(node: Node, ids: list[str]) -> None:
    sql(node, "DELETE FROM events WHERE seq >= 15")
    report = service.verify_node(node)
    (problem,) = problems(report, "event-missing")
    assert "events seq 15 to 19 are missing" in problem.message
    assert "truncated" in problem.message


def test_a_log_truncated_with_its_tiles_and_state(node: Node, ids: list[str]) -> None:
    leaves = [bytes(fetch(node, "SELECT leaf FROM events WHERE seq = :s", s=s)) for s in range(12)]
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    edge = merkle.root_hash(hashes[:8]) + merkle.root_hash(hashes[8:12])
    sql(node, "DELETE FROM events WHERE seq >= 12")
    sql(node, "UPDATE ledger_state SET size = 12, state = :state", state=edge)
    sql(node, "UPDATE ledger_tiles SET data = :data WHERE level = 0", data=b"".join(hashes))
    report = service.verify_node(node)
    problem = only(report, "log-truncated", also=DELETED)
    assert problem.checkpoint_id == 2
    assert "larger than the log, which now has 12 leaves" in problem.message


def test_a_replaced_leaf_in_the_tiles(node: Node, ids: list[str]) -> None:
    tile = bytearray(fetch(node, "SELECT data FROM ledger_tiles WHERE level = 0 AND idx = 0"))
    tile[3 * 32 : 4 * 32] = hashlib.sha256(b"another event").digest()
    sql(node, "UPDATE ledger_tiles SET data = :data WHERE level = 0 AND idx = 0", data=bytes(tile))
    report = service.verify_node(node)
    (problem,) = problems(report, "leaf-replaced")
    assert (problem.seq, problem.event_id) == (3, ids[3])
    assert "the tiles' leaf was replaced" in problem.message
    # the root of size 12 is read from the tiles (size 20's from the state row)
    assert {p.checkpoint_id for p in problems(report, "checkpoint-tiles")} == {1}
    assert "checkpoint-root" not in report.counts  # the events still give the signed roots


def test_a_replaced_upper_tile(node: Node, tmp_path: Path) -> None:
    ingest(node, tmp_path, 0, 300)
    service.make_checkpoint(node)
    sql(node, "UPDATE ledger_tiles SET data = :data WHERE level = 1", data=bytes(32))
    report = service.verify_node(node)
    problem = only(report, "tile-changed")
    assert "ledger tile (1, 0) differs" in problem.message


def add_signed_checkpoint(node: Node, size: int, root: bytes) -> None:
    """A checkpoint row validly signed by the node, for a tree it never had."""
    signer = node_signer(node)
    note = sign_note(Checkpoint(signer.name, size, root).format(), [signer])
    sql(
        node,
        "INSERT INTO checkpoints (size, root, note, created_at) "
        "VALUES (:size, :root, :note, '2030-01-01T00:00:00.000000Z')",
        size=size,
        root=root,
        note=note,
    )


def test_two_checkpoints_of_one_size_are_a_fork(node: Node, ids: list[str]) -> None:
    add_signed_checkpoint(node, 12, hashlib.sha256(b"another tree").digest())
    report = service.verify_node(node)
    (problem,) = problems(report, "fork")
    assert "checkpoints #1 (size 12) and #3 (size 12)" in problem.message
    assert problem.checkpoint_id == 3
    assert [p.checkpoint_id for p in problems(report, "checkpoint-root")] == [3]


def test_a_checkpoint_whose_signature_fails(node: Node, ids: list[str]) -> None:
    note = str(fetch(node, "SELECT note FROM checkpoints WHERE id = 1"))
    text_part, signature = note.split("\n\n")
    body = signature.split(" ")[-1]
    forged = (
        text_part
        + "\n\n"
        + signature.replace(body, body[:10] + ("A" if body[10] != "A" else "B") + body[11:])
    )
    sql(node, "UPDATE checkpoints SET note = :note WHERE id = 1", note=forged)
    report = service.verify_node(node)
    problem = only(report, "checkpoint-signature")
    assert problem.checkpoint_id == 1
    assert "invalid signature" in problem.message


def test_a_checkpoint_row_that_disagrees_with_its_note(node: Node, ids: list[str]) -> None:
    sql(node, "UPDATE checkpoints SET size = 11 WHERE id = 1")
    report = service.verify_node(node)
    (problem,) = problems(report, "checkpoint-row")
    assert problem.checkpoint_id == 1


def test_a_consistency_proof_that_fails(node: Node, ids: list[str]) -> None:
    unrelated = merkle.root_hash([merkle.leaf_hash(b"%d" % n) for n in range(5)])
    add_signed_checkpoint(node, 5, unrelated)
    report = service.verify_node(node)
    (problem,) = problems(report, "consistency")
    assert "checkpoints #3 (size 5) and #1 (size 12)" in problem.message
    assert "consistency proof fails: root mismatch" in problem.message


def test_problems_beyond_the_cap_are_counted_not_kept(node: Node, tmp_path: Path) -> None:
    ingest(node, tmp_path, 0, 80)
    sql(node, "UPDATE events SET node_id = 'someone-else'")
    report = service.verify_node(node)
    assert report.counts == {"row-changed": 80, "count-changed": 2}
    assert len(problems(report, "row-changed")) == 50


def test_event_leaves_stream_in_log_order_page_by_page(node: Node, ids: list[str]) -> None:
    with records.snapshot(node.database) as connection:
        rows = list(records.stream_event_leaves(connection, page=7))
    assert [row.seq for row in rows] == list(range(20))


def test_a_stored_cosignature_that_no_longer_verifies(
    node: Node, ids: list[str], tmp_path: Path
) -> None:
    witness_settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'w.db'}", key_dir=tmp_path / "w", node_id="w"
    )
    with Node(witness_settings) as witness:
        request = service.consistency_request(node, 0)
        line = service.witness(witness, request, service.verifier_key(node)).line
        witness_key = service.verifier_key(witness, witness=True)
    trusting_settings = node.settings.model_copy(update={"witness_keys": [witness_key]})
    with Node(trusting_settings) as trusting:
        service.add_cosignatures(trusting, line.encode())
        assert service.verify_node(trusting).clean
        forged = line[:-8] + ("A" if line[-8] != "A" else "B") + line[-7:]
        sql(trusting, "UPDATE cosignatures SET line = :line", line=forged)
        report = service.verify_node(trusting)
    (problem,) = problems(report, "cosignature")
    assert problem.checkpoint_id == 2
    assert "by cardtrace/w/witness does not verify" in problem.message
    assert service.verify_node(node).clean  # without w's key nothing to judge it by


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(target=st.sampled_from(PROTECTED_VALUES), pick=st.integers(0, 10_000), change=st.integers())
def test_any_change_of_a_value_the_log_protects_is_found(
    node: Node, ids: list[str], target: tuple[str, str, tuple[str, ...]], pick: int, change: int
) -> None:
    table, column, keys = target
    order = ", ".join(keys)
    rows = fetch_rows(node, f"SELECT {order}, {column} FROM {table} ORDER BY {order}")  # noqa: S608
    *key, value = rows[pick % len(rows)]
    assume(value is not None)  # an event with no personal data has nothing sealed
    where = " AND ".join(f"{name} = :key{n}" for n, name in enumerate(keys))
    update = f"UPDATE {table} SET {column} = :value WHERE {where}"  # noqa: S608
    named = {f"key{n}": part for n, part in enumerate(key)}
    sql(node, update, value=changed(value, change), **named)
    try:
        assert not service.verify_node(node).clean
    finally:
        sql(node, update, value=value, **named)  # the next example starts from the log
    assert service.verify_node(node).clean


def test_no_event_is_added_to_a_log_whose_state_was_edited(
    node: Node, ids: list[str], tmp_path: Path
) -> None:
    state = bytes(fetch(node, "SELECT state FROM ledger_state"))
    sql(node, "UPDATE ledger_state SET state = :s", s=bytes([state[0] ^ 1]) + state[1:])
    with pytest.raises(TamperDetected, match="the log was altered, so nothing is added to it"):
        ingest(node, tmp_path, 20, 5)
    assert node.database.count() == 20
