"""The ledger services against SQLite and a real PostgreSQL: checkpoints, bundles, witnessing."""

from __future__ import annotations

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
from cardtrace.ledger.note import Verifier, open_note, parse_checkpoint
from cardtrace.service import Node
from cardtrace.settings import load_settings


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
    with pytest.raises(TamperDetected):
        service.make_checkpoint(node)
