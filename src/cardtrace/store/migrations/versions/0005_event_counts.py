"""Stored events counted per node and type, so statistics need not scan every event.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_counts",
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("node_id", "type", name="pk_event_counts"),
    )
    op.execute(
        "INSERT INTO event_counts (node_id, type, events) "
        "SELECT node_id, type, count(*) FROM events GROUP BY node_id, type"
    )


def downgrade() -> None:
    op.drop_table("event_counts")
