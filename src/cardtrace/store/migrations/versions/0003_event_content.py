"""Events keep a keyed digest of the record as sent (re-send vs changed record).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
#: What undoing this migration throws away (cardtrace.store.migrate).
discards = (
    "the digests that tell a changed record from a re-send, so that a re-sent record of "
    "an event stored before them counts as a duplicate"
)


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column(
                "content",
                sa.LargeBinary(16),
                nullable=True,
                comment="keyed digest of the record as sent, to tell a re-send from a changed "
                "record",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("content")
