"""Check 7 of the audit: each event's sealed personal data and content digest against
its leaf, and the log's erasures against the sealed data they deleted. See
:mod:`cardtrace.service.audit`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from cardtrace.crypto.tokens import Tokenizer
from cardtrace.crypto.vault import Vault
from cardtrace.domain.canonical import canonical_bytes_of_valid
from cardtrace.domain.events import EVENT_ID_PATTERN, EVENT_MODELS, hidden_in_clear
from cardtrace.errors import TamperDetected
from cardtrace.ingest.protect import content_digest
from cardtrace.service.audit._report import Problems
from cardtrace.store import checkpoints as records

if TYPE_CHECKING:
    pass

__all__ = ["Openings"]

#: An event id in the form leaves hold it.
_EVENT_ID = re.compile(EVENT_ID_PATTERN)


class Openings:
    """Checks an event's sealed personal data and content digest against its leaf; an
    event with none must have been erased by its node."""

    def __init__(self, tokenizer: Tokenizer, vault: Vault) -> None:
        self._tokenizer, self._vault = tokenizer, vault
        #: Events whose leaf commits to personal fields and whose row holds no sealed
        #: data: right only where the log holds the node's erasure of them, which may
        #: come later in the log. Id -> (seq, node id, committed fields).
        self._unsealed: dict[str, tuple[int, str, list[str]]] = {}

    def check(self, row: records.EventLeaf, leaf: dict[str, Any], problems: Problems) -> None:
        event_id = str(leaf.get("event_id"))
        where = f"event seq {row.seq} (id {event_id})"
        commitments = leaf.get("commitments") or {}
        if row.protected is None:
            if commitments:
                # Its content digest covers the erased values: it cannot be recomputed.
                self._unsealed[event_id] = (row.seq, row.node_id, sorted(commitments))
                return
            sealed: dict[str, Any] = {}
        else:
            opened = self._open(row.protected, event_id)
            if isinstance(opened, str):
                problems.add(
                    "protected-changed", f"{where}: {opened}", seq=row.seq, event_id=event_id
                )
                return
            sealed = opened
            wrong = _mismatched_openings(sealed, commitments)
            if wrong:
                problems.add(
                    "protected-changed",
                    f"{where}: the sealed values of {', '.join(wrong)} do not match the "
                    "leaf's commitments",
                    seq=row.seq,
                    event_id=event_id,
                )
                return
        if row.content is not None and row.content != self._content(leaf, sealed):
            problems.add(
                "content-changed",
                f"{where}: the stored digest of the record as sent is not the one its leaf "
                "and sealed data give: a re-send would be judged against a false digest",
                seq=row.seq,
                event_id=event_id,
            )
        found = _personal_in_clear(leaf, sealed)
        if found is not None:
            problems.add(
                "personal-in-clear",
                f"{where}: the leaf's {found[0]} holds the event's {found[1]}, personal data "
                "kept only sealed: it stays in clear in the ledger for good (stored before "
                "ingest refused such records)",
                seq=row.seq,
                event_id=event_id,
            )

    def finish(self, erasing: Mapping[bytes, set[str]], problems: Problems) -> None:
        """Judge the events holding no sealed data by the log's erasures (``erasing``: the
        nodes that erased each event id, from check 10)."""
        for event_id, (seq, node, fields) in self._unsealed.items():
            target = _id_bytes(event_id)
            if target is None or node not in erasing.get(target, set()):
                problems.add(
                    "protected-missing",
                    f"event seq {seq} (id {event_id}): the leaf commits to personal fields "
                    f"({', '.join(fields)}) and the row holds no sealed data, and the log "
                    "holds no erasure of it by its node",
                    seq=seq,
                    event_id=event_id,
                )

    def _open(self, blob: bytes, event_id: str) -> dict[str, Any] | str:
        """The openings in ``blob``, or why it does not open."""
        try:
            opened = orjson.loads(self._vault.open(blob, event_id))
        except TamperDetected as exc:
            return f"{exc} (altered, or moved from another event)"
        except orjson.JSONDecodeError:
            return "its sealed data opens but is not the openings cardtrace seals"
        if not isinstance(opened, dict):
            return "its sealed data opens but is not the openings cardtrace seals"
        return opened

    def _content(self, leaf: dict[str, Any], sealed: dict[str, Any]) -> bytes:
        """The digest as :mod:`cardtrace.ingest.protect` made it: the leaf before its
        commitments were added, and the personal values without their salts."""
        sent = {name: value for name, value in leaf.items() if name != "commitments"}
        return content_digest(self._tokenizer, sent, sealed)


def _personal_in_clear(leaf: dict[str, Any], sealed: dict[str, Any]) -> tuple[str, str] | None:
    """(clear field, personal field) when the leaf keeps one of the event's sealed
    values in a clear field, as ingest now refuses (``hidden_in_clear``)."""
    model = EVENT_MODELS.get(str(leaf.get("type")))
    if model is None:
        return None
    opened = {
        name: opening.get("value") if isinstance(opening, dict) else None
        for name, opening in sealed.items()
    }
    return hidden_in_clear(model, dict.fromkeys(model.model_fields) | leaf | opened)


def _mismatched_openings(sealed: dict[str, Any], commitments: Mapping[str, Any]) -> list[str]:
    """The fields whose opening is missing, extra or does not hash to its commitment."""
    wrong = sorted(sealed.keys() ^ commitments.keys())
    for name in sorted(sealed.keys() & commitments.keys()):
        opening = sealed[name]
        try:
            salt = bytes.fromhex(opening["salt"])
            digest = hashlib.sha256(salt + canonical_bytes_of_valid(opening["value"]))
        except (TypeError, KeyError, ValueError):
            wrong.append(name)
            continue
        if digest.hexdigest() != commitments[name]:
            wrong.append(name)
    return wrong


def _id_bytes(text: str) -> bytes | None:
    """The 16 bytes of an event id as a leaf holds it; None for other text (an edit)."""
    return uuid.UUID(text).bytes if _EVENT_ID.fullmatch(text) else None
