"""Events ready to store, as protection makes them and the store appends them.

Kept apart from :mod:`cardtrace.store.database` so that worker processes, which make
rows but never open a database, do not import SQLAlchemy and Alembic (~40 MiB each).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Self

from cardtrace.ledger import merkle

__all__ = ["EVENT_COLUMNS", "EventBatch", "EventRow", "Tallies", "Tally"]


class EventRow(NamedTuple):
    """An event ready to store: nothing personal in clear, tokens computed."""

    event_id: bytes
    node_id: str
    type: str
    occurred_us: int
    leaf: bytes
    protected: bytes | None
    links: tuple[tuple[bytes, str], ...]
    #: Keyed digest of the record as sent: a re-send matches it, a changed record not.
    content: bytes | None = None
    #: For an erasure (``record.erased``): the id of the event whose personal data it erases.
    erases: bytes | None = None


@dataclass(slots=True)
class EventBatch:
    """Events ready to store, column by column, each with the hash of its ledger leaf.

    Columns, because batches cross from worker processes by pickle: a few lists of bytes
    and strings pickle and unpickle in a fraction of the time one object per event takes
    (docs/performance.md). The leaf hash is taken as a row is added, so it is computed
    where the row is made, in the workers.
    """

    event_ids: list[bytes] = field(default_factory=list)
    node_ids: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    occurred_us: list[int] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)
    leaf_hashes: list[bytes] = field(default_factory=list)
    protected: list[bytes | None] = field(default_factory=list)
    contents: list[bytes | None] = field(default_factory=list)
    erases: list[bytes | None] = field(default_factory=list)
    #: One entry per link row: the position of its event in the batch, token and field.
    link_positions: list[int] = field(default_factory=list)
    link_tokens: list[bytes] = field(default_factory=list)
    link_fields: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, rows: Iterable[EventRow]) -> Self:
        batch = cls()
        for row in rows:
            batch.add(row)
        return batch

    def __len__(self) -> int:
        return len(self.event_ids)

    def add(self, row: EventRow) -> None:
        position = len(self.event_ids)
        self.event_ids.append(row.event_id)
        self.node_ids.append(row.node_id)
        self.types.append(row.type)
        self.occurred_us.append(row.occurred_us)
        self.leaves.append(row.leaf)
        self.leaf_hashes.append(merkle.leaf_hash(row.leaf))
        self.protected.append(row.protected)
        self.contents.append(row.content)
        self.erases.append(row.erases)
        for token, name in row.links:
            self.link_positions.append(position)
            self.link_tokens.append(token)
            self.link_fields.append(name)

    def select(self, positions: Sequence[int]) -> EventBatch:
        """The events at ``positions`` (ascending), with their links, as a new batch."""
        chosen = EventBatch()
        new_position = {old: new for new, old in enumerate(positions)}
        for name in EVENT_COLUMNS:
            column = getattr(self, name)
            setattr(chosen, name, [column[position] for position in positions])
        for old, token, name in zip(
            self.link_positions, self.link_tokens, self.link_fields, strict=True
        ):
            if old in new_position:
                chosen.link_positions.append(new_position[old])
                chosen.link_tokens.append(token)
                chosen.link_fields.append(name)
        return chosen


#: The columns with one entry per event (the others have one per link row).
EVENT_COLUMNS = tuple(
    name for name in EventBatch.__dataclass_fields__ if not name.startswith("link_")
)


class Tally(NamedTuple):
    """The stored events of one node and type: how many, and the span of their times."""

    events: int
    #: The earliest and the latest ``occurred_us`` among them.
    first_us: int
    last_us: int

    def joined(self, other: Tally | None) -> Tally:
        """The tally of these events and ``other``'s together."""
        if other is None:
            return self
        return Tally(
            self.events + other.events,
            min(self.first_us, other.first_us),
            max(self.last_us, other.last_us),
        )


class Tallies:
    """Events counted by (node id, type) with the span of their times, as appended.

    The writer keeps one per transaction and adds it to ``event_counts``; the audit
    keeps one over every event row and compares the two.
    """

    __slots__ = ("_by_key",)

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], list[int]] = {}

    def add(self, node_id: str, kind: str, occurred_us: int) -> None:
        """Count one event of node ``node_id`` and type ``kind``."""
        kept = self._by_key.get((node_id, kind))
        if kept is None:
            self._by_key[node_id, kind] = [1, occurred_us, occurred_us]
            return
        kept[0] += 1
        if occurred_us < kept[1]:
            kept[1] = occurred_us
        elif occurred_us > kept[2]:
            kept[2] = occurred_us

    def add_batch(self, batch: EventBatch) -> None:
        """Count every event of ``batch``."""
        for node_id, kind, occurred_us in zip(
            batch.node_ids, batch.types, batch.occurred_us, strict=True
        ):
            self.add(node_id, kind, occurred_us)

    def by_key(self) -> dict[tuple[str, str], Tally]:
        """Each (node id, type) counted, with its tally."""
        return {key: Tally(*kept) for key, kept in self._by_key.items()}
