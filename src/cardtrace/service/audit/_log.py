"""Checks 1 to 5 of the audit: the log's three views against each other.

The checkpoint rows and signatures (1); the events in log order against the tiles'
leaves, and their columns against their bytes (2); the tree rebuilt from both sides
(3); every checkpoint against the rebuilt roots and the next one (4); the trusted
witnesses' cosignatures (5). See :mod:`cardtrace.service.audit`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import orjson

from cardtrace.domain.canonical import format_us
from cardtrace.errors import CardtraceError, TamperDetected
from cardtrace.ledger import merkle, tiles
from cardtrace.ledger.note import (
    Checkpoint,
    Verifier,
    open_note,
    parse_checkpoint,
    verify_cosignature,
)
from cardtrace.service.audit._report import Problems
from cardtrace.store import checkpoints as records
from cardtrace.store.ledger_sql import SqlTileStore
from cardtrace.store.rows import Tallies

__all__ = [
    "Replay",
    "Signed",
    "check_checkpoint_rows",
    "check_checkpoints",
    "check_cosignatures",
    "id_text",
    "parsed_leaf",
]

#: Leaf hashes handed to the tile rebuild at once.
_BATCH = 4096
_TILE_BYTES = tiles.TILE_WIDTH * tiles.HASH_SIZE


@dataclass(frozen=True, slots=True)
class Signed:
    """A stored checkpoint whose signature verified and whose note matches its row."""

    id: int
    checkpoint: Checkpoint


# --- 1. checkpoint rows ----------------------------------------------------------------


def check_checkpoint_rows(
    stored: Sequence[records.StoredCheckpoint],
    verifier: Verifier,
    origin: str,
    problems: Problems,
) -> list[Signed]:
    signed: list[Signed] = []
    for row in stored:
        where = f"checkpoint #{row.id} (size {row.size})"
        try:
            text, _ = open_note(row.note, [verifier])
            checkpoint = parse_checkpoint(text)
        except CardtraceError as exc:
            problems.add(
                "checkpoint-signature",
                f"{where}: {exc} (checked with this node's key {verifier.vkey()})",
                checkpoint_id=row.id,
            )
            continue
        facts = (checkpoint.origin, checkpoint.size, checkpoint.root)
        if facts != (origin, row.size, row.root):
            problems.add(
                "checkpoint-row",
                f"{where}: its signed note says {checkpoint.origin} at size {checkpoint.size}, "
                f"root {checkpoint.root.hex()}; the row says {origin} at size {row.size}, "
                f"root {row.root.hex()}",
                checkpoint_id=row.id,
            )
            continue
        signed.append(Signed(row.id, checkpoint))
    return signed


# --- 2 and 3. the events, streamed -----------------------------------------------------


class _RootBuilder:
    """The root of the tree of the leaf hashes pushed so far, in O(log n) memory."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []

    def push(self, leaf: bytes) -> None:
        size, digest = 1, leaf
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, digest = left_size + size, merkle.node_hash(left, digest)
        self._stack.append((size, digest))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return merkle.EMPTY_ROOT
        return merkle.fold_subtrees([digest for _, digest in self._stack])


class _ShadowTiles:
    """A :class:`~cardtrace.ledger.tiles.TileStore` that keeps only the right-most tiles.

    The rebuild appends the stored leaf hashes to it with :func:`tiles.append`; each
    upper-level tile it completes is compared with the stored one and dropped, so memory
    stays at one partial tile per level.
    """

    def __init__(self, stored: tiles.TileStore, problems: Problems) -> None:
        self.partial: dict[tiles.TileKey, bytes] = {}
        self.state: tuple[int, bytes] | None = None
        self._stored = stored
        self._problems = problems

    def read_tiles(self, keys: Sequence[tiles.TileKey]) -> dict[tiles.TileKey, bytes]:
        return {key: self.partial[key] for key in keys if key in self.partial}

    def write_tiles(self, written: Mapping[tiles.TileKey, bytes]) -> None:
        full = {}
        for key, data in written.items():
            if len(data) == _TILE_BYTES:
                self.partial.pop(key, None)
                full[key] = data
            else:
                self.partial[key] = data
        self.compare({key: data for key, data in full.items() if key[0] > 0})

    def read_state(self) -> tuple[int, bytes] | None:
        return self.state

    def write_state(self, size: int, state: bytes) -> None:
        self.state = (size, state)

    def compare(self, rebuilt: Mapping[tiles.TileKey, bytes]) -> None:
        """Report each stored tile that differs from its rebuilt form."""
        if not rebuilt:
            return
        stored = self._stored.read_tiles(list(rebuilt))
        for key, data in sorted(rebuilt.items()):
            if stored.get(key) != data:
                self._problems.add(
                    "tile-changed",
                    f"ledger tile {key} differs from the one rebuilt from the stored leaves "
                    f"({_describe(stored.get(key))})",
                )


def _describe(data: bytes | None) -> str:
    return "missing" if data is None else f"{len(data) // tiles.HASH_SIZE} hashes stored"


class Replay:
    """Everything the audit does per event row, in ``seq`` order."""

    def __init__(
        self, store: SqlTileStore, log_size: int, signed: Sequence[Signed], problems: Problems
    ) -> None:
        self.store, self.log_size, self.problems = store, log_size, problems
        self.signed = sorted(signed, key=lambda s: (s.checkpoint.size, s.id))
        self.targets = {s.checkpoint.size for s in signed}
        self.roots: dict[int, bytes] = {}
        self.rows = 0
        #: Events by (node id, type), to check the counts that statistics read.
        self.counted = Tallies()
        self._events_tree = _RootBuilder()
        self._shadow = _ShadowTiles(store, problems)
        self._batch: list[bytes] = []
        self._tile: tuple[int, bytes | None] = (-1, None)
        self._next = 0

    def event(self, row: records.EventLeaf) -> dict[str, Any] | None:
        """Check one row against the log; its parsed leaf if the log holds those bytes
        (the checks of its other columns build on it; an edited leaf is reported here)."""
        self.rows += 1
        self.counted.add(row.node_id, row.type, row.occurred_us)
        event_id = id_text(row.event_id)
        if not 0 <= row.seq < self.log_size:
            self.problems.add(
                "event-extra",
                f"event seq {row.seq} (id {event_id}) lies outside the log of {self.log_size} "
                "leaves: the row was inserted",
                seq=row.seq,
                event_id=event_id,
            )
            return None
        if row.seq > self._next:
            self._missing(self._next, row.seq, "deleted")
        digest = merkle.leaf_hash(row.leaf)
        stored = self._stored_leaf(row.seq)
        if stored is not None and stored != digest:
            self._leaf_mismatch(row.seq, event_id, digest, stored)
        leaf = parsed_leaf(row.leaf)
        if leaf is not None:
            _check_columns(row, leaf, event_id, self.problems)
        self._push(digest, stored if stored is not None else digest)
        self._next = row.seq + 1
        return leaf if stored == digest else None

    def finish(self) -> None:
        if self._next < self.log_size:
            self._missing(self._next, self.log_size, "deleted from the end (truncated)")
        self._flush()
        self._shadow.compare({k: v for k, v in self._shadow.partial.items() if k[0] > 0})
        stored = self.store.read_state()
        if self._shadow.state != stored and self._shadow.state is not None:
            self.problems.add(
                "state-changed",
                f"ledger_state (size {stored[0] if stored else 0}) differs from the state "
                f"rebuilt from the stored leaves (size {self._shadow.state[0]})",
            )

    def _missing(self, begin: int, end: int, how: str) -> None:
        self.problems.add(
            "event-missing",
            f"events seq {begin} to {end - 1} are missing: the log has leaves there but the "
            f"rows were {how}",
            seq=begin,
        )
        for seq in range(begin, end):  # keep both trees aligned on the log's own leaves
            stored = self._stored_leaf(seq) or bytes(tiles.HASH_SIZE)
            self._push(stored, stored)

    def _stored_leaf(self, seq: int) -> bytes | None:
        index = seq // tiles.TILE_WIDTH
        if self._tile[0] != index:
            key = (0, index)
            data = self.store.read_tiles([key]).get(key)
            width = tiles.tile_width(0, index, self.log_size) * tiles.HASH_SIZE
            if data is None or len(data) != width:
                self.problems.add(
                    "tile-changed",
                    f"ledger tile {key} is {_describe(data)}, the log of {self.log_size} "
                    f"leaves needs {width // tiles.HASH_SIZE}",
                )
                data = None
            self._tile = (index, data)
        data = self._tile[1]
        if data is None:
            return None
        offset = seq % tiles.TILE_WIDTH * tiles.HASH_SIZE
        return data[offset : offset + tiles.HASH_SIZE]

    def _push(self, event_hash: bytes, stored_hash: bytes) -> None:
        self._events_tree.push(event_hash)
        if self._events_tree.size in self.targets:
            self.roots[self._events_tree.size] = self._events_tree.root()
        self._batch.append(stored_hash)
        if len(self._batch) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        tiles.append(self._shadow, self._batch)
        self._batch = []

    def _leaf_mismatch(self, seq: int, event_id: str, digest: bytes, stored: bytes) -> None:
        where = f"event seq {seq} (id {event_id})"
        moved = self._leaf_index_of(seq, digest)
        if moved is not None:
            self.problems.add(
                "event-moved",
                f"{where}: its bytes are those of leaf {moved}, not of leaf {seq}: "
                "rows were reordered",
                seq=seq,
                event_id=event_id,
            )
            return
        kind, verdict = _VERDICTS[self._proven(seq, digest, stored)]
        self.problems.add(
            kind,
            f"{where}: its bytes hash to {digest.hex()}, the log's leaf {seq} is "
            f"{stored.hex()}; {verdict}",
            seq=seq,
            event_id=event_id,
        )

    def _leaf_index_of(self, seq: int, digest: bytes) -> int | None:
        """Where ``digest`` sits in the current level-0 tile, if it does."""
        index, data = self._tile
        if data is None:
            return None
        offset = data.find(digest)
        while offset >= 0 and offset % tiles.HASH_SIZE:
            offset = data.find(digest, offset + 1)
        if offset < 0:
            return None
        found = index * tiles.TILE_WIDTH + offset // tiles.HASH_SIZE
        return found if found != seq else None

    def _proven(self, seq: int, event_hash: bytes, stored_hash: bytes) -> str | None:
        """Which of the two hashes the latest valid checkpoint covering ``seq`` proves."""
        covering = [s for s in self.signed if s.checkpoint.size > seq]
        if not covering or covering[-1].checkpoint.size > self.log_size:
            return None
        checkpoint = covering[-1].checkpoint
        try:
            proof = tiles.inclusion_proof(self.store, seq, checkpoint.size)
        except CardtraceError:
            return None
        for name, candidate in (("event", event_hash), ("tiles", stored_hash)):
            try:
                merkle.verify_inclusion(candidate, seq, checkpoint.size, proof, checkpoint.root)
            except TamperDetected:
                continue
            return name
        return None


#: What a leaf mismatch means, by which side the covering checkpoint proves.
_VERDICTS: dict[str | None, tuple[str, str]] = {
    "event": (
        "leaf-replaced",
        "the checkpoint proves the event's hash: the tiles' leaf was replaced",
    ),
    "tiles": ("event-edited", "the checkpoint proves the tiles' leaf: the event row was edited"),
    None: ("event-changed", "no valid checkpoint proves either one"),
}


def id_text(event_id: bytes) -> str:
    """A stored event id as text, or "?" where an edit left other than 16 bytes."""
    return str(uuid.UUID(bytes=event_id)) if len(event_id) == 16 else "?"


def parsed_leaf(leaf_bytes: bytes) -> dict[str, Any] | None:
    """A leaf's fields; None for bytes that are not a leaf (the leaf hash judges those)."""
    try:
        leaf = orjson.loads(leaf_bytes)
    except orjson.JSONDecodeError:
        return None
    return leaf if isinstance(leaf, dict) else None


def _check_columns(
    row: records.EventLeaf, leaf: dict[str, Any], event_id: str, problems: Problems
) -> None:
    """The columns lookups use must say what the hashed bytes say."""
    columns = {
        "event_id": event_id,
        "type": row.type,
        "node_id": row.node_id,
        "occurred_at": format_us(row.occurred_us),
    }
    for name, value in columns.items():
        if name in leaf and leaf[name] != value:
            problems.add(
                "row-changed",
                f"event seq {row.seq} (id {event_id}): column {name} says {value!r}, the "
                f"event's leaf bytes say {leaf[name]!r}",
                seq=row.seq,
                event_id=event_id,
            )


# --- 4. checkpoints against the trees and each other -----------------------------------


def check_checkpoints(
    store: SqlTileStore,
    signed: Sequence[Signed],
    event_roots: Mapping[int, bytes],
    log_size: int,
    problems: Problems,
) -> None:
    ordered = sorted(signed, key=lambda s: (s.checkpoint.size, s.id))
    for item in ordered:
        _check_against_log(store, item, event_roots, log_size, problems)
    for old, new in pairwise(ordered):
        _check_pair(store, old, new, log_size, problems)


def _check_against_log(
    store: SqlTileStore,
    item: Signed,
    event_roots: Mapping[int, bytes],
    log_size: int,
    problems: Problems,
) -> None:
    size, root = item.checkpoint.size, item.checkpoint.root
    where = f"checkpoint #{item.id} (size {size})"
    if size > log_size:
        problems.add(
            "log-truncated",
            f"{where} is larger than the log, which now has {log_size} leaves: "
            "the log was truncated",
            checkpoint_id=item.id,
        )
        return
    rebuilt = event_roots.get(size, merkle.EMPTY_ROOT)
    if rebuilt != root:
        problems.add(
            "checkpoint-root",
            f"{where}: the events as stored give root {rebuilt.hex()}, "
            f"the checkpoint signed {root.hex()}",
            checkpoint_id=item.id,
        )
    try:
        from_tiles = tiles.root(store, size)
    except CardtraceError as exc:
        problems.add("checkpoint-tiles", f"{where}: {exc}", checkpoint_id=item.id)
        return
    if from_tiles != root:
        problems.add(
            "checkpoint-tiles",
            f"{where}: the stored tiles give root {from_tiles.hex()}, "
            f"the checkpoint signed {root.hex()}",
            checkpoint_id=item.id,
        )


def _check_pair(
    store: SqlTileStore, old: Signed, new: Signed, log_size: int, problems: Problems
) -> None:
    a, b = old.checkpoint, new.checkpoint
    pair = f"checkpoints #{old.id} (size {a.size}) and #{new.id} (size {b.size})"
    if a.size == b.size:
        if a.root != b.root:
            problems.add(
                "fork",
                f"{pair} have the same size and different roots: the node signed a fork",
                checkpoint_id=new.id,
            )
        return
    if a.size == 0 or b.size > log_size:
        return  # nothing to prove from an empty tree; a truncated log is reported already
    try:
        proof = tiles.consistency_proof(store, a.size, b.size)
        merkle.verify_consistency(a.size, b.size, proof, a.root, b.root)
    except CardtraceError as exc:
        problems.add(
            "consistency",
            f"{pair}: the consistency proof fails: {exc}",
            checkpoint_id=new.id,
        )


# --- 5. cosignatures ------------------------------------------------------------------


def check_cosignatures(
    signed: Sequence[Signed],
    lines: Mapping[int, Sequence[records.StoredCosignature]],
    witnesses: Sequence[Verifier],
    problems: Problems,
) -> None:
    """Stored cosignatures by trusted witnesses must still verify over their checkpoint."""
    known = {(w.name, w.key_id.hex()): w for w in witnesses}
    for item in signed:
        text = item.checkpoint.format()
        for row in lines.get(item.id, ()):
            verifier = known.get((row.witness, row.key_id))
            if verifier is None:
                continue  # no longer trusted: nothing to check it with
            try:
                verify_cosignature(text, row.line, verifier)
            except CardtraceError as exc:
                problems.add(
                    "cosignature",
                    f"checkpoint #{item.id} (size {item.checkpoint.size}): the stored "
                    f"cosignature by {row.witness} does not verify: {exc}",
                    checkpoint_id=item.id,
                )
