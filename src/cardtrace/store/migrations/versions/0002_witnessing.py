"""Witnessing: cosignatures of this node's checkpoints, and what it witnessed for others.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
#: What undoing this migration throws away (cardtrace.store.migrate).
discards = (
    "the witnesses' cosignatures of this node's checkpoints and the checkpoints it "
    "cosigned for others"
)


def upgrade() -> None:
    op.create_table(
        "cosignatures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        sa.Column("witness", sa.String(200), nullable=False, comment="the witness key's name"),
        sa.Column("key_id", sa.String(8), nullable=False, comment="hex"),
        sa.Column("line", sa.Text(), nullable=False, comment="the C2SP cosignature line"),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False, comment="POSIX seconds, signed"),
        sa.Column("added_at", sa.String(27), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"], ["checkpoints.id"], name="fk_cosignatures_checkpoint"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("checkpoint_id", "witness", "key_id", name="uq_cosignatures_witness"),
    )
    op.create_table(
        "witnessed",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False, comment="the signed note cosigned"),
        sa.Column("cosignature", sa.Text(), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False, comment="POSIX seconds"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_witnessed_origin_size", "witnessed", ["origin", "size"])


def downgrade() -> None:
    op.drop_table("witnessed")
    op.drop_table("cosignatures")
