"""What a stored event holds: tokens and commitments in the leaf, values only sealed."""

from __future__ import annotations

import hashlib
import tracemalloc
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import factories as make
from cardtrace.crypto.tokens import Tokenizer
from cardtrace.crypto.vault import Vault
from cardtrace.domain.canonical import canonical_bytes
from cardtrace.domain.events import EVENT_MODELS
from cardtrace.ingest import protect as protect_module
from cardtrace.ingest.pipeline import Rejected, validate
from cardtrace.ingest.protect import Protector, card_token, leaf_links, party_token, pin_token
from cardtrace.sim import generate
from cardtrace.store.rows import EventRow

LINK_KEY, VAULT_KEY = b"l" * 32, b"v" * 32


def protect(record: dict[str, Any]) -> tuple[EventRow, dict[str, Any]]:
    event = validate(orjson.dumps(record), datetime.now(UTC))
    row = Protector(Tokenizer(LINK_KEY), Vault(VAULT_KEY), "k").protect(event)
    return row, orjson.loads(row.leaf)


def test_the_pin_is_only_a_token() -> None:
    record = make.card_recycled(pin="555566667777888899")
    row, leaf = protect(record)
    assert b"555566667777888899" not in row.leaf
    assert b"555566667777888899" not in Vault(VAULT_KEY).open(
        row.protected or b"", leaf["event_id"]
    )
    expected = Tokenizer.reference(LINK_KEY, "pin", "cmcc:555566667777888899")
    assert leaf["tokens"]["pin"] == expected.hex()
    assert pin_token(Tokenizer(LINK_KEY), "cmcc", "555566667777888899") == expected


def test_personal_values_are_sealed_and_committed_not_in_the_leaf() -> None:
    record = make.card_recycled()
    row, leaf = protect(record)
    for value in (record["seller_name"], record["seller_id_number"], "13800138000"):
        assert value.encode() not in row.leaf
    sealed = orjson.loads(Vault(VAULT_KEY).open(row.protected or b"", leaf["event_id"]))
    assert set(sealed) == set(leaf["commitments"])
    for name, opening in sealed.items():
        digest = hashlib.sha256(bytes.fromhex(opening["salt"]) + canonical_bytes(opening["value"]))
        assert digest.hexdigest() == leaf["commitments"][name]
    assert sealed["seller_msisdn"]["value"] == "+8613800138000"


def test_the_leaf_is_canonical_and_keeps_clear_facts() -> None:
    row, leaf = protect(make.card_recycled())
    assert canonical_bytes(leaf) == row.leaf
    assert (leaf["payout_fen"], leaf["premises_id"], leaf["format"]) == (9200, "store-12", 1)
    assert leaf["occurred_at"] == "2025-03-01T02:00:00.000000Z"
    # The models keep enum members (Channel, LegalBasis); the leaf has their text.
    assert b'{"channel":"offline_shop",' in row.leaf
    assert b'"legal_basis":"contract"' in row.leaf


def test_links_cover_card_pin_personal_tokens_and_parties() -> None:
    record = make.card_recycled(serial="11112222333344445")
    row, _ = protect(record)
    fields = {field for _, field in row.links}
    assert fields == {
        "card", "pin", "seller_id_number", "seller_msisdn", "payout_account", "premises_id",
    }  # fmt: skip
    assert (card_token(Tokenizer(LINK_KEY), "cmcc", "11112222333344445"), "card") in row.links


def test_the_links_a_leaf_makes_are_those_protecting_made(tmp_path: Path) -> None:
    # Every kind of event a world holds: what the audit expects of the link index.
    generate(seed=3, cards=300, out=tmp_path)
    tokenizer = Tokenizer(LINK_KEY)
    protector = Protector(tokenizer, Vault(VAULT_KEY), "k")
    lines = [line for path in tmp_path.glob("*.jsonl") for line in path.read_bytes().splitlines()]
    for kind in ("consent.given", "consent.withdrawn"):  # no node of the world records them
        consent = {
            **make.ENVELOPE, "type": kind, "node_id": "plat-01", "source_id": kind,
            "channel": "online_platform", "legal_basis": "consent", "subject_account": "u1",
            "subject_msisdn": "13800138000", "purposes": ["recycling"], "notice_version": "v1",
        }  # fmt: skip
        lines.append(orjson.dumps(consent))
    kinds: set[str] = set()
    for line in lines:
        try:
            event = validate(line, datetime.now(UTC))
        except Rejected:
            continue  # the world's records written invalid on purpose
        row = protector.protect(event)
        leaf = orjson.loads(row.leaf)
        made = leaf_links(leaf, partial(party_token, tokenizer))
        assert sorted(made) == sorted(row.links), leaf["type"]
        kinds.add(leaf["type"])
    assert kinds == set(EVENT_MODELS)


def test_same_phone_links_across_fields_and_platform_accounts_only_within_a_node() -> None:
    _, recycled = protect(make.card_recycled(seller_account="user1"))
    _, redeemed = protect(make.card_redeemed(target_msisdn="13800138000"))
    assert recycled["tokens"]["seller_msisdn"] == redeemed["tokens"]["target_msisdn"]
    _, elsewhere = protect(make.card_recycled(node="shop-z", seller_account="user1"))
    assert recycled["tokens"]["seller_account"] != elsewhere["tokens"]["seller_account"]


def test_commitments_are_salted_so_equal_values_do_not_match() -> None:
    _, first = protect(make.card_recycled(source_id="a"))
    _, second = protect(make.card_recycled(source_id="b"))
    assert first["commitments"]["seller_name"] != second["commitments"]["seller_name"]


def test_a_protected_row_holds_about_its_own_size_in_memory() -> None:
    """Rows wait in batches, so a row must not keep an encoder's whole output buffer."""
    event = validate(orjson.dumps(make.card_recycled()), datetime.now(UTC))
    protector = Protector(Tokenizer(LINK_KEY), Vault(VAULT_KEY), "k")
    tracemalloc.start()
    try:
        rows = [protector.protect(event) for _ in range(200)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    stored = sum(len(row.leaf) + len(row.protected or b"") for row in rows)
    assert held < 2 * stored


def test_a_leaf_of_no_known_type_makes_no_links_but_an_error() -> None:
    with pytest.raises(ValueError, match=r"no event type 'card\.melted'"):
        leaf_links({"type": "card.melted", "tokens": {}}, partial(party_token, Tokenizer(LINK_KEY)))


def test_party_tokens_stay_right_when_a_protector_has_seen_many_parties(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(protect_module, "_PARTY_CACHE", 2)
    protector = Protector(Tokenizer(LINK_KEY), Vault(VAULT_KEY), "k")
    for premises in ["store-1", "store-2", "store-3", "store-1", "store-4", "store-2"]:
        event = validate(orjson.dumps(make.card_recycled(premises_id=premises)), datetime.now(UTC))
        links = {field: token for token, field in protector.protect(event).links}
        assert links["premises_id"] == Tokenizer.reference(LINK_KEY, "party", premises)


def test_the_content_digest_is_the_documented_hmac_of_what_was_sent() -> None:
    # docs/canonical-encoding.md: HMAC-SHA256(link key, "content" || 0x00 ||
    # canonical([leaf without commitments, {personal field: value}])), 16 bytes.
    record = make.card_recycled()
    row, leaf = protect(record)
    sealed = orjson.loads(Vault(VAULT_KEY).open(row.protected or b"", leaf["event_id"]))
    sent = {name: value for name, value in leaf.items() if name != "commitments"}
    personal = {name: opening["value"] for name, opening in sealed.items()}
    assert personal["seller_name"] == record["seller_name"]  # not ASCII: a real UTF-8 case
    message = canonical_bytes([sent, personal]).decode()
    assert row.content == Tokenizer.reference(LINK_KEY, "content", message)


@given(kind=st.text(max_size=20), value=st.text(max_size=200))
def test_a_token_of_bytes_is_the_token_of_their_text(kind: str, value: str) -> None:
    tokenizer = Tokenizer(LINK_KEY)
    expected = Tokenizer.reference(LINK_KEY, kind, value)
    assert (
        tokenizer.token_of_bytes(kind, value.encode()) == tokenizer.token(kind, value) == expected
    )
