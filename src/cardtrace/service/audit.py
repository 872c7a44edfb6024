"""``cardtrace verify``: audit a node's events, tiles and checkpoints against each other.

Three views of one log must agree: the event rows (their canonical bytes), the hash tiles
and state, and the signed checkpoints. The audit reads them in one consistent snapshot:

1. every checkpoint's signature, and that its note says what its row says;
2. the events in log order, page by page (constant memory): each row's bytes must hash to
   the tiles' leaf at its ``seq``, its columns must agree with its bytes, and no ``seq``
   may be missing or lie beyond the log. A mismatch is attributed with the latest valid
   checkpoint covering it: whichever of the two hashes that checkpoint proves (by an
   inclusion proof from the tiles) is the original, so the other side was changed;
3. the tree is rebuilt twice as the rows stream by: from the events' own hashes, giving
   the root at every checkpoint's size; and from the stored leaves, through the same
   tile code the node writes with, comparing every upper tile and the state it produces
   with the stored ones;
4. every checkpoint's root must equal both the events' root and the stored tiles' root
   at its size, two checkpoints of one size must have one root (else a fork), and each
   checkpoint must be consistent with the next larger one (RFC 6962 consistency proof);
5. the stored cosignatures of trusted witnesses must verify over their checkpoints.
6. the counts of events per node and type kept for statistics, and the span of their
   times, must equal the rows';
7. each event's sealed personal data must open under the node's key and its own id (a
   blob moved from another event does not), each opening must match its commitment in
   the leaf, and the keyed digest of the record as sent (``content``) must be the one
   the leaf and the openings give, so a changed digest cannot hide a changed record;
   and no clear field of the leaf may hold one of the opened personal values (a record
   stored before ingest refused such records). An event may hold no sealed data only
   where the log holds its node's erasure of it (``record.erased``), and an event its
   node erased must hold none;
8. the id index must lead to every event and only to events (a re-send of an event it
   misses would be stored twice);
9. the link index (merged and queued) must hold exactly the links each event's leaf
   makes, no more, no fewer: a missing row hides an event from a lookup by card, PIN,
   person, account, device or party, an extra one ties an event to one it does not
   concern. Both sides are summed as a multiset hash per range of 65,536 events, so the
   check reads each side once, in constant memory; the first ranges that differ are read
   again to name each event whose rows differ and the fields of the rows concerned.

Each problem names the event (``seq`` and id), tile or checkpoint it concerns.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import orjson

from cardtrace.crypto.tokens import Tokenizer
from cardtrace.crypto.vault import Vault
from cardtrace.domain.canonical import canonical_bytes_of_valid, format_us
from cardtrace.domain.events import EVENT_ID_PATTERN, EVENT_MODELS, hidden_in_clear
from cardtrace.errors import CardtraceError, TamperDetected
from cardtrace.ingest.protect import PartyTokens, content_digest, leaf_links
from cardtrace.ledger import merkle, tiles
from cardtrace.ledger.note import (
    Checkpoint,
    Verifier,
    open_note,
    parse_checkpoint,
    verify_cosignature,
)
from cardtrace.service.ledger import checkpoint_verifier, trusted_witnesses
from cardtrace.service.node import Node
from cardtrace.store import checkpoints as records
from cardtrace.store.database import stored_tallies
from cardtrace.store.erasures import located
from cardtrace.store.ledger_sql import SqlTileStore
from cardtrace.store.rows import Tallies, Tally

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = ["AuditReport", "Problem", "verify_node"]

#: Problems kept per kind; beyond it they are only counted (a shifted table would
#: otherwise yield one problem per row and hold them all in memory).
MAX_PER_KIND = 50
#: Leaf hashes handed to the tile rebuild at once.
_BATCH = 4096
#: An event id in the form leaves hold it (an erasure's target may be any text).
_EVENT_ID = re.compile(EVENT_ID_PATTERN)
_TILE_BYTES = tiles.TILE_WIDTH * tiles.HASH_SIZE


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that does not hold, and where."""

    kind: str
    message: str
    seq: int | None = None
    event_id: str | None = None
    checkpoint_id: int | None = None


@dataclass(frozen=True)
class AuditReport:
    """What the audit read and every problem it found (the first ones of each kind)."""

    events: int
    log_size: int
    checkpoints: int
    problems: tuple[Problem, ...]
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.counts


class _Problems:
    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.counts: Counter[str] = Counter()

    def add(
        self,
        kind: str,
        message: str,
        *,
        seq: int | None = None,
        event_id: str | None = None,
        checkpoint_id: int | None = None,
    ) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= MAX_PER_KIND:
            self.kept.append(Problem(kind, message, seq, event_id, checkpoint_id))

    def tally(self, kind: str, count: int) -> None:
        """Count ``count`` more problems of ``kind`` that are not kept (beyond the first)."""
        if count:
            self.counts[kind] += count


@dataclass(frozen=True, slots=True)
class _Signed:
    """A stored checkpoint whose signature verified and whose note matches its row."""

    id: int
    checkpoint: Checkpoint


def verify_node(node: Node) -> AuditReport:
    """Audit the whole node; the report lists every problem found (none: clean)."""
    database = node.database  # before the keys: no database, no key looked for
    keys = node.reading_keys(database)  # makes no key: an audit changes nothing
    tokenizer = Tokenizer(keys.link_key)
    openings = _Openings(tokenizer, Vault(keys.vault_key))
    problems = _Problems()
    with records.snapshot(database) as connection:
        store = SqlTileStore(connection)
        stored_state = store.read_state()
        log_size = stored_state[0] if stored_state else 0
        stored = records.all_checkpoints(connection)
        signed = (
            _check_checkpoint_rows(
                stored, checkpoint_verifier(node), node.settings.log_origin, problems
            )
            if stored
            else []
        )
        replay = _Replay(store, log_size, signed, problems)
        link_index = _LinkIndex(tokenizer)
        for row in records.stream_event_leaves(connection):
            leaf = replay.event(row)
            if leaf is not None:
                openings.check(row, leaf, problems)
            link_index.event(row.seq, leaf)
        replay.finish()
        openings.finish(connection, problems)
        link_index.finish(connection, log_size, problems)
        _check_counts(replay.counted.by_key(), stored_tallies(connection), problems)
        _check_id_index(*records.unindexed_events(connection), problems)
        _check_checkpoints(store, signed, replay.roots, log_size, problems)
        lines = records.cosignatures_of(connection, [item.id for item in signed])
    _check_cosignatures(signed, lines, trusted_witnesses(node), problems)
    return AuditReport(
        replay.rows, log_size, len(stored), tuple(problems.kept), dict(problems.counts)
    )


# --- 1. checkpoint rows ----------------------------------------------------------------


def _check_checkpoint_rows(
    stored: Sequence[records.StoredCheckpoint],
    verifier: Verifier,
    origin: str,
    problems: _Problems,
) -> list[_Signed]:
    signed: list[_Signed] = []
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
        signed.append(_Signed(row.id, checkpoint))
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

    def __init__(self, stored: tiles.TileStore, problems: _Problems) -> None:
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


class _Replay:
    """Everything the audit does per event row, in ``seq`` order."""

    def __init__(
        self, store: SqlTileStore, log_size: int, signed: Sequence[_Signed], problems: _Problems
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
        event_id = str(uuid.UUID(bytes=row.event_id)) if len(row.event_id) == 16 else "?"
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
        leaf = _parsed(row.leaf)
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


def _parsed(leaf_bytes: bytes) -> dict[str, Any] | None:
    """A leaf's fields; None for bytes that are not a leaf (the leaf hash judges those)."""
    try:
        leaf = orjson.loads(leaf_bytes)
    except orjson.JSONDecodeError:
        return None
    return leaf if isinstance(leaf, dict) else None


def _check_columns(
    row: records.EventLeaf, leaf: dict[str, Any], event_id: str, problems: _Problems
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


class _Openings:
    """Checks an event's sealed personal data and content digest against its leaf, and
    the log's erasures against the sealed data they deleted."""

    def __init__(self, tokenizer: Tokenizer, vault: Vault) -> None:
        self._tokenizer, self._vault = tokenizer, vault
        #: The log's erasures: target event id (text) -> (erasure seq, erasing node).
        self._erasures: dict[str, list[tuple[int, str]]] = {}
        #: Events whose leaf commits to personal fields and whose row holds no sealed
        #: data: right only where the log holds the node's erasure of them, which may
        #: come later in the log. Id -> (seq, node id, committed fields).
        self._unsealed: dict[str, tuple[int, str, list[str]]] = {}

    def check(self, row: records.EventLeaf, leaf: dict[str, Any], problems: _Problems) -> None:
        event_id = str(leaf.get("event_id"))
        where = f"event seq {row.seq} (id {event_id})"
        commitments = leaf.get("commitments") or {}
        if leaf.get("type") == "record.erased":
            target = str(leaf.get("target_event_id"))
            self._erasures.setdefault(target, []).append((row.seq, row.node_id))
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

    def finish(self, connection: Connection, problems: _Problems) -> None:
        """Judge the unsealed events by the erasures, and the erasures by their events."""
        for event_id, (seq, node, fields) in self._unsealed.items():
            if not any(erasing == node for _, erasing in self._erasures.get(event_id, [])):
                problems.add(
                    "protected-missing",
                    f"event seq {seq} (id {event_id}): the leaf commits to personal fields "
                    f"({', '.join(fields)}) and the row holds no sealed data, and the log "
                    "holds no erasure of it by its node",
                    seq=seq,
                    event_id=event_id,
                )
        targets = {
            uuid.UUID(text).bytes: text
            for text in self._erasures.keys() - self._unsealed.keys()
            if _EVENT_ID.fullmatch(text)
        }
        for target, found in located(connection, sorted(targets)).items():
            event_id = targets[target]
            erasing = [seq for seq, node in self._erasures[event_id] if node == found.node_id]
            if found.sealed and erasing:
                problems.add(
                    "erasure-not-applied",
                    f"event seq {found.seq} (id {event_id}): its node recorded its erasure "
                    f"(record.erased, seq {erasing[0]}) and its sealed personal data is "
                    "still stored",
                    seq=found.seq,
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


class _LinkIndex:
    """Check 9: the link rows against the links the events' leaves make.

    Each side is a multiset hash per range of events: the number of its rows and the sum
    of a 128-bit BLAKE2b of each (token, seq, field), modulo 2**128, which an edit,
    insertion or removal of any row changes. Rows of events whose leaf is not the log's
    (reported by check 2) or names no known type are left out of both sides.

    The first ranges that differ (``_NARROWED``) are then read again, event by event, to
    name each event whose rows differ and the fields of the rows it lacks or holds beyond
    its leaf's; any later ones are reported as ranges.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._party_token = PartyTokens(tokenizer)
        self._expected: Counter[int] = Counter()
        self._expected_sums: Counter[int] = Counter()
        self._unchecked: set[int] = set()

    def event(self, seq: int, leaf: dict[str, Any] | None) -> None:
        made = self._made(leaf)
        if made is None:
            self._unchecked.add(seq)
            return
        bucket = seq // _LINK_RANGE
        self._expected[bucket] += len(made)
        self._expected_sums[bucket] += _rows_hash(seq, made)

    def finish(self, connection: Connection, log_size: int, problems: _Problems) -> None:
        """Compare the stored rows with the leaves' (``event`` has seen every leaf)."""
        stored: Counter[int] = Counter()
        stored_sums: Counter[int] = Counter()
        unchecked = self._unchecked
        for token, seq, name in records.stream_link_rows(connection):
            if seq not in unchecked:
                bucket = seq // _LINK_RANGE
                stored[bucket] += 1
                stored_sums[bucket] += _link_hash(token, b"%d\x00" % seq, name)
        differing = [
            bucket
            for bucket in sorted(self._expected.keys() | stored.keys())
            if (stored[bucket], stored_sums[bucket] % _LINK_SUM)
            != (self._expected[bucket], self._expected_sums[bucket] % _LINK_SUM)
        ]
        if differing:
            self._narrow(connection, differing[:_NARROWED], problems)
        for bucket in differing[_NARROWED:]:
            first = bucket * _LINK_RANGE
            last = first + _LINK_RANGE - 1
            if first < log_size:
                last = min(last, log_size - 1)
            held, expected = stored[bucket], self._expected[bucket]
            which = f"{held:,} rows" + (", as many but not the same," if held == expected else "")
            problems.add(
                "link-index",
                f"events seq {first} to {last}: the link index holds {which} where their "
                f"leaves make {expected:,}; a lookup by card, PIN, person, account, device "
                f"or party may miss one of these events, or find one it does not concern "
                f"(only the first {_NARROWED} ranges that differ are narrowed down to events)",
                seq=first,
            )

    def _made(self, leaf: dict[str, Any] | None) -> list[tuple[bytes, str]] | None:
        """The link rows ``leaf`` makes; None for a leaf that names no known type or holds
        tokens that are not hex text."""
        model = None if leaf is None else EVENT_MODELS.get(str(leaf.get("type")))
        if leaf is None or model is None:
            return None
        try:
            return leaf_links(model, leaf, self._party_token)
        except (AttributeError, TypeError, ValueError):
            return None

    def _narrow(self, connection: Connection, buckets: Sequence[int], problems: _Problems) -> None:
        """Report each event of ``buckets`` whose rows differ from its leaf's, in seq order.

        Three more reads, only when the index is wrong: the rows of these ranges summed
        per event, the ranges' leaves, and the rows of the events whose details are kept.
        """
        wanted, unchecked = set(buckets), self._unchecked
        held: dict[int, list[int]] = {}  # seq -> [rows, sum of their hashes]
        for token, seq, name in records.stream_link_rows(connection):
            if seq // _LINK_RANGE in wanted and seq not in unchecked:
                entry = held.setdefault(seq, [0, 0])
                entry[0] += 1
                entry[1] += _link_hash(token, b"%d\x00" % seq, name)
        differing: dict[int, str | None] = {}  # seq -> its event's id, if there is one
        for bucket in buckets:
            first = bucket * _LINK_RANGE
            for row in records.stream_event_leaves(
                connection, first=first, last=first + _LINK_RANGE - 1
            ):
                made = None if row.seq in unchecked else self._made(_parsed(row.leaf))
                if made is None:
                    continue
                rows, total = held.pop(row.seq, (0, 0))
                if rows != len(made) or (total - _rows_hash(row.seq, made)) % _LINK_SUM:
                    differing[row.seq] = _id_text(row.event_id)
        differing.update(dict.fromkeys(held))  # rows of a seq where no event is stored
        ordered = sorted(differing)
        shown = ordered[:MAX_PER_KIND]
        rows_of = _link_rows_at(connection, set(shown))
        for seq in shown:
            event_id = differing[seq]
            makes = Counter(self._leaf_links_at(connection, seq) if event_id else ())
            message = _link_problem(seq, event_id, makes, rows_of.get(seq, Counter()))
            problems.add("link-index", message, seq=seq, event_id=event_id)
        problems.tally("link-index", len(ordered) - len(shown))

    def _leaf_links_at(self, connection: Connection, seq: int) -> list[tuple[bytes, str]]:
        (row,) = records.stream_event_leaves(connection, first=seq, last=seq)
        return self._made(_parsed(row.leaf)) or []


#: Events per range the link check sums and reports on.
_LINK_RANGE = 1 << 16
_LINK_SUM = 1 << 128
#: Ranges of differing link rows the link check narrows down to events.
_NARROWED = 4


def _link_hash(token: bytes, seq_mark: bytes, name: str) -> int:
    """A link row's 128-bit hash; ``seq_mark`` is its seq as decimal digits and a NUL.

    The token's length goes before it, so no two rows are hashed from the same bytes
    (with a separator alone, a NUL in an edited field would let one row pass for another).
    """
    encoded = seq_mark + b"%d\x00" % len(token) + token + name.encode()
    return int.from_bytes(hashlib.blake2b(encoded, digest_size=16).digest(), "big")


def _link_rows_at(connection: Connection, seqs: set[int]) -> dict[int, Counter[tuple[bytes, str]]]:
    """The link rows (token, field) stored at each of ``seqs``."""
    rows: dict[int, Counter[tuple[bytes, str]]] = {}
    if seqs:
        for token, seq, name in records.stream_link_rows(connection):
            if seq in seqs:
                rows.setdefault(seq, Counter())[token, name] += 1
    return rows


def _rows_hash(seq: int, made: Iterable[tuple[bytes, str]]) -> int:
    mark = b"%d\x00" % seq
    return sum(_link_hash(token, mark, name) for token, name in made)


def _id_text(event_id: bytes) -> str:
    return str(uuid.UUID(bytes=event_id)) if len(event_id) == 16 else "?"


def _link_problem(
    seq: int,
    event_id: str | None,
    made: Counter[tuple[bytes, str]],
    stored: Counter[tuple[bytes, str]],
) -> str:
    """What the link rows of one event lack and hold beyond what its leaf makes."""
    if event_id is None:
        rows, them = _rows(stored)
        return (
            f"seq {seq}, where no event is stored: the link index holds {rows}, so a lookup "
            f"by {them} finds an event that is not there"
        )
    said = []
    if missing := made - stored:
        rows, them = _rows(missing)
        said.append(f"lacks {rows} its leaf makes, so a lookup by {them} misses the event")
    if extra := stored - made:
        rows, them = _rows(extra)
        said.append(
            f"holds {rows} its leaf does not make, so a lookup by {them} finds the event "
            "where it does not belong"
        )
    return f"event seq {seq} (id {event_id}): the link index " + "; and it ".join(said)


def _rows(rows: Counter[tuple[bytes, str]]) -> tuple[str, str]:
    """``rows`` counted by field ("1 row (card)", "3 rows (card, merchant_id ×2)"), and
    the pronoun for them."""
    fields: Counter[str] = Counter()
    for (_, name), count in rows.items():
        fields[name] += count
    named = ", ".join(
        name if count == 1 else f"{name} ×{count}" for name, count in sorted(fields.items())
    )
    total = fields.total()
    return (f"1 row ({named})", "it") if total == 1 else (f"{total} rows ({named})", "them")


def _check_id_index(unindexed: int, stray: int, problems: _Problems) -> None:
    """The id index must lead to every event and to nothing else."""
    if unindexed:
        problems.add(
            "id-index",
            f"{unindexed:,} events are missing from the id index: a re-send of one would "
            "be stored a second time",
        )
    if stray:
        problems.add(
            "id-index",
            f"{stray:,} rows of the id index lead to no event with that id: a re-send of "
            "such an event would be taken as already stored",
        )


def _check_counts(
    counted: Mapping[tuple[str, str], Tally],
    stored: Mapping[tuple[str, str], Tally],
    problems: _Problems,
) -> None:
    """``event_counts`` must hold what counting the event rows gives, and their span."""
    for node, kind in sorted(counted.keys() | stored.keys()):
        rows, kept = counted.get((node, kind)), stored.get((node, kind))
        if rows is None or kept is None or rows.events != kept.events:
            problems.add(
                "count-changed",
                f"event_counts says {kept.events if kept else 0:,} events of type {kind} "
                f"from node {node}; the event rows hold {rows.events if rows else 0:,}",
            )
        elif (rows.first_us, rows.last_us) != (kept.first_us, kept.last_us):
            problems.add(
                "count-changed",
                f"event_counts says the events of type {kind} from node {node} occurred "
                f"from {format_us(kept.first_us)} to {format_us(kept.last_us)}; the event "
                f"rows span {format_us(rows.first_us)} to {format_us(rows.last_us)}",
            )


# --- 4. checkpoints against the trees and each other -----------------------------------


def _check_checkpoints(
    store: SqlTileStore,
    signed: Sequence[_Signed],
    event_roots: Mapping[int, bytes],
    log_size: int,
    problems: _Problems,
) -> None:
    ordered = sorted(signed, key=lambda s: (s.checkpoint.size, s.id))
    for item in ordered:
        _check_against_log(store, item, event_roots, log_size, problems)
    for old, new in pairwise(ordered):
        _check_pair(store, old, new, log_size, problems)


def _check_against_log(
    store: SqlTileStore,
    item: _Signed,
    event_roots: Mapping[int, bytes],
    log_size: int,
    problems: _Problems,
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
    store: SqlTileStore, old: _Signed, new: _Signed, log_size: int, problems: _Problems
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


def _check_cosignatures(
    signed: Sequence[_Signed],
    lines: Mapping[int, Sequence[records.StoredCosignature]],
    witnesses: Sequence[Verifier],
    problems: _Problems,
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
