"""Offline evidence bundles: one event with everything a court needs to verify it.

A bundle holds the event's canonical bytes, its leaf index, the tree size, the
inclusion proof, the node's signed checkpoint note and witnesses' cosignature lines.
:func:`verify_bundle` checks it with nothing but public keys: no database, no network.
The JSON format (version 1) is documented in docs/ledger.md.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cardtrace.errors import CardtraceError, InvalidInput
from cardtrace.ledger.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from cardtrace.ledger.note import (
    COSIGNATURE_ED25519,
    MAX_SIGNATURES,
    MAX_TREE_SIZE,
    Checkpoint,
    Verifier,
    decode_base64,
    open_note,
    parse_checkpoint,
    parse_signature_line,
    split_note,
    verify_cosignature,
)

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "Bundle",
    "BundleReport",
    "Check",
    "dump_bundle",
    "load_bundle",
    "verify_bundle",
]

BUNDLE_FORMAT = "cardtrace-evidence-bundle"
BUNDLE_VERSION = 1

_FIELDS = {
    "format": str,
    "version": int,
    "event": str,
    "leaf_index": int,
    "tree_size": int,
    "inclusion_proof": list,
    "checkpoint": str,
    "cosignatures": list,
}


@dataclass(frozen=True)
class Bundle:
    """The evidence for one event; constructing one validates every field's shape."""

    event: bytes
    leaf_index: int
    tree_size: int
    inclusion_proof: tuple[bytes, ...]
    checkpoint: str
    cosignatures: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("leaf_index", "tree_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not 0 <= value <= MAX_TREE_SIZE:
                raise InvalidInput(f"bundle field '{name}': {value!r} is out of range")
        if self.leaf_index >= self.tree_size:
            raise InvalidInput(
                f"bundle field 'leaf_index': {self.leaf_index} is not below tree_size "
                f"{self.tree_size}"
            )
        if len(self.inclusion_proof) > 64:
            raise InvalidInput("bundle field 'inclusion_proof': more than 64 hashes")
        if len(self.cosignatures) > MAX_SIGNATURES:
            raise InvalidInput(f"bundle field 'cosignatures': more than {MAX_SIGNATURES} lines")
        for position, item in enumerate(self.inclusion_proof):
            if len(item) != HASH_SIZE:
                raise InvalidInput(
                    f"bundle field 'inclusion_proof[{position}]': {len(item)} bytes, "
                    f"not {HASH_SIZE}"
                )
        _wrap("checkpoint", split_note, self.checkpoint)
        for position, line in enumerate(self.cosignatures):
            _wrap(f"cosignatures[{position}]", parse_signature_line, line)


def _wrap(field_name: str, check: Callable[[str], object], value: str) -> None:
    try:
        check(value)
    except InvalidInput as exc:
        raise InvalidInput(f"bundle field '{field_name}': {exc}") from exc


def dump_bundle(bundle: Bundle) -> bytes:
    """Compact, key-sorted, ASCII JSON: no whitespace that could change unnoticed."""
    document = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "event": _b64(bundle.event),
        "leaf_index": bundle.leaf_index,
        "tree_size": bundle.tree_size,
        "inclusion_proof": [_b64(h) for h in bundle.inclusion_proof],
        "checkpoint": bundle.checkpoint,
        "cosignatures": list(bundle.cosignatures),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def load_bundle(data: bytes) -> Bundle:
    """Parse a bundle strictly; ``InvalidInput`` names the offending field."""
    document = _parse_json(data)
    _check_fields(document)
    if document["format"] != BUNDLE_FORMAT:
        raise InvalidInput(f"bundle field 'format': {document['format']!r} is not a bundle")
    if document["version"] != BUNDLE_VERSION:
        raise InvalidInput(f"bundle field 'version': unsupported version {document['version']}")
    proof = []
    for position, item in enumerate(document["inclusion_proof"]):
        name = f"inclusion_proof[{position}]"
        proof.append(decode_base64(_string(item, name), f"bundle field '{name}'"))
    lines = tuple(
        _string(item, f"cosignatures[{position}]")
        for position, item in enumerate(document["cosignatures"])
    )
    return Bundle(
        event=decode_base64(document["event"], "bundle field 'event'"),
        leaf_index=document["leaf_index"],
        tree_size=document["tree_size"],
        inclusion_proof=tuple(proof),
        checkpoint=document["checkpoint"],
        cosignatures=lines,
    )


def _parse_json(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
        document = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise InvalidInput("bundle: not UTF-8") from exc
    except ValueError as exc:  # json.JSONDecodeError and the hooks' refusals
        raise InvalidInput(f"bundle: not valid JSON ({exc})") from exc
    except RecursionError:  # arrays or objects nested thousands deep
        raise InvalidInput("bundle: not valid JSON (nested too deeply)") from None
    if not isinstance(document, dict):
        raise InvalidInput("bundle: the top level must be a JSON object")
    return document


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _check_fields(document: dict[str, Any]) -> None:
    for key in document:
        if key not in _FIELDS:
            raise InvalidInput(f"bundle field '{key}': unknown field")
    for key, kind in _FIELDS.items():
        if key not in document:
            raise InvalidInput(f"bundle field '{key}': missing")
        value = document[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise InvalidInput(f"bundle field '{key}': expected {kind.__name__}")


def _string(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"bundle field '{name}': expected str")
    return value


# --- verification ------------------------------------------------------------------------

Status = Literal["ok", "failed", "skipped", "ignored"]


@dataclass(frozen=True)
class Check:
    """One verification step: what was checked, its outcome and why."""

    name: str
    status: Status
    reason: str


@dataclass(frozen=True)
class BundleReport:
    """Every check :func:`verify_bundle` made; valid only if none failed or was skipped."""

    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def valid(self) -> bool:
        """True when at least one check ran and every check passed (or was ignorable)."""
        return bool(self.checks) and all(c.status in ("ok", "ignored") for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that failed or could not run."""
        return tuple(c for c in self.checks if c.status in ("failed", "skipped"))


def verify_bundle(
    bundle: Bundle,
    verifiers: Sequence[Verifier],
    witness_verifiers: Sequence[Verifier] = (),
    min_witnesses: int = 0,
) -> BundleReport:
    """Check a bundle offline against the node's keys and, optionally, witnesses' keys.

    ``verifiers`` are the node's note keys; ``witness_verifiers`` are cosignature (0x04)
    keys, of which at least ``min_witnesses`` distinct ones must have cosigned.
    """
    checks: list[Check] = []
    checkpoint = _check_checkpoint(bundle, verifiers, checks)
    if checkpoint is None:
        checks.append(Check("inclusion", "skipped", "no checkpoint to check against"))
        checks.append(Check("witness quorum", "skipped", "no checkpoint to check against"))
        return BundleReport(tuple(checks))
    checks.append(_check_size(bundle, checkpoint))
    checks.append(_check_inclusion(bundle, checkpoint))
    text = checkpoint.format()
    witnesses = _check_cosignatures(bundle, text, witness_verifiers, checks)
    checks.append(_check_quorum(witnesses, min_witnesses))
    return BundleReport(tuple(checks))


def _check_checkpoint(
    bundle: Bundle, verifiers: Sequence[Verifier], checks: list[Check]
) -> Checkpoint | None:
    """Verify the node's signature, then parse the text (even when unsigned, to explain)."""
    try:
        text, names = open_note(bundle.checkpoint, verifiers)
        checks.append(Check("checkpoint signature", "ok", f"signed by {', '.join(names)}"))
    except CardtraceError as exc:
        checks.append(Check("checkpoint signature", "failed", str(exc)))
        text = split_note(bundle.checkpoint)[0]
    try:
        checkpoint = parse_checkpoint(text)
    except InvalidInput as exc:
        checks.append(Check("checkpoint format", "failed", str(exc)))
        return None
    detail = f"{checkpoint.origin} at size {checkpoint.size}, root {checkpoint.root.hex()}"
    checks.append(Check("checkpoint format", "ok", detail))
    return checkpoint


def _check_size(bundle: Bundle, checkpoint: Checkpoint) -> Check:
    if bundle.tree_size != checkpoint.size:
        reason = f"bundle says {bundle.tree_size}, checkpoint says {checkpoint.size}"
        return Check("tree size", "failed", reason)
    return Check("tree size", "ok", f"{bundle.tree_size} leaves")


def _check_inclusion(bundle: Bundle, checkpoint: Checkpoint) -> Check:
    leaf = leaf_hash(bundle.event)
    where = f"leaf hash {leaf.hex()} at index {bundle.leaf_index}"
    try:
        verify_inclusion(
            leaf, bundle.leaf_index, checkpoint.size, bundle.inclusion_proof, checkpoint.root
        )
    except CardtraceError as exc:
        return Check("inclusion", "failed", f"{where}: {exc}")
    return Check("inclusion", "ok", f"{where} is in the tree of size {checkpoint.size}")


def _check_cosignatures(
    bundle: Bundle, text: str, witness_verifiers: Sequence[Verifier], checks: list[Check]
) -> set[str]:
    known = {(v.name, v.key_id): v for v in witness_verifiers}
    witnesses: set[str] = set()
    for position, line in enumerate(bundle.cosignatures):
        name = f"cosignature {position}"
        parsed = parse_signature_line(line)
        verifier = known.get((parsed.name, parsed.key_id))
        if verifier is None or verifier.key_type != COSIGNATURE_ED25519:
            key = f"{parsed.name}+{parsed.key_id.hex()}"
            checks.append(Check(name, "ignored", f"{key} is not a known witness key"))
            continue
        try:
            when = verify_cosignature(text, line, verifier)
        except CardtraceError as exc:
            checks.append(Check(name, "failed", str(exc)))
            continue
        witnesses.add(parsed.name)
        checks.append(Check(name, "ok", f"{parsed.name} cosigned at POSIX time {when}"))
    return witnesses


def _check_quorum(witnesses: set[str], min_witnesses: int) -> Check:
    count = f"{len(witnesses)} known witness(es) cosigned, {min_witnesses} required"
    return Check("witness quorum", "ok" if len(witnesses) >= min_witnesses else "failed", count)
