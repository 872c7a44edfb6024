"""Queries of the ledger's records: checkpoints, their cosignatures, what this node witnessed.

Also the audit's read path: every event's leaf in log order, in pages, so the audit
runs in constant memory. Every function runs on the caller's connection and never
commits; the service owns transactions (``Database.transaction`` to write,
:func:`snapshot` to read a consistent view).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, Table, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from cardtrace.errors import ConfigurationError
from cardtrace.store.schema import (
    EVENT_ID_TABLES,
    checkpoints,
    cosignatures,
    event_id_queue,
    event_ids,
    events,
    link_queue,
    links,
    witnessed,
)

if TYPE_CHECKING:
    from cardtrace.store.database import Database

__all__ = [
    "EventLeaf",
    "IdIndexGaps",
    "StoredCheckpoint",
    "StoredCosignature",
    "WitnessedState",
    "all_checkpoints",
    "checkpoint_covering",
    "cosignatures_of",
    "id_index_gaps",
    "insert_checkpoint",
    "insert_cosignature",
    "insert_witnessed",
    "latest_checkpoint",
    "latest_witnessed",
    "snapshot",
    "stream_event_leaves",
    "stream_id_rows",
    "stream_link_rows",
]

#: Events read per query by :func:`stream_event_leaves`.
PAGE_SIZE = 2048


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A signed checkpoint as stored: ``note`` is the signed note, byte for byte."""

    id: int
    size: int
    root: bytes
    note: str
    created_at: str


@dataclass(frozen=True, slots=True)
class StoredCosignature:
    """A witness's cosignature line of one stored checkpoint."""

    checkpoint_id: int
    witness: str
    key_id: str
    line: str
    cosigned_at: int
    added_at: str


@dataclass(frozen=True, slots=True)
class WitnessedState:
    """One checkpoint of another log that this node cosigned as a witness."""

    origin: str
    size: int
    root: bytes
    checkpoint: str
    cosignature: str
    cosigned_at: int


class EventLeaf(NamedTuple):
    """The columns of an event row the audit compares with its leaf."""

    seq: int
    event_id: bytes
    node_id: str
    type: str
    occurred_us: int
    leaf: bytes
    protected: bytes | None
    content: bytes | None


@contextmanager
def snapshot(database: Database) -> Iterator[Connection]:
    """A read transaction that sees one consistent state of the whole database."""
    try:
        with database.engine.connect() as opened:
            connection = opened
            if opened.dialect.name == "postgresql":
                connection = opened.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection
    except SQLAlchemyError as exc:
        raise ConfigurationError(f"database error: {str(exc).splitlines()[0]}") from None


# --- checkpoints ----------------------------------------------------------------------

_CHECKPOINT_COLUMNS = (
    checkpoints.c.id,
    checkpoints.c.size,
    checkpoints.c.root,
    checkpoints.c.note,
    checkpoints.c.created_at,
)


def _checkpoint(id_: int, size: int, root: bytes, note: str, created_at: str) -> StoredCheckpoint:
    return StoredCheckpoint(int(id_), int(size), bytes(root), note, created_at)


def insert_checkpoint(
    connection: Connection, size: int, root: bytes, note: str, created_at: str
) -> StoredCheckpoint:
    """Store a signed checkpoint; return it with its id."""
    values = {"size": size, "root": root, "note": note, "created_at": created_at}
    result = connection.execute(insert(checkpoints).values(values).returning(checkpoints.c.id))
    return StoredCheckpoint(int(result.scalar_one()), size, root, note, created_at)


def latest_checkpoint(connection: Connection) -> StoredCheckpoint | None:
    """The checkpoint stored last."""
    query = select(*_CHECKPOINT_COLUMNS).order_by(checkpoints.c.id.desc()).limit(1)
    row = connection.execute(query).first()
    return None if row is None else _checkpoint(*row)


def checkpoint_covering(connection: Connection, seq: int) -> StoredCheckpoint | None:
    """The checkpoint stored last among those whose tree holds leaf ``seq``."""
    query = (
        select(*_CHECKPOINT_COLUMNS)
        .where(checkpoints.c.size > seq)
        .order_by(checkpoints.c.id.desc())
        .limit(1)
    )
    row = connection.execute(query).first()
    return None if row is None else _checkpoint(*row)


def all_checkpoints(connection: Connection) -> list[StoredCheckpoint]:
    """Every stored checkpoint, oldest first (a node makes a few a day, not millions)."""
    query = select(*_CHECKPOINT_COLUMNS).order_by(checkpoints.c.id)
    return [_checkpoint(*row) for row in connection.execute(query)]


# --- cosignatures ---------------------------------------------------------------------


def insert_cosignature(connection: Connection, cosignature: StoredCosignature) -> bool:
    """Store a cosignature; False if this witness key already cosigned that checkpoint."""
    exists = select(cosignatures.c.id).where(
        cosignatures.c.checkpoint_id == cosignature.checkpoint_id,
        cosignatures.c.witness == cosignature.witness,
        cosignatures.c.key_id == cosignature.key_id,
    )
    if connection.execute(exists).first() is not None:
        return False
    values = {
        "checkpoint_id": cosignature.checkpoint_id,
        "witness": cosignature.witness,
        "key_id": cosignature.key_id,
        "line": cosignature.line,
        "cosigned_at": cosignature.cosigned_at,
        "added_at": cosignature.added_at,
    }
    connection.execute(insert(cosignatures).values(values))
    return True


def cosignatures_of(
    connection: Connection, checkpoint_ids: Sequence[int]
) -> dict[int, list[StoredCosignature]]:
    """The stored cosignatures of each given checkpoint, oldest first."""
    found: dict[int, list[StoredCosignature]] = {id_: [] for id_ in checkpoint_ids}
    if not checkpoint_ids:
        return found
    query = (
        select(
            cosignatures.c.checkpoint_id,
            cosignatures.c.witness,
            cosignatures.c.key_id,
            cosignatures.c.line,
            cosignatures.c.cosigned_at,
            cosignatures.c.added_at,
        )
        .where(cosignatures.c.checkpoint_id.in_(list(checkpoint_ids)))
        .order_by(cosignatures.c.id)
    )
    for id_, witness, key_id, line, cosigned_at, added_at in connection.execute(query):
        found[int(id_)].append(
            StoredCosignature(int(id_), witness, key_id, line, int(cosigned_at), added_at)
        )
    return found


# --- witnessing -----------------------------------------------------------------------


def latest_witnessed(connection: Connection, origin: str) -> WitnessedState | None:
    """The largest checkpoint of ``origin`` this node cosigned (the last one, on ties)."""
    query = (
        select(
            witnessed.c.origin,
            witnessed.c.size,
            witnessed.c.root,
            witnessed.c.checkpoint,
            witnessed.c.cosignature,
            witnessed.c.cosigned_at,
        )
        .where(witnessed.c.origin == origin)
        .order_by(witnessed.c.size.desc(), witnessed.c.id.desc())
        .limit(1)
    )
    row = connection.execute(query).first()
    if row is None:
        return None
    origin_, size, root, checkpoint, cosignature, cosigned_at = row
    return WitnessedState(
        origin_, int(size), bytes(root), checkpoint, cosignature, int(cosigned_at)
    )


def insert_witnessed(connection: Connection, state: WitnessedState) -> None:
    """Record a checkpoint this node just cosigned."""
    values = {
        "origin": state.origin,
        "size": state.size,
        "root": state.root,
        "checkpoint": state.checkpoint,
        "cosignature": state.cosignature,
        "cosigned_at": state.cosigned_at,
    }
    connection.execute(insert(witnessed).values(values))


# --- the audit's read path ------------------------------------------------------------


def stream_event_leaves(
    connection: Connection, page: int = PAGE_SIZE, *, first: int = 0, last: int | None = None
) -> Iterator[EventLeaf]:
    """Every event row in ``seq`` order, or those from ``first`` to ``last``, read
    ``page`` rows at a time (keyset paging).

    Keyset paging instead of a server-side cursor: it holds one page in memory on every
    backend, and the caller may run other queries on the same connection between pages.
    """
    columns = (
        events.c.seq,
        events.c.event_id,
        events.c.node_id,
        events.c.type,
        events.c.occurred_us,
        events.c.leaf,
        events.c.protected,
        events.c.content,
    )
    after = first - 1
    while True:
        query = select(*columns).where(events.c.seq > after).order_by(events.c.seq).limit(page)
        if last is not None:
            query = query.where(events.c.seq <= last)
        rows = [_event_leaf(tuple(row)) for row in connection.execute(query)]
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1].seq


def _event_leaf(row: tuple[object, ...]) -> EventLeaf:
    """The row as stored, whatever an edit put in it (SQLite keeps any type in a column)."""
    seq, event_id, node_id, type_, occurred, leaf, protected, content = row
    return EventLeaf(
        _int(seq),
        _bytes(event_id),
        str(node_id),
        str(type_),
        _int(occurred),
        _bytes(leaf),
        None if protected is None else _bytes(protected),
        None if content is None else _bytes(content),
    )


def stream_link_rows(connection: Connection) -> Iterator[tuple[bytes, int, str]]:
    """Every link row, merged or queued, as (token, seq, field), streamed (see
    :func:`_stream`).

    Through the driver, not SQLAlchemy's rows: a million events have ~3 million link rows,
    and reading them as SQLAlchemy rows (``yield_per``) cost the audit of such a file 3 to
    5 s more CPU (docs/performance.md).
    """
    for token, seq, name in _stream(connection, (links, link_queue), "token, seq, field"):
        if type(token) is bytes and type(seq) is int and type(name) is str:
            yield token, seq, name
        else:  # as stored, whatever an edit put there (SQLite keeps any type)
            yield _bytes(token), _int(seq), str(name)


def stream_id_rows(connection: Connection) -> Iterator[tuple[bytes, int]]:
    """Every row of the id index, merged or queued, as (event id, seq), streamed (see
    :func:`_stream`)."""
    for event_id, seq in _stream(connection, EVENT_ID_TABLES, "event_id, seq"):
        if type(event_id) is bytes and type(seq) is int:
            yield event_id, seq
        else:
            yield _bytes(event_id), _int(seq)


def _stream(connection: Connection, tables: Iterable[Table], columns: str) -> Iterator[Any]:
    """The ``columns`` of every row of ``tables`` through the driver: on PostgreSQL a
    server-side cursor, so no other query may run on ``connection`` until the rows are
    read to the end."""
    driver: Any = connection.connection.driver_connection
    for table in tables:
        query = f"SELECT {columns} FROM {table.name}"  # noqa: S608 - our tables and columns
        if connection.dialect.name == "postgresql":
            with driver.cursor(name=f"cardtrace_{table.name}") as cursor:
                cursor.itersize = PAGE_SIZE * 8
                cursor.execute(query)
                yield from cursor
        else:
            yield from driver.execute(query)


@dataclass(frozen=True, slots=True)
class IdIndexGaps:
    """Where the id index and the events disagree: how many events it does not lead to,
    how many of its rows lead to no event, and how many ids it holds both merged and
    queued, each with the first (seq, event id)."""

    unindexed: int
    first_unindexed: list[tuple[int, bytes]]
    stray: int
    first_stray: list[tuple[int, bytes]]
    doubled: int
    first_doubled: list[tuple[int, bytes]]


def id_index_gaps(connection: Connection, first: int) -> IdIndexGaps:
    """Events the id index does not lead to, id rows that lead to no event, and ids held
    both merged and queued (the first ``first`` of each, in seq order, are named).

    An event missing from the index would be stored again by a re-send; an id row
    naming another event's ``seq`` would make a re-send of that event look stored; an id
    both merged and queued would make the next merge of the queue fail.
    """
    missing = [_unmatched(events, table) for table in EVENT_ID_TABLES]
    unindexed = _count_where(connection, events, *missing)
    stray = {table: _unmatched(table, events) for table in EVENT_ID_TABLES}
    strays = sum(_count_where(connection, table, where) for table, where in stray.items())
    first_stray = (
        [
            row
            for table, where in stray.items()
            for row in _first_rows(connection, table, [where], first)
        ]
        if strays
        else []
    )
    merged = select(event_ids.c.seq).where(event_ids.c.event_id == event_id_queue.c.event_id)
    doubled = _count_where(connection, event_id_queue, merged.exists())
    return IdIndexGaps(
        unindexed,
        _first_rows(connection, events, missing, first) if unindexed else [],
        strays,
        sorted(first_stray)[:first],
        doubled,
        _first_rows(connection, event_id_queue, [merged.exists()], first) if doubled else [],
    )


def _first_rows(
    connection: Connection, table: Table, conditions: list[ColumnElement[bool]], first: int
) -> list[tuple[int, bytes]]:
    """The first ``first`` rows of ``table`` meeting ``conditions``, as (seq, event id)."""
    query = select(table.c.seq, table.c.event_id).where(*conditions).order_by(table.c.seq)
    rows = connection.execute(query.limit(first))
    return [(_int(seq), _bytes(event_id)) for seq, event_id in rows]


def _unmatched(rows: Table, other: Table) -> ColumnElement[bool]:
    """That ``other`` holds no row with the same event id and ``seq`` as ``rows``'s row:
    an equality on ``other``'s primary key, so one index search per row, not a join."""
    return ~(
        select(other.c.seq)
        .where(other.c.event_id == rows.c.event_id, other.c.seq == rows.c.seq)
        .exists()
    )


def _count_where(connection: Connection, table: Table, *conditions: ColumnElement[bool]) -> int:
    query = select(func.count()).select_from(table).where(*conditions)
    return int(connection.execute(query).scalar_one())


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8", "surrogateescape")


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return -1
