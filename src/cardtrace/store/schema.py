"""The SQL schema, as SQLAlchemy Core tables: the single description Alembic migrates to.

Designed for the ingest hot path (docs/performance.md): ``events`` is keyed by ``seq``,
the ledger index, so rows append at the end of the B-tree. The random keys, event ids
(the idempotency key) and the lookup keys of ``links`` (one narrow row per token and
event, so tracing finds every event of a card, person, account, device or party with
one index range scan), are each held twice over: a queue that appends take cheaply and a
big index that queued rows are merged into in key order, which touches each of its pages
once per merge instead of once per row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "EVENT_ID_TABLES",
    "checkpoints",
    "cosignatures",
    "erasures",
    "event_counts",
    "event_id_queue",
    "event_ids",
    "events",
    "ledger_state",
    "ledger_tiles",
    "link_queue",
    "links",
    "metadata",
    "witnessed",
]

metadata = MetaData()

#: One row per stored event; ``leaf`` is the canonical encoding the ledger commits to.
events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False, comment="leaf index"),
    Column("event_id", LargeBinary(16), nullable=False, comment="UUID bytes"),
    Column("node_id", String(64), nullable=False),
    Column("type", String(32), nullable=False),
    Column("occurred_us", BigInteger, nullable=False, comment="microseconds since 1970, UTC"),
    Column("leaf", LargeBinary, nullable=False),
    Column("protected", LargeBinary, nullable=True, comment="AES-GCM sealed personal data"),
    Column(
        "content",
        LargeBinary(16),
        nullable=True,
        comment="keyed digest of the record as sent, to tell a re-send from a changed record",
    ),
    Index("ix_events_occurred_us", "occurred_us"),
)


#: Stored events per node and type, kept by every append in its own transaction, so
#: ``cardtrace stats`` reads a few rows instead of scanning every event (the audit
#: recounts them from the events and reports any difference).
event_counts = Table(
    "event_counts",
    metadata,
    Column("node_id", String(64), nullable=False),
    Column("type", String(32), nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("first_us", BigInteger, nullable=False, comment="earliest occurred_us of them"),
    Column("last_us", BigInteger, nullable=False, comment="latest occurred_us of them"),
    PrimaryKeyConstraint("node_id", "type", name="pk_event_counts"),
)


def _event_id_columns() -> list[Column[Any]]:
    """An event id and the log index of its event: an id is stored once, in one of two."""
    return [
        Column("event_id", LargeBinary(16), primary_key=True),
        Column("seq", BigInteger, nullable=False),
    ]


#: The ids of stored events, merged from ``event_id_queue`` in id order.
event_ids = Table("event_ids", metadata, *_event_id_columns(), sqlite_with_rowid=False)

#: The ids of recent appends, not yet merged into ``event_ids``: a small index, so each
#: transaction dirties few pages of it. :meth:`Database.integrate_ids` merges it.
event_id_queue = Table("event_id_queue", metadata, *_event_id_columns(), sqlite_with_rowid=False)

#: Where a stored event's id is: merged, or still queued.
EVENT_ID_TABLES = (event_ids, event_id_queue)


def _link_columns() -> list[Column[Any]]:
    """A link row: the token, the event's log index, and the field the token came from."""
    return [
        Column("token", LargeBinary(16), nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("field", String(32), nullable=False),
    ]


#: Lookup keys: link tokens of identifiers, card and PIN tokens, party keys.
links = Table(
    "links",
    metadata,
    *_link_columns(),
    PrimaryKeyConstraint("token", "seq", "field", name="pk_links"),
    sqlite_with_rowid=False,
)

#: Link rows of recent appends, not yet merged into ``links`` (no index: appends are
#: sequential). :meth:`Database.integrate_links` moves them over in token order, which
#: touches each page of the ``links`` index once instead of once per row.
link_queue = Table("link_queue", metadata, *_link_columns())

#: Erasures (``record.erased`` events) and what storing them did: the erased event's
#: sealed personal data deleted (``outcome`` "erased"), nothing because the event is
#: another node's ("other_node"), or, while the event is not stored yet, still waiting
#: (``target_seq`` and ``outcome`` null): the append that stores it erases it then.
erasures = Table(
    "erasures",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False, comment="the erasure's"),
    Column("node_id", String(64), nullable=False, comment="the node that recorded the erasure"),
    Column("target_id", LargeBinary(16), nullable=False, comment="the erased event's id"),
    Column("target_seq", BigInteger, nullable=True, comment="the erased event's seq, once stored"),
    Column("outcome", String(16), nullable=True),
    # Each write transaction looks up the waiting ones (outcome null): few, among many.
    Index("ix_erasures_outcome", "outcome"),
)

#: The log's durable state: one row (id = 1) with its size and right edge.
ledger_state = Table(
    "ledger_state",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("state", LargeBinary, nullable=False),
)

#: Hash tiles of the Merkle tree (docs/ledger.md, "Storage").
ledger_tiles = Table(
    "ledger_tiles",
    metadata,
    Column("level", SmallInteger, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("level", "idx", name="pk_ledger_tiles"),
)

#: Signed checkpoints of this node's log, and cosignatures gathered for them.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", String(27), nullable=False),
    Index("ix_checkpoints_size", "size"),
)

#: Witnesses' cosignatures of this node's checkpoints, each verified when it was added.
cosignatures = Table(
    "cosignatures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "checkpoint_id",
        Integer,
        ForeignKey("checkpoints.id", name="fk_cosignatures_checkpoint"),
        nullable=False,
    ),
    Column("witness", String(200), nullable=False, comment="the witness key's name"),
    Column("key_id", String(8), nullable=False, comment="hex"),
    Column("line", Text, nullable=False, comment="the C2SP cosignature line"),
    Column("cosigned_at", BigInteger, nullable=False, comment="POSIX seconds, signed"),
    Column("added_at", String(27), nullable=False),
    UniqueConstraint("checkpoint_id", "witness", "key_id", name="uq_cosignatures_witness"),
)

#: What this node, as a witness, cosigned for other logs: the latest row of an origin
#: is the size and root the next checkpoint of that origin must be consistent with.
witnessed = Table(
    "witnessed",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("checkpoint", Text, nullable=False, comment="the signed note cosigned"),
    Column("cosignature", Text, nullable=False),
    Column("cosigned_at", BigInteger, nullable=False, comment="POSIX seconds"),
    Index("ix_witnessed_origin_size", "origin", "size"),
)
