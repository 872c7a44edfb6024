"""Minimise and protect a validated event: the leaf the ledger commits to, and link rows.

Each field is handled as its model marks it (:mod:`cardtrace.domain.handling`):

* clear fields go into the leaf as they are;
* a ``Secret`` (the PIN) becomes a link token and nothing else: no value, no ciphertext;
* a ``Personal`` field is sealed with the vault (value + random salt), the leaf holds a
  salted commitment ``SHA-256(salt || canonical(value))`` and, when it links, a token.
  Erasing value and salt later leaves the leaf, and every proof over it, unchanged;
* a ``Party`` id is clear and also a lookup key.

The leaf layout is documented in docs/canonical-encoding.md.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from cardtrace.crypto.tokens import Tokenizer
from cardtrace.crypto.vault import Vault
from cardtrace.domain.canonical import canonical_bytes_of_valid, format_time
from cardtrace.domain.events import (
    EVENT_ID_PATTERN,
    EVENT_MODELS,
    Envelope,
    event_id_bytes,
    event_id_text,
)
from cardtrace.domain.handling import Party, Personal, Secret, handling_of
from cardtrace.store.rows import EventRow

__all__ = [
    "LEAF_FORMAT",
    "PartyTokens",
    "ProtectionKeys",
    "Protector",
    "card_token",
    "content_digest",
    "erased_target",
    "leaf_links",
    "party_token",
    "pin_token",
    "secret_token",
]

#: Version of the leaf layout; bump it when the layout changes.
LEAF_FORMAT = 1
_SALT = 16
#: Party tokens a :class:`PartyTokens` keeps.
_PARTY_CACHE = 4096
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to handle each field of one event model, worked out once per model."""

    clear: tuple[str, ...]
    times: tuple[str, ...]
    parties: tuple[str, ...]
    personal: tuple[tuple[str, Personal], ...]
    secrets: tuple[tuple[str, Secret], ...]


@cache
def _plan(model: type[Envelope]) -> _Plan:
    clear, times, parties = [], [], []
    personal: list[tuple[str, Personal]] = []
    secrets: list[tuple[str, Secret]] = []
    for name, info in model.model_fields.items():
        marker = handling_of(info)
        if isinstance(marker, Personal):
            personal.append((name, marker))
        elif isinstance(marker, Secret):
            secrets.append((name, marker))
        elif info.annotation is datetime:
            times.append(name)
        else:
            clear.append(name)
            if isinstance(marker, Party):
                parties.append(name)
    return _Plan(tuple(clear), tuple(times), tuple(parties), tuple(personal), tuple(secrets))


def content_digest(tokenizer: Tokenizer, sent: dict[str, Any], sealed: dict[str, Any]) -> bytes:
    """What the source sent, keyed: the leaf without its commitments (``sent``) and the
    personal values of the sealed openings without their salts (docs/canonical-encoding.md).

    A re-send gives the same digest, a changed record another one; keyed, because it
    covers personal values. The audit recomputes it with this function.
    """
    personal = {name: opening["value"] for name, opening in sealed.items()}
    return tokenizer.token_of_bytes("content", canonical_bytes_of_valid([sent, personal]))


def leaf_links(
    leaf: Mapping[str, Any], party_token: Callable[[str], bytes]
) -> list[tuple[bytes, str]]:
    """The link rows (token, field) that protecting the event of ``leaf`` made, from the
    leaf alone: its tokens, and ``party_token`` of each party field it holds. The audit
    checks the link index with it and ``cardtrace reindex`` rebuilds the index with it; a
    test holds it to :meth:`Protector.protect`.

    Raises ``ValueError`` for a leaf of no known type or with tokens that are not hex.
    """
    model = EVENT_MODELS.get(str(leaf.get("type")))
    if model is None:
        raise ValueError(f"no event type {leaf.get('type')!r}")
    tokens: Mapping[str, str] = leaf.get("tokens") or {}
    links = [(bytes.fromhex(token), name) for name, token in tokens.items()]
    links += [(party_token(leaf[name]), name) for name in _plan(model).parties if name in leaf]
    return links


def erased_target(leaf: Mapping[str, Any]) -> bytes | None:
    """The 16 bytes of the event id a ``record.erased`` leaf names; None for any other
    leaf, or one whose target is not an event id (an edit)."""
    target = leaf.get("target_event_id") if leaf.get("type") == "record.erased" else None
    if isinstance(target, str) and _EVENT_ID.fullmatch(target):
        return _erased_id(target)
    return None


def card_token(tokenizer: Tokenizer, issuer: str, serial: str) -> bytes:
    """The link token of a card by issuer and serial."""
    return tokenizer.token("card", f"{issuer}:{serial}")


def party_token(tokenizer: Tokenizer, party: str) -> bytes:
    """The link token of a party (node, merchant, distributor) by its id."""
    return tokenizer.token("party", party)


class PartyTokens:
    """:func:`party_token` under one tokenizer, cached: parties (nodes, merchants,
    distributors) are few and appear in most events, and their ids are clear data, so the
    cache keeps nothing personal."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._tokens: dict[str, bytes] = {}

    def __call__(self, party: str) -> bytes:
        token = self._tokens.get(party)
        if token is None:
            if len(self._tokens) >= _PARTY_CACHE:
                self._tokens.clear()
            token = self._tokens[party] = party_token(self._tokenizer, party)
        return token


def secret_token(tokenizer: Tokenizer, kind: str, issuer: str, secret: str) -> bytes:
    """The link token of a card secret: the only form in which a PIN is kept."""
    return tokenizer.token(kind, f"{issuer}:{secret}")


def pin_token(tokenizer: Tokenizer, issuer: str, pin: str) -> bytes:
    """The link token of a card by its PIN, as investigators look it up."""
    return secret_token(tokenizer, Secret().link, issuer, pin)


def _erased_id(target: str | None) -> bytes | None:
    """The 16 bytes of an erasure's target event id (validated as its 8-4-4-4-12 text)."""
    return None if target is None else bytes.fromhex(target.replace("-", ""))


@dataclass(frozen=True, slots=True, repr=False)
class ProtectionKeys:
    """The keys a :class:`Protector` needs, in a form that can be sent to a worker process."""

    link_key: bytes
    vault_key: bytes
    token_key_id: str

    def protector(self) -> Protector:
        return Protector(Tokenizer(self.link_key), Vault(self.vault_key), self.token_key_id)


class Protector:
    """Turns validated events into storable rows under one node's keys."""

    def __init__(self, tokenizer: Tokenizer, vault: Vault, token_key_id: str) -> None:
        self._tokenizer = tokenizer
        self._vault = vault
        self._token_key_id = token_key_id
        self._party_token = PartyTokens(tokenizer)

    def protect(self, event: Envelope) -> EventRow:
        plan = _plan(type(event))
        values = event.__dict__  # the validated fields; read once, not per attribute
        event_id = event_id_bytes(values["node_id"], values["source_id"])
        event_text = event_id_text(event_id)
        leaf: dict[str, Any] = {
            "format": LEAF_FORMAT,
            "event_id": event_text,
            "token_key": self._token_key_id,
        }
        for name in plan.clear:
            value = values[name]
            if value is not None:
                leaf[name] = value
        for name in plan.times:
            leaf[name] = format_time(values[name])
        tokens, links = self._card_tokens(values)
        for name in plan.parties:
            value = values[name]
            if value is not None:
                links.append((self._party_token(value), name))
        for name, secret in plan.secrets:
            value = values[name]
            if value is not None:
                secret_link = secret_token(self._tokenizer, secret.link, values["issuer"], value)
                tokens[name] = secret_link.hex()
                links.append((secret_link, name))
        commitments, sealed = self._seal_personal(values, plan, tokens, links)
        leaf["tokens"] = tokens
        content = content_digest(self._tokenizer, leaf, sealed)  # before the commitments
        leaf["commitments"] = commitments
        protected = (
            self._vault.seal(canonical_bytes_of_valid(sealed), event_text) if sealed else None
        )
        return EventRow(
            event_id=event_id,
            node_id=values["node_id"],
            type=leaf["type"],
            occurred_us=(values["occurred_at"] - _EPOCH) // _MICROSECOND,
            # orjson hands back its ~8 KiB output buffer as the bytes object; a leaf is
            # kept for a whole batch, so it is copied to its own size (8 KiB -> ~650 B).
            leaf=bytes(memoryview(canonical_bytes_of_valid(leaf))),
            protected=protected,
            links=tuple(links),
            content=content,
            erases=_erased_id(values.get("target_event_id")),
        )

    def _card_tokens(
        self, values: dict[str, Any]
    ) -> tuple[dict[str, str], list[tuple[bytes, str]]]:
        serial = values.get("serial")
        if serial is None:
            return {}, []
        token = card_token(self._tokenizer, values["issuer"], serial)
        return {"card": token.hex()}, [(token, "card")]

    def _seal_personal(
        self,
        values: dict[str, Any],
        plan: _Plan,
        tokens: dict[str, str],
        links: list[tuple[bytes, str]],
    ) -> tuple[dict[str, str], dict[str, Any]]:
        present = [(n, m, values[n]) for n, m in plan.personal if values[n] not in (None, [])]
        commitments: dict[str, str] = {}
        sealed: dict[str, Any] = {}
        if not present:
            return commitments, sealed
        salts = os.urandom(_SALT * len(present))
        for position, (name, marker, value) in enumerate(present):
            salt = salts[position * _SALT : (position + 1) * _SALT]
            commitments[name] = hashlib.sha256(salt + canonical_bytes_of_valid(value)).hexdigest()
            sealed[name] = {"salt": salt.hex(), "value": value}
            if marker.link is not None:
                scoped = f"{values['node_id']}:{value}" if marker.node_scoped else value
                token = self._tokenizer.token(marker.link, scoped)
                tokens[name] = token.hex()
                links.append((token, name))
        return commitments, sealed
