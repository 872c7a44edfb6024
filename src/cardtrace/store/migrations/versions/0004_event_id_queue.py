"""Event ids move out of an index on ``events`` into a queue merged into a big index.

The unique index on ``events.event_id`` took every new id at a random place, so each
transaction dirtied nearly every page of it once it outgrew the page cache
(docs/performance.md, "Throughput as the store grows"). Ids now go to the small
``event_id_queue`` and are merged into ``event_ids`` in id order now and then.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _create(name: str) -> None:
    op.create_table(
        name,
        sa.Column("event_id", sa.LargeBinary(16), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    _create("event_ids")
    _create("event_id_queue")
    # In id order: the big index is built left to right, not at random places.
    op.execute(
        "INSERT INTO event_ids (event_id, seq) SELECT event_id, seq FROM events ORDER BY event_id"
    )
    op.drop_index("ux_events_event_id", table_name="events")


def downgrade() -> None:
    op.create_index("ux_events_event_id", "events", ["event_id"], unique=True)
    op.drop_table("event_id_queue")
    op.drop_table("event_ids")
