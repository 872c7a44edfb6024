"""docs/ledger.md's worked examples are recomputed here, so the page stays true."""

from __future__ import annotations

from pathlib import Path

from cardtrace.ledger.bundle import Bundle, dump_bundle, load_bundle, verify_bundle
from cardtrace.ledger.merkle import inclusion_proof, leaf_hash, node_hash, root_hash
from cardtrace.ledger.note import Checkpoint, Signer, cosign, sign_note

DOC = (Path(__file__).parents[2] / "docs" / "ledger.md").read_text(encoding="utf-8")

NODE = Signer("node.example/shop-42", bytes([1]) * 32)
WITNESS = Signer("witness.example/w1", bytes([2]) * 32)
EVENTS = [b'{"event_id":"e-%d"}' % i for i in range(3)]
HASHES = [leaf_hash(e) for e in EVENTS]
TEXT = Checkpoint("node.example/shop-42", 3, root_hash(HASHES)).format()
NOTE = sign_note(TEXT, [NODE])
COSIGNATURE = cosign(TEXT, WITNESS, 1_790_000_000)
BUNDLE = Bundle(EVENTS[1], 1, 3, tuple(inclusion_proof(HASHES, 1)), NOTE, (COSIGNATURE,))


def test_hash_examples() -> None:
    for value in (leaf_hash(b""), leaf_hash(b"\x00"), *HASHES, root_hash(HASHES)):
        assert f"`{value.hex()}`" in DOC
    pair = node_hash(leaf_hash(b""), leaf_hash(b"\x00"))
    assert f"`{pair.hex()}`" in DOC


def test_key_note_and_cosignature_examples() -> None:
    assert NODE.verifier().vkey() in DOC
    assert WITNESS.cosigner_verifier().vkey() in DOC
    assert f"```\n{TEXT}```" in DOC
    assert f"```\n{NOTE}```" in DOC
    assert f"```\ncosignature/v1\ntime 1790000000\n{TEXT}```" in DOC
    assert f"```\n{COSIGNATURE}\n```" in DOC


def test_bundle_example_is_current_and_verifies() -> None:
    data = dump_bundle(BUNDLE)
    assert f"```json\n{data.decode()}\n```" in DOC
    report = verify_bundle(
        load_bundle(data), [NODE.verifier()], [WITNESS.cosigner_verifier()], min_witnesses=1
    )
    assert report.valid
    for check in report.checks:
        assert f"`{check.name.rstrip('0123456789').strip()}" in DOC
