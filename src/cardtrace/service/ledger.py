"""The node's ledger operations: keys, signed checkpoints, evidence bundles, cosignatures.

Front ends call these with a :class:`~cardtrace.service.node.Node` and plain values
(str, bytes) and get dataclasses back, so the CLI now and an HTTP API later are thin.
The kinds of file they write (a bundle, a witness request, a signed checkpoint) are
defined here, for :func:`cardtrace.files.write_whole`, which replaces only an earlier
file of the same kind.
Witnessing other logs is in :mod:`cardtrace.service.witness`; the audit of the whole
node in :mod:`cardtrace.service.audit`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cardtrace.domain.canonical import format_time
from cardtrace.errors import (
    CardtraceError,
    ConfigurationError,
    InvalidInput,
    NotFound,
    TamperDetected,
)
from cardtrace.files import FileKind
from cardtrace.ledger import tiles
from cardtrace.ledger.bundle import Bundle, BundleReport, load_bundle, verify_bundle
from cardtrace.ledger.note import (
    COSIGNATURE_ED25519,
    NOTE_ED25519,
    Checkpoint,
    Signer,
    Verifier,
    parse_checkpoint,
    parse_signature_line,
    sign_note,
    split_note,
    verify_cosignature,
)
from cardtrace.service.node import Node
from cardtrace.store import bulk
from cardtrace.store import checkpoints as records
from cardtrace.store.ledger_sql import SqlTileStore

__all__ = [
    "CHECKPOINT_FILE",
    "EVIDENCE_BUNDLE",
    "WITNESS_REQUEST",
    "AddedCosignature",
    "CheckpointInfo",
    "add_cosignatures",
    "checkpoint_verifier",
    "existing_verifier_key",
    "init_keys",
    "list_checkpoints",
    "make_checkpoint",
    "node_signer",
    "parse_verifier",
    "prove",
    "trusted_witnesses",
    "verifier_key",
    "verify_bundle_file",
    "witness_signer",
]


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """A stored checkpoint and who witnessed it."""

    id: int
    size: int
    root: bytes
    created_at: str
    note: str
    cosignatures: tuple[str, ...]
    cosigned_by: tuple[str, ...]
    witnessed: bool

    def cosigned_note(self) -> str:
        """The signed note with the stored cosignature lines appended."""
        return self.note + "".join(line + "\n" for line in self.cosignatures)


@dataclass(frozen=True, slots=True)
class AddedCosignature:
    """A cosignature line accepted by :func:`add_cosignatures`."""

    checkpoint_id: int
    size: int
    witness: str
    cosigned_at: int
    stored: bool  # False when the same witness key had cosigned that checkpoint already


# --- keys --------------------------------------------------------------------------------


def node_signer(node: Node) -> Signer:
    """The key that signs this node's checkpoints, named after the log's origin."""
    return Signer(node.settings.log_origin, node.keys.secret("node.key"))


def checkpoint_verifier(node: Node) -> Verifier:
    """The verifier of the node's stored checkpoints, whose signing key must exist: a
    new one, made in development on first use, would fail every one of them."""
    if not node.keys.exists("node.key"):
        raise ConfigurationError(
            f"the database holds signed checkpoints and the key folder {node.keys.folder} "
            "has no node.key; set CARDTRACE_KEY_DIR to this node's key folder"
        )
    return node_signer(node).verifier()


def witness_signer(node: Node) -> Signer:
    """The key with which this node cosigns other logs' checkpoints."""
    return Signer(f"{node.settings.log_origin}/witness", node.keys.secret("witness.key"))


def init_keys(node: Node) -> list[str]:
    """Create the node's missing secret keys; return the names of those created."""
    return node.keys.init()


def verifier_key(node: Node, *, witness: bool = False) -> str:
    """The public verifier key of the checkpoint key (or of the witness key)."""
    if witness:
        return witness_signer(node).cosigner_verifier().vkey()
    return node_signer(node).verifier().vkey()


def existing_verifier_key(node: Node, *, witness: bool = False) -> str:
    """:func:`verifier_key` of a key the node already has, for publishing it: none is
    made, since the verifier key of a key made now would verify nothing the node signed."""
    name, signed = ("witness.key", "cosigned") if witness else ("node.key", "signed")
    if not node.keys.exists(name):
        raise ConfigurationError(
            f"the key folder {node.keys.folder} has no {name}, and a key made now would "
            f"verify nothing this node {signed}; run 'cardtrace keys init', or set "
            "CARDTRACE_KEY_DIR to this node's key folder"
        )
    return verifier_key(node, witness=witness)


def trusted_witnesses(node: Node) -> list[Verifier]:
    """The cosignature keys of ``settings.witness_keys``, checked."""
    return [
        parse_verifier(key, COSIGNATURE_ED25519, f"setting CARDTRACE_WITNESS_KEYS[{position}]")
        for position, key in enumerate(node.settings.witness_keys)
    ]


def parse_verifier(vkey: str, key_type: int, what: str) -> Verifier:
    """A verifier key of the given type (0x01 note, 0x04 cosignature) or ``InvalidInput``."""
    try:
        verifier = Verifier.from_vkey(vkey)
    except InvalidInput as exc:
        raise InvalidInput(f"{what}: {exc}") from None
    if verifier.key_type != key_type:
        kinds = {NOTE_ED25519: "note signature (0x01)", COSIGNATURE_ED25519: "cosignature (0x04)"}
        raise InvalidInput(
            f"{what}: {verifier.name} is a {kinds[verifier.key_type]} key, "
            f"a {kinds[key_type]} key is needed"
        )
    return verifier


# --- checkpoints -------------------------------------------------------------------------


def make_checkpoint(node: Node) -> tuple[CheckpointInfo, bool]:
    """Sign and store a checkpoint of the log as it is now; True if it is a new one.

    If the latest stored checkpoint already has the current size, it is returned instead
    of a second one. The log's state is checked against its tiles first, and a log
    smaller than its latest checkpoint, or with another root at the same size, is
    refused: the node never signs over a log that was altered.
    """
    database = node.database  # before the key: no database, no key made for nothing
    signer = node_signer(node)
    with database.transaction() as connection:
        bulk.lock_writer(connection)
        store = SqlTileStore(connection)
        try:
            tiles.check_state(store)
        except TamperDetected as exc:
            raise TamperDetected(
                f"{exc}: the log was altered, so no checkpoint is signed (run 'cardtrace verify')"
            ) from None
        size, root = tiles.size(store), tiles.root(store)
        latest = records.latest_checkpoint(connection)
        if latest is not None and latest.size >= size:
            _check_same_tree(latest, size, root)
            lines = records.cosignatures_of(connection, [latest.id])
            return _info(node, [latest], lines)[0], False
        if size == 0:
            raise InvalidInput("the log is empty: ingest events before making a checkpoint")
        note = sign_note(Checkpoint(signer.name, size, root).format(), [signer])
        stored = records.insert_checkpoint(connection, size, root, note, _now_text())
        return _info(node, [stored], {stored.id: []})[0], True


def _check_same_tree(latest: records.StoredCheckpoint, size: int, root: bytes) -> None:
    if latest.size > size:
        raise TamperDetected(
            f"the log holds {size} leaves but checkpoint #{latest.id} signed {latest.size}: "
            "the log was truncated (run 'cardtrace verify')"
        )
    if latest.root != root:
        raise TamperDetected(
            f"the log's root at size {size} differs from checkpoint #{latest.id}'s: "
            "the log was altered (run 'cardtrace verify')"
        )


def list_checkpoints(node: Node) -> list[CheckpointInfo]:
    """Every stored checkpoint, oldest first, with the trusted witnesses that cosigned it."""
    with records.snapshot(node.database) as connection:
        stored = records.all_checkpoints(connection)
        lines = records.cosignatures_of(connection, [checkpoint.id for checkpoint in stored])
    return _info(node, stored, lines)


def _info(
    node: Node,
    stored: Sequence[records.StoredCheckpoint],
    lines: Mapping[int, Sequence[records.StoredCosignature]],
) -> list[CheckpointInfo]:
    witnesses = trusted_witnesses(node)
    quorum = node.settings.witness_quorum
    infos = []
    for checkpoint in stored:
        mine = tuple(row.line for row in lines[checkpoint.id])
        names = _valid_cosigners(split_note(checkpoint.note)[0], mine, witnesses)
        infos.append(
            CheckpointInfo(
                id=checkpoint.id,
                size=checkpoint.size,
                root=checkpoint.root,
                created_at=checkpoint.created_at,
                note=checkpoint.note,
                cosignatures=mine,
                cosigned_by=names,
                witnessed=bool(witnesses) and len(names) >= quorum,
            )
        )
    return infos


def _valid_cosigners(
    text: str, lines: Sequence[str], witnesses: Sequence[Verifier]
) -> tuple[str, ...]:
    """The names of trusted witnesses whose cosignature over ``text`` verifies."""
    names: list[str] = []
    for line in lines:
        for verifier in witnesses:
            try:
                verify_cosignature(text, line, verifier)
            except CardtraceError:
                continue
            if verifier.name not in names:
                names.append(verifier.name)
    return tuple(names)


def _now_text() -> str:
    return format_time(datetime.now(UTC))


# --- evidence bundles --------------------------------------------------------------------


def prove(node: Node, event_id: str) -> Bundle:
    """The evidence bundle of one event against the latest checkpoint that covers it.

    The bundle is checked with the node's own key before it is handed out, so a node
    whose storage was altered refuses to produce evidence instead of producing bad one.
    """
    try:
        key = uuid.UUID(event_id).bytes
    except ValueError:
        raise InvalidInput(f"event id {event_id!r} is not a UUID") from None
    event = node.database.event(key)
    with records.snapshot(node.database) as connection:
        checkpoint = records.checkpoint_covering(connection, event.seq)
        if checkpoint is None:
            raise NotFound(
                f"no checkpoint covers event {event_id} (leaf {event.seq}) yet; "
                "run 'cardtrace checkpoint' first"
            )
        proof = tiles.inclusion_proof(SqlTileStore(connection), event.seq, checkpoint.size)
        stored = records.cosignatures_of(connection, [checkpoint.id])[checkpoint.id]
    bundle = Bundle(
        event=event.leaf,
        leaf_index=event.seq,
        tree_size=checkpoint.size,
        inclusion_proof=tuple(proof),
        checkpoint=checkpoint.note,
        cosignatures=tuple(row.line for row in stored),
    )
    report = verify_bundle(bundle, [checkpoint_verifier(node)])
    if not report.valid:
        reasons = "; ".join(f"{c.name}: {c.reason}" for c in report.failures)
        raise TamperDetected(f"the evidence of event {event_id} does not verify: {reasons}")
    return bundle


def verify_bundle_file(
    data: bytes,
    keys: Sequence[str],
    witness_keys: Sequence[str] = (),
    min_witnesses: int = 0,
) -> tuple[Bundle, BundleReport]:
    """Check a bundle's bytes with nothing but public keys (no database, no network).

    A malformed bundle or key is ``InvalidInput``; checks that fail are in the report.
    """
    if not keys:
        raise InvalidInput("give the node's verifier key (--key)")
    verifiers = [parse_verifier(key, NOTE_ED25519, f"--key {key!r}") for key in keys]
    witnesses = [
        parse_verifier(key, COSIGNATURE_ED25519, f"--witness-key {key!r}") for key in witness_keys
    ]
    if min_witnesses < 0:
        raise InvalidInput("--min-witnesses must not be negative")
    bundle = load_bundle(data)
    return bundle, verify_bundle(bundle, verifiers, witnesses, min_witnesses)


# --- cosignatures ------------------------------------------------------------------------


def add_cosignatures(node: Node, data: bytes) -> list[AddedCosignature]:
    """Store witnesses' cosignature lines, each linked to the checkpoint it signs.

    ``data`` holds one or more cosignature lines (what ``cardtrace witness`` prints).
    Each must be by a trusted witness (``settings.witness_keys``) and verify over a
    stored checkpoint; otherwise nothing is stored.
    """
    lines = _cosignature_lines(data)
    witnesses = {(v.name, v.key_id): v for v in trusted_witnesses(node)}
    added: list[AddedCosignature] = []
    with node.database.transaction() as connection:
        bulk.lock_writer(connection)
        stored = list(reversed(records.all_checkpoints(connection)))
        for number, line in enumerate(lines, start=1):
            parsed = parse_signature_line(line, f"cosignature line {number}")
            verifier = witnesses.get((parsed.name, parsed.key_id))
            if verifier is None:
                raise InvalidInput(
                    f"cosignature line {number}: {parsed.name}+{parsed.key_id.hex()} is not a "
                    "trusted witness key (setting CARDTRACE_WITNESS_KEYS)"
                )
            checkpoint = _signed_checkpoint(stored, line, verifier)
            if checkpoint is None:
                raise TamperDetected(
                    f"cosignature line {number} by {parsed.name} does not verify over any "
                    "checkpoint of this node"
                )
            at = int.from_bytes(parsed.signature[:8], "big")
            row = records.StoredCosignature(
                checkpoint.id, parsed.name, parsed.key_id.hex(), line, at, _now_text()
            )
            fresh = records.insert_cosignature(connection, row)
            added.append(AddedCosignature(checkpoint.id, checkpoint.size, parsed.name, at, fresh))
    return added


def _cosignature_lines(data: bytes) -> list[str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("cosignature file: not UTF-8") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise InvalidInput("cosignature file: no cosignature line")
    return lines


def _signed_checkpoint(
    newest_first: Sequence[records.StoredCheckpoint], line: str, verifier: Verifier
) -> records.StoredCheckpoint | None:
    """The stored checkpoint whose text ``line`` cosigns (checkpoints are few)."""
    for checkpoint in newest_first:
        try:
            verify_cosignature(split_note(checkpoint.note)[0], line, verifier)
        except CardtraceError:
            continue
        return checkpoint
    return None


# --- files the commands write ------------------------------------------------------------


#: Each output is a few KB: a larger file is of another kind, and is read no further.
_MAX_OUTPUT_BYTES = 1 << 20


def _whole(holds: Callable[[bytes], bool]) -> Callable[[bytes], bool]:
    """``holds`` of a whole output: what is longer than any output is none."""
    return lambda start: len(start) <= _MAX_OUTPUT_BYTES and holds(start)


def _holds_bundle(data: bytes) -> bool:
    try:
        load_bundle(data)
    except InvalidInput:
        return False
    return True


def _holds_checkpoint(data: bytes) -> bool:
    """Whether ``data`` is a signed note of a checkpoint (what ``checkpoint`` exports)."""
    try:
        parse_checkpoint(split_note(data.decode("utf-8"))[0])
    except (UnicodeDecodeError, InvalidInput):
        return False
    return True


def _holds_request(data: bytes) -> bool:
    """Whether ``data`` is a witness request (:mod:`cardtrace.service.witness`): ``old
    <size>`` and proof lines, a blank line, a signed checkpoint."""
    head, _, note = data.partition(b"\n\n")
    return head.startswith(b"old ") and _holds_checkpoint(note)


def _output(what: str, article: str, option: str, holds: Callable[[bytes], bool]) -> FileKind:
    return FileKind(what, article, option, _whole(holds), sniff=_MAX_OUTPUT_BYTES + 1)


EVIDENCE_BUNDLE = _output("evidence bundle", "an", "--out", _holds_bundle)
WITNESS_REQUEST = _output("witness request", "a", "--out", _holds_request)
CHECKPOINT_FILE = _output("checkpoint file", "a", "--export", _holds_checkpoint)
