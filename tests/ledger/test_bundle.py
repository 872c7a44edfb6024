"""Evidence bundles: strict loading and offline verification."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardtrace.errors import InvalidInput
from cardtrace.ledger.bundle import Bundle, dump_bundle, load_bundle, verify_bundle
from cardtrace.ledger.merkle import inclusion_proof, leaf_hash, root_hash
from cardtrace.ledger.note import Checkpoint, Signer, cosign, sign_note, split_note

EVENTS = [b'{"event_id":"e-%d","type":"card.recycled"}' % i for i in range(11)]
NODE = Signer("node.example/shop-42", bytes([1]) * 32)
WITNESSES = [Signer(f"witness.example/w{i}", bytes([10 + i]) * 32) for i in range(2)]
WITNESS_KEYS = [w.cosigner_verifier() for w in WITNESSES]


def make_bundle(index: int = 6, size: int = 11, signer: Signer = NODE) -> Bundle:
    hashes = [leaf_hash(e) for e in EVENTS[:size]]
    text = Checkpoint("node.example/shop-42", size, root_hash(hashes)).format()
    return Bundle(
        event=EVENTS[index],
        leaf_index=index,
        tree_size=size,
        inclusion_proof=tuple(inclusion_proof(hashes, index)),
        checkpoint=sign_note(text, [signer]),
        cosignatures=tuple(cosign(text, w, 1_790_000_000 + n) for n, w in enumerate(WITNESSES)),
    )


def statuses(bundle: Bundle, **kwargs: Any) -> dict[str, str]:
    kwargs.setdefault("witness_verifiers", WITNESS_KEYS)
    report = verify_bundle(bundle, [NODE.verifier()], **kwargs)
    return {c.name: c.status for c in report.checks}


def test_valid_bundle_verifies_with_every_check_listed() -> None:
    report = verify_bundle(make_bundle(), [NODE.verifier()], WITNESS_KEYS, min_witnesses=2)
    assert report.valid
    assert report.failures == ()
    assert [c.name for c in report.checks] == [
        "checkpoint signature",
        "checkpoint format",
        "tree size",
        "inclusion",
        "cosignature 0",
        "cosignature 1",
        "witness quorum",
    ]
    assert "witness.example/w1 cosigned at POSIX time 1790000001" in report.checks[5].reason


def test_dump_load_roundtrip() -> None:
    bundle = make_bundle()
    data = dump_bundle(bundle)
    assert load_bundle(data) == bundle
    assert data.isascii()
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()
    document = json.loads(data)
    assert document["format"] == "cardtrace-evidence-bundle"
    assert document["version"] == 1
    assert base64.b64decode(document["event"]) == EVENTS[6]


def test_wrong_node_key_fails() -> None:
    other = Signer("node.example/shop-42", bytes([2]) * 32)
    result = statuses(make_bundle(signer=other))
    assert result["checkpoint signature"] == "failed"
    assert not verify_bundle(make_bundle(signer=other), [NODE.verifier()]).valid


def test_other_event_fails_inclusion() -> None:
    forged = replace(make_bundle(), event=EVENTS[5])
    assert statuses(forged)["inclusion"] == "failed"


def test_wrong_index_or_size_fails() -> None:
    assert statuses(replace(make_bundle(), leaf_index=7))["inclusion"] == "failed"
    result = statuses(replace(make_bundle(), tree_size=10))
    assert result["tree size"] == "failed"


def test_witness_quorum_is_enforced() -> None:
    bundle = make_bundle()
    assert statuses(bundle, min_witnesses=2)["witness quorum"] == "ok"
    assert statuses(bundle, min_witnesses=3)["witness quorum"] == "failed"
    only_one = replace(bundle, cosignatures=bundle.cosignatures[:1])
    assert statuses(only_one, min_witnesses=2)["witness quorum"] == "failed"
    doubled = replace(bundle, cosignatures=bundle.cosignatures[:1] * 2)
    assert statuses(doubled, min_witnesses=2)["witness quorum"] == "failed"


def test_unknown_witness_is_ignored_but_not_counted() -> None:
    stranger = Signer("witness.example/stranger", bytes([99]) * 32)
    bundle = make_bundle()
    text = split_note(bundle.checkpoint)[0]
    extra = replace(bundle, cosignatures=(*bundle.cosignatures, cosign(text, stranger, 5)))
    report = verify_bundle(extra, [NODE.verifier()], WITNESS_KEYS, min_witnesses=2)
    assert report.valid
    assert report.checks[6].status == "ignored"
    assert not verify_bundle(extra, [NODE.verifier()], WITNESS_KEYS, min_witnesses=3).valid


def test_cosignature_over_another_checkpoint_fails() -> None:
    older = make_bundle(index=3, size=8)
    mixed = replace(make_bundle(), cosignatures=older.cosignatures)
    result = statuses(mixed)
    assert result["cosignature 0"] == "failed"
    assert result["witness quorum"] == "ok"  # zero required, but the bundle is still invalid
    assert not verify_bundle(mixed, [NODE.verifier()], WITNESS_KEYS).valid


def test_unparseable_checkpoint_text_skips_the_rest() -> None:
    note = sign_note("not a checkpoint\n", [NODE])
    report = verify_bundle(replace(make_bundle(), checkpoint=note), [NODE.verifier()])
    assert not report.valid
    assert {c.name: c.status for c in report.checks}["inclusion"] == "skipped"


def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(dump_bundle(make_bundle()))
    return loaded


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"extra": 1}, "extra"),
        ({"format": "something-else"}, "format"),
        ({"version": 2}, "version"),
        ({"version": True}, "version"),
        ({"version": "1"}, "version"),
        ({"event": "not base64!"}, "event"),
        ({"event": 5}, "event"),
        ({"leaf_index": -1}, "leaf_index"),
        ({"leaf_index": 1.5}, "leaf_index"),
        ({"leaf_index": 11}, "leaf_index"),
        ({"leaf_index": False}, "leaf_index"),
        ({"tree_size": 2**64}, "tree_size"),
        ({"tree_size": None}, "tree_size"),
        ({"inclusion_proof": "AAAA"}, "inclusion_proof"),
        ({"inclusion_proof": [1]}, "inclusion_proof[0]"),
        ({"inclusion_proof": ["AAAA"]}, "inclusion_proof[0]"),
        ({"inclusion_proof": ["AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"]}, "inclusion_proof"),
        ({"checkpoint": "o\n1\nAAAA\n"}, "checkpoint"),
        ({"checkpoint": ["x"]}, "checkpoint"),
        ({"cosignatures": ["- w AAAAAAAA"]}, "cosignatures[0]"),
        ({"cosignatures": [None]}, "cosignatures[0]"),
        ({"cosignatures": {}}, "cosignatures"),
    ],
)
def test_load_names_the_bad_field(change: dict[str, Any], field: str) -> None:
    document = _document() | change
    with pytest.raises(InvalidInput, match="bundle field '" + re.escape(field)):
        load_bundle(json.dumps(document).encode())


@pytest.mark.parametrize("missing", ["event", "checkpoint", "cosignatures", "tree_size"])
def test_load_rejects_missing_fields(missing: str) -> None:
    document = _document()
    del document[missing]
    with pytest.raises(InvalidInput, match=rf"bundle field '{missing}': missing"):
        load_bundle(json.dumps(document).encode())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b"\xff",
        b'{"version":1,"version":1}',
        b'{"leaf_index":NaN}',
    ],
)
def test_load_rejects_non_bundles(data: bytes) -> None:
    with pytest.raises(InvalidInput, match="bundle"):
        load_bundle(data)


def test_pretty_printed_bundle_still_loads() -> None:
    bundle = make_bundle()
    pretty = json.dumps(json.loads(dump_bundle(bundle)), indent=2).encode()
    assert load_bundle(pretty) == bundle


VALID = dump_bundle(make_bundle())


@settings(max_examples=300)
@given(st.integers(0, len(VALID) - 1), st.integers(1, 255))
def test_any_changed_byte_never_verifies(position: int, mask: int) -> None:
    tampered = bytearray(VALID)
    tampered[position] ^= mask
    try:
        bundle = load_bundle(bytes(tampered))
    except InvalidInput:
        return
    report = verify_bundle(bundle, [NODE.verifier()], WITNESS_KEYS, min_witnesses=2)
    assert not report.valid, (bytes(tampered), report)


def test_every_single_byte_flip_is_caught() -> None:
    """The exhaustive version of the property above, for the low bit of every byte."""
    for position in range(len(VALID)):
        tampered = bytearray(VALID)
        tampered[position] ^= 1
        try:
            bundle = load_bundle(bytes(tampered))
        except InvalidInput:
            continue
        report = verify_bundle(bundle, [NODE.verifier()], WITNESS_KEYS, min_witnesses=2)
        assert not report.valid, position


def test_json_nested_too_deeply_is_a_one_line_refusal() -> None:
    with pytest.raises(InvalidInput, match=r"^bundle: not valid JSON \(nested too deeply\)$"):
        load_bundle(b"[" * 100_000 + b"]" * 100_000)
