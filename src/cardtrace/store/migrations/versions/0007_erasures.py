"""Erasures are applied: storing a ``record.erased`` event deletes its target's sealed data.

The table records each erasure and what it did (``cardtrace.store.erasures``). Made
from the stored ``record.erased`` events, which earlier revisions stored without
acting on them: their targets' sealed personal data is deleted here. Going down drops
the table only; going up again makes it anew from the events, so nothing is lost.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column(
            "seq", sa.BigInteger, primary_key=True, autoincrement=False, comment="the erasure's"
        ),
        sa.Column(
            "node_id", sa.String(64), nullable=False, comment="the node that recorded the erasure"
        ),
        sa.Column("target_id", sa.LargeBinary(16), nullable=False, comment="the erased event's id"),
        sa.Column(
            "target_seq",
            sa.BigInteger,
            nullable=True,
            comment="the erased event's seq, once stored",
        ),
        sa.Column("outcome", sa.String(16), nullable=True),
    )
    op.create_index("ix_erasures_outcome", "erasures", ["outcome"])
    _apply_stored_erasures(op.get_bind())


def downgrade() -> None:
    op.drop_table("erasures")


def _apply_stored_erasures(connection: sa.Connection) -> None:
    stored = connection.execute(
        sa.text("SELECT seq, node_id, leaf FROM events WHERE type = 'record.erased' ORDER BY seq")
    ).all()
    for seq, node, leaf in stored:
        target = _target_id(bytes(leaf))
        if target is None:
            continue  # stored under a looser check; names no event
        found = connection.execute(
            sa.text(
                "SELECT e.seq, e.node_id FROM events AS e WHERE e.seq IN ("
                "SELECT seq FROM event_ids WHERE event_id = :id "
                "UNION ALL SELECT seq FROM event_id_queue WHERE event_id = :id)"
            ),
            {"id": target},
        ).first()
        target_seq, outcome = None, None
        if found is not None:
            target_seq, outcome = found.seq, "erased" if found.node_id == node else "other_node"
        connection.execute(
            sa.text(
                "INSERT INTO erasures (seq, node_id, target_id, target_seq, outcome) "
                "VALUES (:seq, :node, :target, :target_seq, :outcome)"
            ),
            {
                "seq": seq,
                "node": node,
                "target": target,
                "target_seq": target_seq,
                "outcome": outcome,
            },
        )
        if outcome == "erased":
            connection.execute(
                sa.text("UPDATE events SET protected = NULL WHERE seq = :seq"), {"seq": target_seq}
            )


def _target_id(leaf: bytes) -> bytes | None:
    """The 16 id bytes an erasure's leaf names, or None if it names none."""
    text = json.loads(leaf).get("target_event_id")
    if not isinstance(text, str):
        return None
    try:
        target = bytes.fromhex(text.replace("-", ""))
    except ValueError:
        return None
    return target if len(target) == 16 else None
