"""The stored events of each node and type also keep the span of their times.

``cardtrace stats`` shows which period each source's records cover (a shop that destroys
its records after a while shows it), without scanning every event. The table is made
again from the events, as migration 0005 first made it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _make(*spans: sa.Column[int]) -> None:
    """``event_counts`` with the ``spans`` columns, filled from the events."""
    op.drop_table("event_counts")
    op.create_table(
        "event_counts",
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        *spans,
        sa.PrimaryKeyConstraint("node_id", "type", name="pk_event_counts"),
    )
    names = "".join(f", {column.name}" for column in spans)
    values = ", min(occurred_us), max(occurred_us)" if spans else ""
    op.execute(
        f"INSERT INTO event_counts (node_id, type, events{names}) "  # noqa: S608 - constants
        f"SELECT node_id, type, count(*){values} FROM events GROUP BY node_id, type"
    )


def upgrade() -> None:
    _make(
        sa.Column(
            "first_us", sa.BigInteger, nullable=False, comment="earliest occurred_us of them"
        ),
        sa.Column("last_us", sa.BigInteger, nullable=False, comment="latest occurred_us of them"),
    )


def downgrade() -> None:
    _make()
