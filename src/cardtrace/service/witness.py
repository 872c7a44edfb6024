"""Witnessing, by files: a node's consistency request, and a witness cosigning it.

A witness cosigns a log's checkpoint only if it is consistent with the last checkpoint
of that origin it cosigned, so a log can never show two witnessed histories. The
request is the body of C2SP tlog-witness's ``add-checkpoint``, which keeps the future
HTTP form a thin layer over :func:`witness`::

    old <size the witness last cosigned, 0 at first>
    <consistency proof from that size, one base64 hash per line>
    <blank line>
    <the signed checkpoint note>

and the answer is the witness's cosignature line (C2SP tlog-cosignature), which the
node stores with :func:`cardtrace.service.ledger.add_cosignatures`.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass

from cardtrace.errors import InvalidInput, NotFound, TamperDetected
from cardtrace.ledger import merkle, tiles
from cardtrace.ledger.note import (
    NOTE_ED25519,
    Checkpoint,
    cosign,
    decode_base64,
    open_note,
    parse_checkpoint,
    parse_signature_line,
    split_note,
)
from cardtrace.service.ledger import parse_verifier, witness_signer
from cardtrace.service.node import Node
from cardtrace.store import bulk
from cardtrace.store import checkpoints as records
from cardtrace.store.ledger_sql import SqlTileStore

__all__ = [
    "Cosigned",
    "StaleCheckpoint",
    "WitnessRequest",
    "consistency_request",
    "dump_request",
    "load_request",
    "witness",
]

_OLD_RE = re.compile(r"old (0|[1-9][0-9]*)")
#: A consistency proof has at most two hashes per tree level.
_MAX_PROOF = 2 * 64


class StaleCheckpoint(InvalidInput):
    """The request does not start where this witness stands for that origin.

    ``witness_size`` is the size it last cosigned: the node should send a new request
    from there (C2SP tlog-witness answers this with 409 Conflict and that size).
    """

    def __init__(self, message: str, witness_size: int) -> None:
        super().__init__(message)
        self.witness_size = witness_size


@dataclass(frozen=True, slots=True)
class WitnessRequest:
    """A signed checkpoint with the proof that it extends the tree of ``old_size``."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


@dataclass(frozen=True, slots=True)
class Cosigned:
    """What a witness cosigned: the checkpoint, from which size it checked, the line."""

    origin: str
    old_size: int
    size: int
    root: bytes
    line: str


def dump_request(request: WitnessRequest) -> bytes:
    """The request body, byte for byte as C2SP tlog-witness's ``add-checkpoint``."""
    proof = "".join(base64.b64encode(digest).decode("ascii") + "\n" for digest in request.proof)
    return f"old {request.old_size}\n{proof}\n{request.note}".encode()


def load_request(data: bytes) -> WitnessRequest:
    """Parse a request strictly; ``InvalidInput`` names the bad line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("witness request: not UTF-8") from None
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise InvalidInput("witness request: no blank line before the checkpoint")
    first, *proof_lines = head.split("\n")
    match = _OLD_RE.fullmatch(first)
    if match is None:
        raise InvalidInput("witness request line 1: expected 'old <size>'")
    if len(proof_lines) > _MAX_PROOF:
        raise InvalidInput(f"witness request: {len(proof_lines)} proof hashes, too many")
    proof = []
    for number, line in enumerate(proof_lines, start=2):
        digest = decode_base64(line, f"witness request line {number}")
        if len(digest) != merkle.HASH_SIZE:
            raise InvalidInput(f"witness request line {number}: {len(digest)} bytes, not 32")
        proof.append(digest)
    split_note(note)  # the note's own shape, checked before any key is involved
    return WitnessRequest(int(match.group(1)), tuple(proof), note)


def consistency_request(node: Node, old_size: int) -> bytes:
    """A request for witnesses: the latest checkpoint and its proof from ``old_size``."""
    with records.snapshot(node.database) as connection:
        latest = records.latest_checkpoint(connection)
        if latest is None:
            raise NotFound("no checkpoint to witness yet; run 'cardtrace checkpoint' first")
        if not 0 <= old_size <= latest.size:
            raise InvalidInput(
                f"--from {old_size}: must be between 0 and the latest checkpoint's size "
                f"{latest.size}"
            )
        proof: list[bytes] = []
        if 0 < old_size < latest.size:
            proof = tiles.consistency_proof(SqlTileStore(connection), old_size, latest.size)
    return dump_request(WitnessRequest(old_size, tuple(proof), latest.note))


def witness(node: Node, request: bytes, origin_key: str, now: int | None = None) -> Cosigned:
    """Cosign another log's checkpoint if it extends what this node cosigned for it before.

    Checks, in order: the request's shape; the note's signature by ``origin_key``, whose
    name must be the checkpoint's origin; that the request starts at the size this
    witness last cosigned for that origin (else :class:`StaleCheckpoint`); the
    consistency proof from the root cosigned then (else ``TamperDetected``). Only then
    it cosigns, and records the new size and root in the same transaction.
    """
    parsed = load_request(request)
    verifier = parse_verifier(origin_key, NOTE_ED25519, "--origin-key")
    text, _ = open_note(parsed.note, [verifier])
    checkpoint = parse_checkpoint(text)
    if checkpoint.origin != verifier.name:
        raise InvalidInput(
            f"the checkpoint's origin {checkpoint.origin!r} is not the key's name {verifier.name!r}"
        )
    # A witness need not keep a log of its own, so its first cosignature makes the database.
    database = node.database_to_store(["witness.key"])
    signer = witness_signer(node)
    with database.transaction() as connection:
        bulk.lock_writer(connection)
        last = records.latest_witnessed(connection, checkpoint.origin)
        _check_extends(last, parsed, checkpoint)
        line = cosign(text, signer, int(time.time()) if now is None else now)
        state = records.WitnessedState(
            checkpoint.origin, checkpoint.size, checkpoint.root, parsed.note, line, _time(line)
        )
        records.insert_witnessed(connection, state)
    return Cosigned(checkpoint.origin, parsed.old_size, checkpoint.size, checkpoint.root, line)


def _time(line: str) -> int:
    return int.from_bytes(parse_signature_line(line).signature[:8], "big")


def _check_extends(
    last: records.WitnessedState | None, request: WitnessRequest, checkpoint: Checkpoint
) -> None:
    """Refuse a checkpoint that does not extend the last one cosigned for its origin."""
    origin = checkpoint.origin
    size = 0 if last is None else last.size
    if checkpoint.size < size:
        raise StaleCheckpoint(
            f"stale checkpoint: this witness already cosigned {origin} at size {size}, "
            f"this checkpoint has size {checkpoint.size}",
            size,
        )
    if request.old_size != size:
        raise StaleCheckpoint(
            f"this witness last cosigned {origin} at size {size}, the request proves "
            f"consistency from size {request.old_size}; on the node run "
            f"'cardtrace consistency --from {size}'",
            size,
        )
    if last is None or size == checkpoint.size:
        if request.proof:
            raise InvalidInput(f"the proof must be empty from size {size}, it has hashes")
        if last is not None and last.root != checkpoint.root:
            raise TamperDetected(
                f"{origin} signed two different roots for size {size}: the log forked"
            )
        return
    try:
        merkle.verify_consistency(size, checkpoint.size, request.proof, last.root, checkpoint.root)
    except TamperDetected as exc:
        raise TamperDetected(
            f"{origin} at size {checkpoint.size} is not consistent with size {size} cosigned "
            f"before: {exc}"
        ) from None
