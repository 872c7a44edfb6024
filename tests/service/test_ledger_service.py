"""The ledger services against SQLite and a real PostgreSQL: checkpoints, bundles, witnessing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

import factories as make
from cardtrace import service
from cardtrace.domain.events import event_uuid_for
from cardtrace.errors import InvalidInput, NotFound, TamperDetected
from cardtrace.ledger.bundle import dump_bundle
from cardtrace.ledger.note import (
    Checkpoint,
    Verifier,
    open_note,
    parse_checkpoint,
    sign_note,
    verify_cosignature,
)
from cardtrace.service import Node
from cardtrace.service.ledger import node_signer
from cardtrace.service.witness import WitnessRequest, dump_request, load_request
from cardtrace.settings import load_settings
from tampering import fetch, sql


def open_node(database_url: str, folder: Path, **settings: Any) -> Node:
    values: dict[str, Any] = {
        "database_url": database_url,
        "key_dir": folder / "keys",
        "environment": "development",
        **settings,
    }
    return Node(load_settings(**values))


@pytest.fixture
def node(database_url: str, tmp_path: Path) -> Iterator[Node]:
    with open_node(database_url, tmp_path) as opened:
        yield opened


def ingest(node: Node, folder: Path, first: int, count: int) -> list[str]:
    """Store ``count`` card sales with source ids ``first...``; return their event ids."""
    path = folder / f"events-{first}.jsonl"
    sources = [str(n) for n in range(first, first + count)]
    path.write_bytes(b"".join(orjson.dumps(make.card_sold(source_id=s)) + b"\n" for s in sources))
    summary = node.ingest([path], rejects=folder / "rejects.jsonl")
    assert summary.accepted == count
    return [str(event_uuid_for("shop-a", source)) for source in sources]


def test_a_checkpoint_needs_events(node: Node) -> None:
    node.open_database(create=True)  # a database whose log is empty
    with pytest.raises(InvalidInput, match="empty"):
        service.make_checkpoint(node)


def test_checkpoint_is_a_signed_note_of_the_current_tree(node: Node, tmp_path: Path) -> None:
    ingest(node, tmp_path, 1, 5)
    info, fresh = service.make_checkpoint(node)
    assert fresh
    text, names = open_note(info.note, [Verifier.from_vkey(service.verifier_key(node))])
    assert names == ["cardtrace/local"]
    checkpoint = parse_checkpoint(text)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (
        "cardtrace/local",
        5,
        info.root,
    )
    again, fresh = service.make_checkpoint(node)
    assert (again.id, again.note, fresh) == (info.id, info.note, False)
    ingest(node, tmp_path, 6, 2)
    grown, fresh = service.make_checkpoint(node)
    assert (grown.size, fresh) == (7, True)
    assert [c.size for c in service.list_checkpoints(node)] == [5, 7]


def test_origin_setting_names_the_log_and_its_key(database_url: str, tmp_path: Path) -> None:
    with open_node(database_url, tmp_path, origin="shop.example/a") as node:
        ingest(node, tmp_path, 1, 1)
        info, _ = service.make_checkpoint(node)
        assert info.note.startswith("shop.example/a\n1\n")
        assert service.verifier_key(node).startswith("shop.example/a+")
        assert service.verifier_key(node, witness=True).startswith("shop.example/a/witness+")


def test_prove_gives_a_bundle_that_verifies_offline(node: Node, tmp_path: Path) -> None:
    ids = ingest(node, tmp_path, 1, 9)
    service.make_checkpoint(node)
    bundle = service.prove(node, ids[4])
    assert (bundle.leaf_index, bundle.tree_size) == (4, 9)
    assert orjson.loads(bundle.event)["event_id"] == ids[4]
    _, report = service.verify_bundle_file(dump_bundle(bundle), [service.verifier_key(node)])
    assert report.valid


def test_prove_uses_the_latest_checkpoint_covering_the_event(node: Node, tmp_path: Path) -> None:
    ids = ingest(node, tmp_path, 1, 3)
    service.make_checkpoint(node)
    ids += ingest(node, tmp_path, 4, 3)
    with pytest.raises(NotFound, match="cardtrace checkpoint"):
        service.prove(node, ids[4])
    assert service.prove(node, ids[0]).tree_size == 3
    service.make_checkpoint(node)
    assert service.prove(node, ids[0]).tree_size == 6


def test_prove_refuses_unknown_and_malformed_ids(node: Node, tmp_path: Path) -> None:
    ingest(node, tmp_path, 1, 1)
    service.make_checkpoint(node)
    with pytest.raises(InvalidInput, match="not a UUID"):
        service.prove(node, "event-1")
    with pytest.raises(NotFound):
        service.prove(node, "00000000-0000-0000-0000-000000000000")


def test_prove_refuses_an_id_the_index_leads_to_another_event(node: Node, tmp_path: Path) -> None:
    """Its bundle would be one of another event, valid and handed out as this one's."""
    ids = ingest(node, tmp_path, 1, 5)
    service.make_checkpoint(node)
    for table in ("event_ids", "event_id_queue"):
        sql(node, f"UPDATE {table} SET seq = 4 WHERE seq = 2")  # noqa: S608
    with pytest.raises(TamperDetected, match=r"^the id index leads this id to the event at seq 4"):
        service.prove(node, ids[2])
    assert orjson.loads(service.prove(node, ids[4]).event)["event_id"] == ids[4]


def test_a_bundle_checked_with_another_nodes_key_fails(
    node: Node, database_url: str, tmp_path: Path
) -> None:
    ids = ingest(node, tmp_path, 1, 2)
    service.make_checkpoint(node)
    data = dump_bundle(service.prove(node, ids[0]))
    with open_node(database_url, tmp_path / "other") as other:
        stranger = service.verifier_key(other)
    _, report = service.verify_bundle_file(data, [stranger])
    assert not report.valid
    assert report.failures[0].name == "checkpoint signature"


def test_keys_of_the_wrong_kind_are_refused(node: Node, tmp_path: Path) -> None:
    ids = ingest(node, tmp_path, 1, 1)
    service.make_checkpoint(node)
    data = dump_bundle(service.prove(node, ids[0]))
    note_key, witness_key = service.verifier_key(node), service.verifier_key(node, witness=True)
    with pytest.raises(InvalidInput, match="cosignature"):
        service.verify_bundle_file(data, [witness_key])
    with pytest.raises(InvalidInput, match="note signature"):
        service.verify_bundle_file(data, [note_key], [note_key])
    with pytest.raises(InvalidInput, match="--key"):
        service.verify_bundle_file(data, [])
    name, key_id, material = note_key.split("+", 2)
    wrong_id = f"{name}+{int(key_id, 16) ^ 1:08x}+{material}"
    with pytest.raises(InvalidInput, match="key ID does not match"):
        service.verify_bundle_file(data, [wrong_id])


def test_a_tampered_bundle_never_verifies(node: Node, tmp_path: Path) -> None:
    ids = ingest(node, tmp_path, 1, 4)
    service.make_checkpoint(node)
    bundle = service.prove(node, ids[1])
    key = [service.verifier_key(node)]
    forged = dump_bundle(replace(bundle, event=service.prove(node, ids[2]).event))
    _, report = service.verify_bundle_file(forged, key)
    assert not report.valid
    assert [check.name for check in report.failures] == ["inclusion"]
    with pytest.raises(InvalidInput):
        service.verify_bundle_file(dump_bundle(bundle)[:-5], key)


def test_a_truncated_log_is_not_signed(node: Node, tmp_path: Path) -> None:
    ingest(node, tmp_path, 1, 3)
    service.make_checkpoint(node)
    with node.database.transaction() as connection:
        connection.exec_driver_sql("UPDATE ledger_state SET size = 2, state = substr(state, 1, 32)")
    with pytest.raises(TamperDetected, match="the log was altered, so no checkpoint is signed"):
        service.make_checkpoint(node)


def test_a_log_whose_state_was_edited_is_not_signed(node: Node, tmp_path: Path) -> None:
    ingest(node, tmp_path, 1, 3)
    state = bytes(fetch(node, "SELECT state FROM ledger_state"))
    sql(node, "UPDATE ledger_state SET state = :s", s=bytes([state[0] ^ 1]) + state[1:])
    message = (
        "ledger state does not match its tiles at size 3: the log was altered, "
        "so no checkpoint is signed (run 'cardtrace verify')"
    )
    with pytest.raises(TamperDetected, match=re.escape(message)):
        service.make_checkpoint(node)
    assert service.list_checkpoints(node) == []


# --- witnessing -----------------------------------------------------------------------------


@pytest.fixture
def other(tmp_path: Path) -> Iterator[Node]:
    """A second node with its own SQLite database and keys."""
    folder = tmp_path / "other"
    folder.mkdir()
    with open_node(f"sqlite:///{folder / 'other.db'}", folder, node_id="other") as opened:
        yield opened


def test_a_witness_cosigns_only_what_extends_its_last_cosigned_checkpoint(
    node: Node, other: Node, tmp_path: Path
) -> None:
    origin_key = service.verifier_key(other)
    ingest(other, tmp_path, 1, 5)
    service.make_checkpoint(other)
    first = service.witness(node, service.consistency_request(other, 0), origin_key, now=1000)
    assert (first.origin, first.old_size, first.size) == ("cardtrace/other", 0, 5)
    cosigner = Verifier.from_vkey(service.verifier_key(node, witness=True))
    checkpoint_text = Checkpoint("cardtrace/other", 5, first.root).format()
    assert verify_cosignature(checkpoint_text, first.line, cosigner) == 1000
    ingest(other, tmp_path, 6, 3)
    service.make_checkpoint(other)
    with pytest.raises(service.StaleCheckpoint, match="--from 5") as stale:
        service.witness(node, service.consistency_request(other, 0), origin_key)
    assert stale.value.witness_size == 5
    second = service.witness(node, service.consistency_request(other, 5), origin_key)
    assert (second.old_size, second.size) == (5, 8)
    again = service.witness(node, service.consistency_request(other, 8), origin_key)
    assert again.size == 8  # the same checkpoint may be cosigned again


def test_a_witness_refuses_a_rollback_and_a_fork(node: Node, other: Node, tmp_path: Path) -> None:
    origin_key = service.verifier_key(other)
    ingest(other, tmp_path, 1, 5)
    service.make_checkpoint(other)
    old_note = service.list_checkpoints(other)[0].note
    ingest(other, tmp_path, 6, 3)
    service.make_checkpoint(other)
    service.witness(node, service.consistency_request(other, 0), origin_key)
    rollback = dump_request(WitnessRequest(8, (), old_note))
    with pytest.raises(service.StaleCheckpoint, match="already cosigned cardtrace/other at size 8"):
        service.witness(node, rollback, origin_key)
    signer = node_signer(other)
    forked = sign_note(Checkpoint(signer.name, 8, bytes(32)).format(), [signer])
    with pytest.raises(TamperDetected, match="forked"):
        service.witness(node, dump_request(WitnessRequest(8, (), forked)), origin_key)
    ingest(other, tmp_path, 9, 2)
    grown, _ = service.make_checkpoint(other)
    proof = load_request(service.consistency_request(other, 8)).proof
    wrong_tree = sign_note(Checkpoint(signer.name, 10, bytes(32)).format(), [signer])
    with pytest.raises(TamperDetected, match="not consistent with size 8"):
        service.witness(node, dump_request(WitnessRequest(8, proof, wrong_tree)), origin_key)
    with pytest.raises(TamperDetected, match="wrong proof length"):
        service.witness(node, dump_request(WitnessRequest(8, proof[:-1], grown.note)), origin_key)
    assert service.witness(node, service.consistency_request(other, 8), origin_key).size == 10


def test_a_witness_checks_the_origin_key(node: Node, other: Node, tmp_path: Path) -> None:
    ingest(other, tmp_path, 1, 2)
    service.make_checkpoint(other)
    request = service.consistency_request(other, 0)
    with pytest.raises(TamperDetected, match="no valid signature from a known key"):
        service.witness(node, request, service.verifier_key(node))
    with pytest.raises(InvalidInput, match="--origin-key"):
        service.witness(node, request, service.verifier_key(other, witness=True))
    signer = node_signer(other)
    impostor = sign_note(Checkpoint("cardtrace/local", 2, bytes(32)).format(), [signer])
    with pytest.raises(InvalidInput, match="is not the key's name"):
        service.witness(
            node, dump_request(WitnessRequest(0, (), impostor)), service.verifier_key(other)
        )


@pytest.mark.parametrize(
    ("request_bytes", "message"),
    [
        (b"old 01\n\nx", "line 1: expected 'old <size>'"),
        (b"old -1\n\nx", "line 1"),
        (b"old 5\nAAAA\n\nx", "line 2: 3 bytes, not 32"),
        (b"old 5\nnot base64!\n\nx", "line 2: not canonical base64"),
        (b"old 0\n", "no blank line"),
        (b"\xff\n\n", "not UTF-8"),
        (b"old 0\n\ncardtrace/other\n1\n", "note"),
    ],
)
def test_malformed_witness_requests_are_refused(
    node: Node, request_bytes: bytes, message: str
) -> None:
    key = Verifier("cardtrace/other", bytes(32)).vkey()
    with pytest.raises(InvalidInput, match=message):
        service.witness(node, request_bytes, key)


def test_consistency_request_needs_a_checkpoint_and_a_size_within_it(
    node: Node, tmp_path: Path
) -> None:
    node.open_database(create=True)
    with pytest.raises(NotFound, match="cardtrace checkpoint"):
        service.consistency_request(node, 0)
    ingest(node, tmp_path, 1, 3)
    service.make_checkpoint(node)
    with pytest.raises(InvalidInput, match="between 0 and"):
        service.consistency_request(node, 4)
    assert load_request(service.consistency_request(node, 3)).proof == ()


def test_cosignatures_make_a_checkpoint_witnessed_and_travel_in_bundles(
    node: Node, other: Node, database_url: str, tmp_path: Path
) -> None:
    ids = ingest(node, tmp_path, 1, 4)
    service.make_checkpoint(node)
    line = service.witness(other, service.consistency_request(node, 0), service.verifier_key(node))
    with pytest.raises(InvalidInput, match="not a trusted witness key"):
        service.add_cosignatures(node, line.line.encode())
    witness_key = service.verifier_key(other, witness=True)
    with open_node(database_url, tmp_path, witness_keys=[witness_key]) as trusting:
        (added,) = service.add_cosignatures(trusting, line.line.encode() + b"\n")
        assert (added.checkpoint_id, added.size, added.stored) == (1, 4, True)
        assert not service.add_cosignatures(trusting, line.line.encode())[0].stored
        (info,) = service.list_checkpoints(trusting)
        assert (info.cosigned_by, info.witnessed) == (("cardtrace/other/witness",), True)
        bundle = service.prove(trusting, ids[0])
        assert bundle.cosignatures == (line.line,)
        _, report = service.verify_bundle_file(
            dump_bundle(bundle), [service.verifier_key(node)], [witness_key], min_witnesses=1
        )
        assert report.valid
        forged = line.line[:-8] + ("A" if line.line[-8] != "A" else "B") + line.line[-7:]
        with pytest.raises(TamperDetected, match="does not verify over any checkpoint"):
            service.add_cosignatures(trusting, forged.encode())
    two = [witness_key, service.verifier_key(node, witness=True)]  # one of them cosigned
    with open_node(database_url, tmp_path, witness_keys=two, witness_quorum=2) as strict:
        assert not service.list_checkpoints(strict)[0].witnessed
    with (
        open_node(database_url, tmp_path, witness_keys=["nonsense"]) as misconfigured,
        pytest.raises(InvalidInput, match=r"CARDTRACE_WITNESS_KEYS\[0\]"),
    ):
        service.list_checkpoints(misconfigured)
