"""Rebuilding what the store derives from its event rows: the id index, the counts of
events by node and type, the link index and the erasures table; and applying the
erasures the log holds to the events that still hold what they erased.

Every append keeps these, and each can be made again from the event rows alone, which
the ledger protects (the audit, :mod:`cardtrace.service.audit`, holds the derived
tables to those rows). A rebuild runs in the caller's write transaction, which holds the
writer lock (:meth:`Database.rebuilding <cardtrace.store.database.Database.rebuilding>`):
a table is replaced whole, or, if the transaction fails, not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, Select, Table, func, insert, select, update

from cardtrace.store import bulk
from cardtrace.store.checkpoints import stream_event_leaves
from cardtrace.store.erasures import ERASED, derived_erasure_rows, located
from cardtrace.store.schema import (
    EVENT_ID_TABLES,
    erasures,
    event_counts,
    event_ids,
    events,
    link_queue,
    links,
)

__all__ = ["Rebuild"]


class Rebuild:
    """The rebuilds, each in the one transaction of ``connection``; each returns the rows
    it made."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def ids(self) -> int:
        """``event_ids`` from the events' ids, in id order; its queue emptied."""
        for table in EVENT_ID_TABLES:
            bulk.empty_table(self._connection, table.name)
        ordered = select(events.c.event_id, events.c.seq).order_by(events.c.event_id)
        return self._fill(event_ids, ["event_id", "seq"], ordered)

    def counts(self) -> int:
        """``event_counts`` from the events: how many of each node and type, and the span
        of their times."""
        bulk.empty_table(self._connection, event_counts.name)
        grouped = select(
            events.c.node_id,
            events.c.type,
            func.count(),
            func.min(events.c.occurred_us),
            func.max(events.c.occurred_us),
        ).group_by(events.c.node_id, events.c.type)
        columns = ["node_id", "type", "events", "first_us", "last_us"]
        return self._fill(event_counts, columns, grouped)

    def links(self, links_of: Callable[[bytes], Iterable[tuple[bytes, str]]]) -> int:
        """``links`` from the events' leaves, ``links_of`` giving each leaf's link rows
        (token, field); the queue is emptied, filled a page of events at a time (constant
        memory) and merged in token order."""
        connection = self._connection
        for table in (links, link_queue):
            bulk.empty_table(connection, table.name)
        page: list[tuple[bytes, int, str]] = []
        for row in stream_event_leaves(connection):
            page.extend((token, row.seq, name) for token, name in links_of(row.leaf))
            if len(page) >= _PAGE:
                bulk.queue_links(connection, page)
                page = []
        bulk.queue_links(connection, page)
        return bulk.merge_queue(connection, link_queue, links)

    def erasures(self, target_of: Callable[[bytes], bytes | None]) -> int:
        """``erasures`` from the ``record.erased`` events, ``target_of`` giving the event
        id each leaf names, with what each erasure did to the events stored now (call it
        after the id index is right: it finds the events through it)."""
        connection = self._connection
        bulk.empty_table(connection, erasures.name)
        query = select(events.c.seq, events.c.node_id, events.c.leaf).where(
            events.c.type == "record.erased"
        )
        named = [
            (seq, node, target)
            for seq, node, leaf in connection.execute(query)
            if (target := target_of(bytes(leaf))) is not None
        ]
        targets = sorted({target for _, _, target in named})
        rows = derived_erasure_rows(named, located(connection, targets))
        if rows:
            connection.execute(
                insert(erasures), [{"seq": seq, **row._asdict()} for seq, row in rows.items()]
            )
        return len(rows)

    def apply_erasures(self) -> int:
        """Delete the sealed data that ``erasures`` says its node's erasure deleted and that
        an event row still holds (call it after the erasures table is right); how many
        events."""
        erased = select(erasures.c.target_seq).where(erasures.c.outcome == ERASED)
        held = events.c.seq.in_(erased) & events.c.protected.is_not(None)
        return self._connection.execute(update(events).where(held).values(protected=None)).rowcount

    def _fill(self, table: Table, columns: list[str], rows: Select[Any]) -> int:
        """``rows`` into the emptied ``table``; how many (a driver's rowcount of an INSERT
        from a SELECT is not to be relied on: psycopg gives -1)."""
        self._connection.execute(insert(table).from_select(columns, rows))
        return int(self._connection.execute(select(func.count()).select_from(table)).scalar_one())


#: Link rows queued at once (the events are read in pages between these inserts).
_PAGE = 20_000
