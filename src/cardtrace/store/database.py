"""The node's database: appending protected events with their ledger leaves, and lookups.

:meth:`Database.append` is the one write path. In a single transaction it drops events
already stored (idempotency by event id), appends the leaf hashes of the rest to the
Merkle log, and inserts the events at the log indexes they got, with their link rows.
So an event is never stored without its leaf, nor a leaf without its event, and a crash
at any point leaves either the whole batch or none of it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select, union_all
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cardtrace.errors import ConfigurationError, NotFound, TamperDetected
from cardtrace.ledger import tiles
from cardtrace.store import bulk, migrate
from cardtrace.store.engine import OPERATIONAL_ERRORS, describe, open_engine, write_transaction
from cardtrace.store.erasures import DryErasing, Erased, Erasing, located, outcome_counts
from cardtrace.store.ledger_sql import SqlTileStore
from cardtrace.store.rebuild import Rebuild
from cardtrace.store.rows import EventBatch, Tallies, Tally
from cardtrace.store.schema import (
    EVENT_ID_TABLES,
    event_counts,
    event_id_queue,
    event_ids,
    events,
    link_queue,
    links,
)

__all__ = ["AppendResult", "Database", "DryAppender", "StoredEvent", "stored_tallies"]


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What one append did: how many rows it stored and which inputs it skipped.

    ``duplicates`` are re-sends of stored records; ``conflicts`` carry a stored event id
    with different content (the source changed a record it had already sent).
    ``link_rows`` are the stored events' link rows, queued for the next link merge.
    """

    accepted: int
    duplicates: tuple[int, ...]
    first_seq: int
    conflicts: tuple[int, ...]
    link_rows: int
    #: What the stored erasures, and the waiting ones, did (:mod:`cardtrace.store.erasures`).
    erased: Erased = field(default_factory=Erased)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A stored event as lookups return it (the leaf is the canonical encoding)."""

    seq: int
    event_id: bytes
    type: str
    occurred_us: int
    leaf: bytes
    field: str | None = None


class _Appender:
    """The appends of one transaction: events go in at once, their leaves at the end."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._log = SqlTileStore(connection)
        self._next_seq = tiles.size(self._log)
        self._leaf_hashes: list[bytes] = []
        self._tallies = Tallies()
        self._erasing = Erasing(connection)

    def append(self, batch: EventBatch) -> AppendResult:
        first = self._next_seq
        duplicates: list[int] = []
        conflicts: list[int] = []
        if not bulk.insert_if_all_new(self._connection, first, batch):
            fresh, duplicates, conflicts = self._split_fresh(batch)
            if len(fresh) < len(batch):
                batch = batch.select(fresh)
            bulk.insert_events(self._connection, first, batch)
        erased = self._erasing.stored(first, batch)
        self._leaf_hashes += batch.leaf_hashes
        self._tallies.add_batch(batch)
        self._next_seq += len(batch)
        return AppendResult(
            accepted=len(batch),
            duplicates=tuple(duplicates),
            first_seq=first,
            conflicts=tuple(conflicts),
            link_rows=len(batch.link_tokens),
            erased=erased,
        )

    def finish(self) -> None:
        """Append the transaction's leaf hashes to the log, at the indexes events got,
        and add its events to the counts.

        The writer lock, taken when the transaction began, keeps every other writer out,
        so the log still has the size the first index was counted from. The log's state
        is checked against its tiles first (a few tiles read, per transaction): a new leaf
        hashed onto an edited state would carry the edit into every later root.
        """
        if self._leaf_hashes:
            try:
                tiles.check_state(self._log)
            except TamperDetected as exc:
                raise TamperDetected(
                    f"{exc}: the log was altered, so nothing is added to it ('cardtrace "
                    "verify' tells what changed)"
                ) from None
            tiles.append(self._log, self._leaf_hashes)
        bulk.add_event_counts(self._connection, self._tallies.by_key())

    def _split_fresh(self, batch: EventBatch) -> tuple[list[int], list[int], list[int]]:
        """Positions of the new events, of re-sent ones and of changed ones.

        Only asked when a batch holds an id already stored (or one id twice): for an
        all-new batch, ``bulk.insert_if_all_new`` finds that out as it inserts.
        """
        return _split(batch, bulk.existing_ids(self._connection, batch.event_ids))


#: Stored event ids and their content digests.
_Stored = dict[bytes, bytes | None]


def _split(batch: EventBatch, stored: _Stored) -> tuple[list[int], list[int], list[int]]:
    """Positions of the new events, of re-sent ones and of changed ones, given the
    content digests of the stored ids among the batch's; adds the new ones to ``stored``."""
    fresh: list[int] = []
    duplicates: list[int] = []
    conflicts: list[int] = []
    for position, (event_id, content) in enumerate(
        zip(batch.event_ids, batch.contents, strict=True)
    ):
        if event_id not in stored:
            stored[event_id] = content
            fresh.append(position)
            continue
        known = stored[event_id]
        same = known is None or content is None or known == content
        (duplicates if same else conflicts).append(position)
    return fresh, duplicates, conflicts


class _RunIds:
    """The ids, content digests and nodes of the events a dry run would store.

    Kept in a private temporary SQLite database, not in a dict: SQLite holds a few MiB
    of its pages in memory and the rest in a file of its own that it deletes on close,
    so the memory of a dry run stays flat however many records it reads (a dict took
    ~150 bytes a record, 150 MB for a million).
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None)  # "": temporary, on disk
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute(
            "CREATE TABLE run (id BLOB PRIMARY KEY, content BLOB, node TEXT) WITHOUT ROWID"
        )
        self.count = 0

    def find(self, ids: list[bytes]) -> _Stored:
        return dict(self._select("id, content", ids))

    def nodes(self, ids: list[bytes]) -> dict[bytes, str]:
        return dict(self._select("id, node", ids))

    def _select(self, columns: str, ids: list[bytes]) -> Iterator[tuple[Any, Any]]:
        for marks, chunk in bulk.in_chunks(ids):
            query = f"SELECT {columns} FROM run WHERE id IN ({marks})"  # noqa: S608 - ours
            yield from self._db.execute(query, chunk)

    def add(self, rows: list[tuple[bytes, bytes | None, str]]) -> None:
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO run VALUES (?, ?, ?)", rows)
        self._db.execute("COMMIT")
        self.count += len(rows)

    def close(self) -> None:
        self._db.close()


class DryAppender:
    """What appends would do, storing nothing: a dry run's stand-in for an ``_Appender``.

    It remembers the ids (and content digests) of the run's would-be stored events
    (:class:`_RunIds`), so a record repeated later in the run counts as it would, and
    their nodes, so an erasure of one of them counts as it would too.
    """

    def __init__(
        self, reading: Callable[[], AbstractContextManager[Connection]], size: int, run: _RunIds
    ) -> None:
        self._reading = reading
        self._size = size
        self._run = run
        with reading() as connection:
            self._erasing = DryErasing(connection)

    @property
    def erasures_waiting(self) -> int:
        """Erasures that would still wait for their event after the appends so far."""
        return self._erasing.waiting

    def append(self, batch: EventBatch) -> AppendResult:
        ids, contents, nodes = batch.event_ids, batch.contents, batch.node_ids
        with self._reading() as connection:
            stored = bulk.existing_ids(connection, ids)
        stored.update(self._run.find(ids))
        first = self._size + self._run.count  # the run's would-be events follow the stored
        fresh, duplicates, conflicts = _split(batch, stored)
        self._run.add([(ids[position], contents[position], nodes[position]) for position in fresh])
        if len(fresh) < len(batch):
            batch = batch.select(fresh)
        return AppendResult(
            accepted=len(fresh),
            duplicates=tuple(duplicates),
            first_seq=first,
            conflicts=tuple(conflicts),
            link_rows=0,  # none queued
            erased=self._erasing.stored(first, batch, self._owners),
        )

    def _owners(self, ids: list[bytes]) -> dict[bytes, str]:
        """The node of each of ``ids`` that is stored or that the run would store."""
        with self._reading() as connection:
            owners = {target: event.node_id for target, event in located(connection, ids).items()}
        return owners | self._run.nodes([target for target in ids if target not in owners])


class Database:
    """One node's database; open with :meth:`open`, close with :meth:`close`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, create: bool = True, upgrade: bool = True) -> Database:
        """Open ``url`` and, with ``upgrade``, bring its schema up to date (``create``: see
        ``open_engine``)."""
        engine = open_engine(url, create=create)
        if upgrade:
            try:
                migrate.upgrade(engine)
            except BaseException:
                engine.dispose()  # a refused database leaves no connection open
                raise
        return cls(engine)

    def schema_revisions(self) -> tuple[str | None, str]:
        """The schema revision of the database (None: none yet) and the one this code needs."""
        return migrate.revisions(self.engine)

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision``; up to date is what :meth:`open` does unless
        told not to."""
        migrate.upgrade(self.engine, revision)

    def downgrade(self, revision: str) -> None:
        """Take the schema back to ``revision``, for an older cardtrace; what that throws
        away is ``migrate.discards``."""
        migrate.downgrade(self.engine, revision)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction; database errors become ``ConfigurationError``."""
        try:
            with write_transaction(self.engine) as connection:
                yield connection
        except OPERATIONAL_ERRORS as exc:
            raise ConfigurationError(f"database error: {describe(exc)}") from None

    def append(self, batch: EventBatch) -> AppendResult:
        """Store the events not stored yet, each with its ledger leaf, in one transaction."""
        with self.appending() as append:
            return append(batch)

    @contextmanager
    def appending(self) -> Iterator[Callable[[EventBatch], AppendResult]]:
        """One transaction for several appends: all of them are stored, or none.

        Fewer, larger transactions write each page of the random-key indexes fewer times
        (docs/performance.md); the batches themselves stay small, so memory does not grow.
        The transaction's leaf hashes join the Merkle log in one step before it commits.
        """
        with self.transaction() as connection:
            bulk.lock_writer(connection)
            appender = _Appender(connection)
            yield appender.append
            appender.finish()

    @contextmanager
    def would_append(self) -> Iterator[DryAppender]:
        """An appender whose ``append`` stores nothing and returns what one of
        :meth:`appending` would.

        For a dry run of an ingest: it reads the stored ids and remembers the run's own,
        so duplicates and conflicts count as they would (``AppendResult.first_seq`` is
        the index an event would get if nothing else were stored meanwhile).
        """

        run = _RunIds()
        try:
            yield DryAppender(self._reading, self.log_size(), run)
        finally:
            run.close()

    def count(self) -> int:
        with self._reading() as connection:
            return int(connection.execute(select(func.count()).select_from(events)).scalar_one())

    def tallies(self) -> dict[tuple[str, str], Tally]:
        """Stored events by (node id, type): how many, and the span of their times, from
        ``event_counts`` (a few rows, kept by every append)."""
        with self._reading() as connection:
            return stored_tallies(connection)

    def integrate_links(self) -> int:
        """Merge queued link rows into the ``links`` index in token order; return how many.

        Inserting link rows one by one at random tokens dirties one index page per row,
        which made commits the ingest bottleneck beyond a few hundred thousand events
        (docs/performance.md). Appends queue them instead, and this merges a whole run's
        rows at once, in index order. Lookups read the queue too, so nothing is missed
        while rows wait (after a crash, too: the next ingest merges them).
        """
        return self._merge(link_queue, links)

    def integrate_ids(self) -> int:
        """Merge queued event ids into ``event_ids`` in id order; return how many.

        Callers merge while the queue is small (an ingest, every 200,000 ids), so the
        random ids of each transaction dirty few pages; the big index is rewritten once
        per merge. Lookups and the duplicate check read both.
        """
        return self._merge(event_id_queue, event_ids)

    def _merge(self, queue: Table, target: Table) -> int:
        try:
            with self.transaction() as connection:
                bulk.lock_writer(connection)
                return bulk.merge_queue(connection, queue, target)
        except IntegrityError:
            # Appends never queue a row the index holds: one was put there by hand.
            raise TamperDetected(
                f"{queue.name} holds a row that {target.name} holds already, so it cannot be "
                "merged: the index was edited; 'cardtrace verify' names the row and "
                "'cardtrace reindex' mends the index (the events stored are kept)"
            ) from None

    @contextmanager
    def rebuilding(self) -> Iterator[Rebuild]:
        """One write transaction, holding the writer lock, in which to rebuild the tables
        derived from the event rows (:class:`~cardtrace.store.rebuild.Rebuild`): every
        table rebuilt in it is replaced, or, if anything fails, none."""
        with self.transaction() as connection:
            bulk.lock_writer(connection)
            yield Rebuild(connection)

    def log_size(self) -> int:
        """Leaves in the node's Merkle log (equal to the events stored)."""
        with self._reading() as connection:
            return tiles.size(SqlTileStore(connection))

    def erasure_counts(self) -> dict[str, int]:
        """Stored erasures by what they did: ``erased`` their event's sealed data, nothing
        to ``other_node``'s event, or ``waiting`` for their event, which the append that
        stores it erases."""
        with self._reading() as connection:
            return outcome_counts(connection)

    def link_count(self) -> int:
        """Link rows, merged or queued."""
        with self._reading() as connection:
            return sum(
                int(connection.execute(select(func.count()).select_from(table)).scalar_one())
                for table in (links, link_queue)
            )

    def events_by_token(self, token: bytes) -> list[StoredEvent]:
        """Every event linked to ``token``, in time order (merged and queued links)."""
        linked = union_all(
            select(links.c.seq, links.c.field).where(links.c.token == token),
            select(link_queue.c.seq, link_queue.c.field).where(link_queue.c.token == token),
        ).subquery()
        query = (
            select(
                events.c.seq,
                events.c.event_id,
                events.c.type,
                events.c.occurred_us,
                events.c.leaf,
                linked.c.field,
            )
            .join(linked, linked.c.seq == events.c.seq)
            .order_by(events.c.occurred_us, events.c.seq)
        )
        with self._reading() as connection:
            return [StoredEvent(*row) for row in connection.execute(query)]

    def first_leaves(self, count: int) -> list[bytes]:
        """The leaves of the first ``count`` stored events, which name their keys."""
        query = select(events.c.leaf).order_by(events.c.seq).limit(count)
        with self._reading() as connection:
            return [bytes(leaf) for leaf in connection.execute(query).scalars()]

    def first_protected(self) -> tuple[bytes, bytes] | None:
        """The event id and sealed personal data of the first event holding any (None:
        none does), which show whether a vault key is the one the data is sealed under."""
        query = (
            select(events.c.event_id, events.c.protected)
            .where(events.c.protected.is_not(None))
            .order_by(events.c.seq)
            .limit(1)
        )
        with self._reading() as connection:
            row = connection.execute(query).first()
        return None if row is None else (bytes(row.event_id), bytes(row.protected))

    def event(self, event_id: bytes) -> StoredEvent:
        """The stored event with id ``event_id``."""
        found = union_all(
            *(select(table.c.seq).where(table.c.event_id == event_id) for table in EVENT_ID_TABLES)
        ).subquery()
        query = select(
            events.c.seq, events.c.event_id, events.c.type, events.c.occurred_us, events.c.leaf
        ).join(found, found.c.seq == events.c.seq)
        with self._reading() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise NotFound("no stored event has this id")
        if bytes(row.event_id) != event_id:  # never hand out another event as this one
            raise TamperDetected(
                f"the id index leads this id to the event at seq {row.seq}, which holds "
                "another id: the index was edited; 'cardtrace verify' names what changed "
                "and 'cardtrace reindex' rebuilds the index"
            )
        return StoredEvent(*row)

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise ConfigurationError(f"database error: {describe(exc)}") from None


def stored_tallies(connection: Connection) -> dict[tuple[str, str], Tally]:
    """``event_counts`` as appends kept it: events by (node id, type) and their span."""
    columns = (event_counts.c.events, event_counts.c.first_us, event_counts.c.last_us)
    query = select(event_counts.c.node_id, event_counts.c.type, *columns)
    return {
        (node, kind): Tally(int(n), int(first), int(last))
        for node, kind, n, first, last in connection.execute(query)
    }
