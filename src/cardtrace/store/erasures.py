"""Erasures: storing a ``record.erased`` event deletes its target's sealed personal data.

A node that erased a record's personal data (its retention ended, the subject asked, a
court ordered it) sends an erasure naming the record's event id. Storing it sets that
event's ``protected`` column (the sealed values and their salts) to null, in the same
transaction, so the commitments in the event's leaf can no longer be opened while the
leaf, the Merkle log and every proof over them stay as they were (docs/ledger.md). A node
erases only its own records: an erasure naming another node's event erases nothing.

The event may come later than its erasure (files read in another order, a later
export): the erasure then waits in ``erasures`` with no outcome, and the append that
stores the event erases it. The audit checks erasures against the log's own
``record.erased`` leaves, not against this table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, func, insert, select, union_all, update

from cardtrace.store.rows import EventBatch
from cardtrace.store.schema import EVENT_ID_TABLES, erasures, events

__all__ = [
    "ERASED",
    "OTHER_NODE",
    "WAITING",
    "Erased",
    "Erasing",
    "Located",
    "located",
    "outcome_counts",
]

#: ``erasures.outcome``: the event's sealed personal data was deleted.
ERASED = "erased"
#: ``erasures.outcome``: the event is another node's, so nothing was deleted.
OTHER_NODE = "other_node"
#: An erasure whose event is not stored yet (``erasures.outcome`` null).
WAITING = "waiting"
#: Ids looked up per query: each is bound twice (merged ids and the queue), and SQLite
#: binds at most 32,766 values a statement as built by default (Debian's: 250,000).
_LOOKUP_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class Erased:
    """What storing a batch did by its erasures and the waiting ones."""

    #: Events whose sealed personal data was deleted.
    erased: int = 0
    #: Erasures naming another node's event, which erase nothing.
    other_node: int = 0


class Erasing:
    """The erasures of one write transaction, applied as each batch is stored."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        #: Erasures whose event is not stored: its id -> (erasure seq, erasing node).
        self._waiting: dict[bytes, list[tuple[int, str]]] = {}
        query = select(erasures.c.target_id, erasures.c.seq, erasures.c.node_id).where(
            erasures.c.outcome.is_(None)
        )
        for target, seq, node in connection.execute(query):
            self._waiting.setdefault(bytes(target), []).append((seq, node))

    def stored(self, first_seq: int, batch: EventBatch) -> Erased:
        """Record the erasures of ``batch``, stored from ``first_seq`` on, and apply every
        erasure whose event is now stored."""
        if not self._waiting and batch.erases.count(None) == len(batch.erases):
            return Erased()  # the common case, told at C speed
        new = [
            (first_seq + position, node, target)
            for position, (target, node) in enumerate(
                zip(batch.erases, batch.node_ids, strict=True)
            )
            if target is not None
        ]
        if new:
            rows = [{"seq": seq, "node_id": node, "target_id": target} for seq, node, target in new]
            self._connection.execute(insert(erasures), rows)
        candidates = self._waiting.keys() & set(batch.event_ids)
        for seq, node, target in new:
            self._waiting.setdefault(target, []).append((seq, node))
            candidates.add(target)
        return self._apply(located(self._connection, sorted(candidates)))

    def _apply(self, found: dict[bytes, Located]) -> Erased:
        outcomes: list[dict[str, object]] = []
        cleared: list[dict[str, object]] = []
        for target, (target_seq, owner, _) in found.items():
            for erasure_seq, node in self._waiting.pop(target, []):
                outcome = ERASED if node == owner else OTHER_NODE
                outcomes.append({"e": erasure_seq, "t": target_seq, "o": outcome})
                if outcome == ERASED:
                    cleared.append({"t": target_seq})
        if cleared:
            self._connection.execute(
                update(events).where(events.c.seq == bindparam("t")).values(protected=None),
                cleared,
            )
        if outcomes:
            self._connection.execute(
                update(erasures)
                .where(erasures.c.seq == bindparam("e"))
                .values(target_seq=bindparam("t"), outcome=bindparam("o")),
                outcomes,
            )
        return Erased(len(cleared), len(outcomes) - len(cleared))


class Located(NamedTuple):
    """Where a stored event is, whose it is, and whether it holds sealed personal data."""

    seq: int
    node_id: str
    sealed: bool


def located(connection: Connection, ids: Sequence[bytes]) -> dict[bytes, Located]:
    """The stored ones of ``ids``, found through the id index (merged or queued)."""
    found: dict[bytes, Located] = {}
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        indexed = union_all(
            *(
                select(table.c.event_id, table.c.seq).where(table.c.event_id.in_(chunk))
                for table in EVENT_ID_TABLES
            )
        ).subquery()
        query = select(
            indexed.c.event_id, events.c.seq, events.c.node_id, events.c.protected.is_not(None)
        ).join(events, events.c.seq == indexed.c.seq)
        for event_id, seq, node, sealed in connection.execute(query):
            found[bytes(event_id)] = Located(seq, node, bool(sealed))
    return found


def outcome_counts(connection: Connection) -> dict[str, int]:
    """Stored erasures by what they did: ``erased``, ``other_node``, and ``waiting`` for
    their event."""
    query = select(erasures.c.outcome, func.count()).group_by(erasures.c.outcome)
    found = {outcome or WAITING: int(n) for outcome, n in connection.execute(query)}
    return {outcome: found.get(outcome, 0) for outcome in (ERASED, OTHER_NODE, WAITING)}
