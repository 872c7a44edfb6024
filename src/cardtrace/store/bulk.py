"""The ingest hot path's inserts, one fast form per backend, in this one place.

SQLAlchemy Core costs about 5 µs per row over the driver (MEASURED.md) and an event has
several link rows, so events and links go straight to the DBAPI cursor of the caller's
transaction: ``executemany`` on SQLite, binary ``COPY`` on PostgreSQL. Link rows go to
the unindexed ``link_queue``; the store merges them into ``links`` in token order later.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

if TYPE_CHECKING:
    from cardtrace.store.rows import EventBatch

__all__ = ["empty_link_queue", "existing_ids", "insert_events", "lock_writer"]

_EVENT_COLUMNS = "seq, event_id, node_id, type, occurred_us, leaf, protected, content"
_INSERT_EVENT = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_INSERT_LINK = "INSERT INTO link_queue (token, seq, field) VALUES (?, ?, ?)"
_EVENT_TYPES = ["int8", "bytea", "text", "text", "int8", "bytea", "bytea", "bytea"]
_LINK_TYPES = ["bytea", "int8", "text"]
#: Placeholders per SQLite ``IN (...)`` query, well under its limit of 32,766.
_IN_CHUNK = 900
#: Any constant: the key of the PostgreSQL advisory lock that serialises writers.
_WRITER_LOCK = 0x63617264


def lock_writer(connection: Connection) -> None:
    """Serialise writers, so log indexes are handed out once (SQLite's lock does it)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITER_LOCK})


def empty_link_queue(connection: Connection) -> None:
    """Drop every queued link row (they were merged into ``links`` in this transaction).

    PostgreSQL truncates: deleting a run's millions of rows one by one leaves as many
    dead tuples to vacuum. SQLite's unqualified DELETE truncates by itself.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("TRUNCATE link_queue"))
    else:
        connection.execute(text("DELETE FROM link_queue"))


def existing_ids(connection: Connection, ids: Sequence[bytes]) -> dict[bytes, bytes | None]:
    """The stored ones of ``ids``, with their content digests.

    Through the driver: SQLAlchemy's expanding ``IN`` costs ~10 µs per id.
    """
    driver: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with driver.cursor() as cursor:
            query = "SELECT event_id, content FROM events WHERE event_id = ANY(%s)"
            cursor.execute(query, (list(ids),))
            return {
                bytes(key): None if content is None else bytes(content) for key, content in cursor
            }
    found: dict[bytes, bytes | None] = {}
    cursor = driver.cursor()
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        query = f"SELECT event_id, content FROM events WHERE event_id IN ({marks})"  # noqa: S608
        found.update(cursor.execute(query, chunk))
    return found


def insert_events(connection: Connection, first_seq: int, batch: EventBatch) -> None:
    """Insert ``batch`` at log indexes ``first_seq, first_seq + 1, ...`` with its links."""
    if not batch:
        return
    event_rows = zip(
        range(first_seq, first_seq + len(batch)),
        batch.event_ids,
        batch.node_ids,
        batch.types,
        batch.occurred_us,
        batch.leaves,
        batch.protected,
        batch.contents,
        strict=True,
    )
    link_rows = zip(
        batch.link_tokens,
        map(first_seq.__add__, batch.link_positions),
        batch.link_fields,
        strict=True,
    )
    driver: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        _copy(driver, f"events ({_EVENT_COLUMNS})", _EVENT_TYPES, event_rows)
        _copy(driver, "link_queue (token, seq, field)", _LINK_TYPES, link_rows)
    else:
        cursor = driver.cursor()
        cursor.executemany(_INSERT_EVENT, event_rows)
        cursor.executemany(_INSERT_LINK, link_rows)


def _copy(driver: Any, target: str, types: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)
