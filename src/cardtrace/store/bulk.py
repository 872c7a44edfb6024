"""The ingest hot path's inserts, one fast form per backend, in this one place.

SQLAlchemy Core costs about 5 µs per row over the driver (MEASURED.md) and an event has
several link rows, so events and links go straight to the DBAPI cursor of the caller's
transaction: ``executemany`` on SQLite, binary ``COPY`` on PostgreSQL. Link rows go to
the unindexed ``link_queue`` and event ids to the small ``event_id_queue``; the store
merges them into ``links`` and ``event_ids`` in key order later.

On SQLite, byte strings are bound as ``bytearray``: CPython's ``sqlite3`` passes every
``bytes`` parameter through its adapter registry (a tuple built, a dict and two
attributes looked up) and binds a ``bytearray`` straight away, which saves more than the
copy costs (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, func, insert, select, text

from cardtrace.store.schema import EVENT_ID_TABLES, event_ids

if TYPE_CHECKING:
    from cardtrace.store.rows import EventBatch, Tally

__all__ = [
    "add_event_counts",
    "empty_table",
    "existing_ids",
    "in_chunks",
    "insert_events",
    "insert_if_all_new",
    "lock_writer",
    "merge_queue",
    "queue_links",
]

#: The rows the hot path inserts: table, its columns, and their PostgreSQL types for COPY.
_EVENTS = (
    "events",
    ("seq", "event_id", "node_id", "type", "occurred_us", "leaf", "protected", "content"),
    ("int8", "bytea", "text", "text", "int8", "bytea", "bytea", "bytea"),
)
_LINKS = ("link_queue", ("token", "seq", "field"), ("bytea", "int8", "text"))
_IDS = ("event_id_queue", ("event_id", "seq"), ("bytea", "int8"))
#: Placeholders per SQLite ``IN (...)`` query, well under its limit of 32,766.
_IN_CHUNK = 900
#: Any constant: the key of the PostgreSQL advisory lock that serialises writers.
_WRITER_LOCK = 0x63617264


def lock_writer(connection: Connection) -> None:
    """Serialise writers, so log indexes are handed out once (SQLite's lock does it)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITER_LOCK})


def add_event_counts(connection: Connection, tallies: Mapping[tuple[str, str], Tally]) -> None:
    """Add newly stored events to ``event_counts``, by (node id, type), widening the span
    of their times: a few rows a commit."""
    if tallies:
        connection.execute(
            text(
                "INSERT INTO event_counts (node_id, type, events, first_us, last_us) "
                "VALUES (:node, :type, :added, :first, :last) "
                "ON CONFLICT (node_id, type) DO UPDATE SET "
                "events = event_counts.events + excluded.events, "
                "first_us = CASE WHEN excluded.first_us < event_counts.first_us "
                "THEN excluded.first_us ELSE event_counts.first_us END, "
                "last_us = CASE WHEN excluded.last_us > event_counts.last_us "
                "THEN excluded.last_us ELSE event_counts.last_us END"
            ),
            [
                {"node": node, "type": kind, "added": n, "first": first, "last": last}
                for (node, kind), (n, first, last) in tallies.items()
            ],
        )


def empty_table(connection: Connection, table: str) -> None:
    """Drop every row of ``table`` (a queue merged, or a table rebuilt, in this transaction).

    PostgreSQL truncates: deleting a run's millions of rows one by one leaves as many
    dead tuples to vacuum. SQLite's unqualified DELETE truncates by itself.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"TRUNCATE {table}"))
    else:
        connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - a table of ours


def merge_queue(connection: Connection, queue: Table, target: Table) -> int:
    """Move the rows of ``queue`` into ``target`` in the order of its key; return how many.

    One insert in key order touches each page of the target's index once, where rows
    inserted as they came would dirty one page each (docs/performance.md).
    """
    moved = int(connection.execute(select(func.count()).select_from(queue)).scalar_one())
    if moved:
        ordered = select(*queue.c).order_by(*(queue.c[key.name] for key in target.primary_key))
        connection.execute(insert(target).from_select(list(queue.c.keys()), ordered))
        empty_table(connection, queue.name)
    return moved


def queue_links(connection: Connection, rows: Iterable[tuple[bytes, int, str]]) -> None:
    """Link rows (token, seq, field) into ``link_queue``."""
    _insert_rows(connection, _LINKS, rows)


def existing_ids(connection: Connection, ids: Sequence[bytes]) -> dict[bytes, bytes | None]:
    """The stored ones of ``ids``, merged or queued, with their content digests.

    Through the driver: SQLAlchemy's expanding ``IN`` costs ~10 µs per id.
    """
    found: dict[bytes, bytes | None] = {}
    keys = _blobs(connection, ids)
    for table in EVENT_ID_TABLES:
        found.update(_stored_ids(connection, table.name, keys))
    return {
        bytes(key): None if content is None else bytes(content) for key, content in found.items()
    }


def _any_merged(connection: Connection, ids: Sequence[bytes | bytearray]) -> bool:
    """Whether any of ``ids`` is in ``event_ids``: a read-only search of the big index."""
    return bool(_stored_ids(connection, event_ids.name, ids, limit=1))


def _stored_ids(
    connection: Connection, table: str, ids: Sequence[bytes | bytearray], limit: int = 0
) -> dict[Any, Any]:
    """(event id, content digest) of the events whose ids are among ``ids`` in ``table``."""
    joined = f"SELECT i.event_id, e.content FROM {table} AS i JOIN events AS e ON e.seq = i.seq"  # noqa: S608
    tail = f" LIMIT {limit}" if limit else ""
    driver: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with driver.cursor() as cursor:
            cursor.execute(f"{joined} WHERE i.event_id = ANY(%s){tail}", (list(ids),))
            return dict(cursor)
    found: dict[Any, Any] = {}
    cursor = driver.cursor()
    for marks, chunk in in_chunks(ids):
        found.update(cursor.execute(f"{joined} WHERE i.event_id IN ({marks}){tail}", chunk))
        if limit and len(found) >= limit:
            break
    return found


def in_chunks(values: Sequence[Any]) -> Iterator[tuple[str, Sequence[Any]]]:
    """``values`` in slices small enough for one SQLite ``IN (...)`` each, with the
    slice's placeholders (``?,?,?``)."""
    for start in range(0, len(values), _IN_CHUNK):
        chunk = values[start : start + _IN_CHUNK]
        yield ",".join("?" * len(chunk)), chunk


def insert_if_all_new(connection: Connection, first_seq: int, batch: EventBatch) -> bool:
    """Insert ``batch`` as :func:`insert_events` does if none of its event ids is stored.

    Returns False, having written nothing, when an id is stored already, or twice in the
    batch: the merged ids are searched (read only), the queued ones refuse it on insert.
    Fresh data, the common case, so never looks the batch up a second time.
    """
    if not batch:
        return True
    ids = _blobs(connection, batch.event_ids)
    if _any_merged(connection, ids):
        return False
    refused: type[Exception] = connection.dialect.dbapi.IntegrityError  # type: ignore[union-attr]
    if connection.dialect.name == "postgresql":
        try:  # a failed COPY fails the whole transaction, unless under a savepoint
            with connection.begin_nested():
                _insert_id_rows(connection, first_seq, ids)
        except refused:
            return False
    else:
        try:
            _insert_id_rows(connection, first_seq, ids)
        except refused:
            # SQLite undid the refused row only. No savepoint: it copies every page the
            # transaction changes to a sub-journal (measured slower than undoing this way).
            connection.exec_driver_sql("DELETE FROM event_id_queue WHERE seq >= ?", (first_seq,))
            return False
    _insert_event_rows(connection, first_seq, batch, ids)
    _insert_link_rows(connection, first_seq, batch)
    return True


def insert_events(connection: Connection, first_seq: int, batch: EventBatch) -> None:
    """Insert ``batch`` at log indexes ``first_seq, first_seq + 1, ...`` with its links."""
    if not batch:
        return
    ids = _blobs(connection, batch.event_ids)
    _insert_id_rows(connection, first_seq, ids)
    _insert_event_rows(connection, first_seq, batch, ids)
    _insert_link_rows(connection, first_seq, batch)


def _blobs(connection: Connection, column: Sequence[bytes]) -> Sequence[bytes | bytearray]:
    """``column`` in the form the connection's driver binds fastest (module docstring)."""
    if connection.dialect.name == "postgresql":
        return column
    return list(map(bytearray, column))


def _optional_blobs(
    connection: Connection, column: Sequence[bytes | None]
) -> Iterable[bytes | bytearray | None]:
    """:func:`_blobs` of a column that may hold nulls."""
    if connection.dialect.name == "postgresql":
        return column
    return (None if value is None else bytearray(value) for value in column)


def _insert_id_rows(
    connection: Connection, first_seq: int, ids: Sequence[bytes | bytearray]
) -> None:
    id_rows = zip(ids, range(first_seq, first_seq + len(ids)), strict=True)
    _insert_rows(connection, _IDS, id_rows)


def _insert_event_rows(
    connection: Connection, first_seq: int, batch: EventBatch, ids: Sequence[bytes | bytearray]
) -> None:
    event_rows = zip(
        range(first_seq, first_seq + len(batch)),
        ids,
        batch.node_ids,
        batch.types,
        batch.occurred_us,
        _blobs(connection, batch.leaves),
        _optional_blobs(connection, batch.protected),
        _optional_blobs(connection, batch.contents),
        strict=True,
    )
    _insert_rows(connection, _EVENTS, event_rows)


def _insert_link_rows(connection: Connection, first_seq: int, batch: EventBatch) -> None:
    link_rows = zip(
        _blobs(connection, batch.link_tokens),
        map(first_seq.__add__, batch.link_positions),
        batch.link_fields,
        strict=True,
    )
    _insert_rows(connection, _LINKS, link_rows)


def _insert_rows(
    connection: Connection,
    target: tuple[str, tuple[str, ...], tuple[str, ...]],
    rows: Iterable[tuple[Any, ...]],
) -> None:
    """``rows`` into ``target`` (table, columns, COPY types): executemany or binary COPY."""
    table, columns, types = target
    named = f"{table} ({', '.join(columns)})"
    driver: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {named} FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(list(types))
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" * len(columns))
        driver.cursor().executemany(f"INSERT INTO {named} VALUES ({marks})", rows)  # noqa: S608
