"""Erasures: storing a ``record.erased`` event deletes its target's sealed personal data.

A node that erased a record's personal data (its retention ended, the subject asked, a
court ordered it) sends an erasure naming the record's event id. Storing it sets that
event's ``protected`` column (the sealed values and their salts) to null, in the same
transaction, so the commitments in the event's leaf can no longer be opened while the
leaf, the Merkle log and every proof over them stay as they were (docs/ledger.md). A node
erases only its own records: an erasure naming another node's event erases nothing.

The event may come later than its erasure (files read in another order, a later
export): the erasure then waits in ``erasures`` with no outcome, and the append that
stores the event erases it. The audit checks the events' sealed data against the log's
own ``record.erased`` leaves, and this table against them too (the rows a rebuild makes,
:func:`derived_erasure_rows`, by the rule appends apply). A dry run counts what its
erasures would do, and changes nothing (:class:`DryErasing`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, func, insert, select, union_all, update

from cardtrace.store.rows import EventBatch
from cardtrace.store.schema import EVENT_ID_TABLES, erasures, events

__all__ = [
    "ERASED",
    "OTHER_NODE",
    "WAITING",
    "DryErasing",
    "Erased",
    "Erasing",
    "ErasureRow",
    "Located",
    "derived_erasure_rows",
    "erasure_rows",
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


class _Erasures:
    """The erasures whose event is not stored yet, and what the next batch does to them:
    what :class:`Erasing` writes and :class:`DryErasing` only counts."""

    def __init__(self, connection: Connection) -> None:
        #: Erasures whose event is not stored: its id -> (erasure seq, erasing node).
        self._waiting: dict[bytes, list[tuple[int, str]]] = {}
        query = select(erasures.c.target_id, erasures.c.seq, erasures.c.node_id).where(
            erasures.c.outcome.is_(None)
        )
        for target, seq, node in connection.execute(query):
            self._waiting.setdefault(bytes(target), []).append((seq, node))

    @property
    def waiting(self) -> int:
        """Erasures still waiting for their event."""
        return sum(len(waiting) for waiting in self._waiting.values())

    def _candidates(
        self, first_seq: int, batch: EventBatch
    ) -> tuple[list[tuple[int, str, bytes]], list[bytes]]:
        """The erasures of ``batch``, stored from ``first_seq`` on, as (seq, node, target),
        now waiting too; and the event ids that may have a waiting erasure to apply."""
        if not self._waiting and batch.erases.count(None) == len(batch.erases):
            return [], []  # the common case, told at C speed
        new = [
            (first_seq + position, node, target)
            for position, (target, node) in enumerate(
                zip(batch.erases, batch.node_ids, strict=True)
            )
            if target is not None
        ]
        candidates = self._waiting.keys() & set(batch.event_ids)
        for seq, node, target in new:
            self._waiting.setdefault(target, []).append((seq, node))
            candidates.add(target)
        return new, sorted(candidates)

    def _outcomes(self, owners: Mapping[bytes, str]) -> list[tuple[int, bytes, str]]:
        """The waiting erasures of the stored events ``owners`` (event id -> its node) as
        (erasure seq, event id, outcome), no longer waiting."""
        return [
            (erasure_seq, target, _outcome(node, owner))
            for target, owner in owners.items()
            for erasure_seq, node in self._waiting.pop(target, [])
        ]


class Erasing(_Erasures):
    """The erasures of one write transaction, applied as each batch is stored."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        self._connection = connection

    def stored(self, first_seq: int, batch: EventBatch) -> Erased:
        """Record the erasures of ``batch``, stored from ``first_seq`` on, and apply every
        erasure whose event is now stored."""
        new, candidates = self._candidates(first_seq, batch)
        if new:
            rows = [{"seq": seq, "node_id": node, "target_id": target} for seq, node, target in new]
            self._connection.execute(insert(erasures), rows)
        if not candidates:
            return Erased()
        found = located(self._connection, candidates)
        outcomes = self._outcomes({target: event.node_id for target, event in found.items()})
        cleared = [{"t": found[target].seq} for _, target, outcome in outcomes if outcome == ERASED]
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
                [{"e": e, "t": found[target].seq, "o": o} for e, target, o in outcomes],
            )
        return Erased(len(cleared), len(outcomes) - len(cleared))


class DryErasing(_Erasures):
    """What the erasures of a dry run would do, changing nothing: the erasures waiting in
    the database when it began, then those of the batches it would store."""

    def stored(
        self, first_seq: int, batch: EventBatch, owners: Callable[[list[bytes]], dict[bytes, str]]
    ) -> Erased:
        """What storing ``batch`` from ``first_seq`` on would erase; ``owners`` gives the
        node of each stored or would-be stored event among the ids it is given (``batch``'s
        own included)."""
        _, candidates = self._candidates(first_seq, batch)
        if not candidates:
            return Erased()
        outcomes = [outcome for _, _, outcome in self._outcomes(owners(candidates))]
        erased = outcomes.count(ERASED)
        return Erased(erased, len(outcomes) - erased)


def _outcome(erasing: str, owner: str) -> str:
    """What an erasure by node ``erasing`` does to a stored event of node ``owner``."""
    return ERASED if erasing == owner else OTHER_NODE


class ErasureRow(NamedTuple):
    """A row of ``erasures``: whose erasure, of which event, and what it did (where the
    event is stored, and ``ERASED`` or ``OTHER_NODE``; both None while it waits)."""

    node_id: str
    target_id: bytes
    target_seq: int | None
    outcome: str | None


def erasure_rows(connection: Connection) -> dict[int, ErasureRow]:
    """Every stored erasure by its seq."""
    query = select(
        erasures.c.seq,
        erasures.c.node_id,
        erasures.c.target_id,
        erasures.c.target_seq,
        erasures.c.outcome,
    )
    return {
        int(seq): ErasureRow(str(node), bytes(target), target_seq, outcome)
        for seq, node, target, target_seq, outcome in connection.execute(query)
    }


def derived_erasure_rows(
    stored: Sequence[tuple[int, str, bytes]], found: Mapping[bytes, Located]
) -> dict[int, ErasureRow]:
    """The rows ``erasures`` must hold for the erasure events ``stored`` (seq, erasing
    node, target event id), given where their targets are stored (``found``, as
    :func:`located` gives it): the same rule appends apply."""
    rows = {}
    for seq, node, target in stored:
        event = found.get(target)
        if event is None:
            rows[seq] = ErasureRow(node, target, None, None)
        else:
            rows[seq] = ErasureRow(node, target, event.seq, _outcome(node, event.node_id))
    return rows


class Located(NamedTuple):
    """Where a stored event is, whose it is, and whether it holds sealed personal data."""

    seq: int
    node_id: str
    sealed: bool


def located(
    connection: Connection, ids: Sequence[bytes], *, by_index: bool = True
) -> dict[bytes, Located]:
    """The stored ones of ``ids``, found through the id index (merged or queued), or,
    with ``by_index`` false, by reading every event row: the audit's way when the id
    index is not what the events make, so that an edited index cannot make an event look
    erased or not."""
    found: dict[bytes, Located] = {}
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        columns = (events.c.seq, events.c.node_id, events.c.protected.is_not(None))
        if by_index:
            indexed = union_all(
                *(
                    select(table.c.event_id, table.c.seq).where(table.c.event_id.in_(chunk))
                    for table in EVENT_ID_TABLES
                )
            ).subquery()
            # The event row must hold the id too: an index row leading elsewhere (an
            # edit) finds nothing, so an erasure never deletes another event's data.
            held = (events.c.seq == indexed.c.seq) & (events.c.event_id == indexed.c.event_id)
            query = select(indexed.c.event_id, *columns).join(events, held)
        else:
            query = select(events.c.event_id, *columns).where(events.c.event_id.in_(chunk))
        for event_id, seq, node, sealed in connection.execute(query):
            found[bytes(event_id)] = Located(seq, node, bool(sealed))
    return found


def outcome_counts(connection: Connection) -> dict[str, int]:
    """Stored erasures by what they did: ``erased``, ``other_node``, and ``waiting`` for
    their event."""
    query = select(erasures.c.outcome, func.count()).group_by(erasures.c.outcome)
    found = {outcome or WAITING: int(n) for outcome, n in connection.execute(query)}
    return {outcome: found.get(outcome, 0) for outcome in (ERASED, OTHER_NODE, WAITING)}
