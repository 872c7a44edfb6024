"""Initial schema: events, link tokens and their queue, ledger state and tiles, checkpoints.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
#: What undoing this migration throws away (cardtrace.store.migrate).
discards = "every stored event, link row, log tile and checkpoint"


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column(
            "seq", sa.BigInteger(), autoincrement=False, nullable=False, comment="leaf index"
        ),
        sa.Column("event_id", sa.LargeBinary(16), nullable=False, comment="UUID bytes"),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column(
            "occurred_us",
            sa.BigInteger(),
            nullable=False,
            comment="microseconds since 1970, UTC",
        ),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column(
            "protected", sa.LargeBinary(), nullable=True, comment="AES-GCM sealed personal data"
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ux_events_event_id", "events", ["event_id"], unique=True)
    op.create_index("ix_events_occurred_us", "events", ["occurred_us"])
    op.create_table(
        "links",
        sa.Column("token", sa.LargeBinary(16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("token", "seq", "field", name="pk_links"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "link_queue",
        sa.Column("token", sa.LargeBinary(16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
    )
    op.create_table(
        "ledger_state",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "ledger_tiles",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_ledger_tiles"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(27), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_checkpoints_size", "checkpoints", ["size"])


def downgrade() -> None:
    op.drop_table("checkpoints")
    op.drop_table("ledger_tiles")
    op.drop_table("ledger_state")
    op.drop_table("link_queue")
    op.drop_table("links")
    op.drop_table("events")
