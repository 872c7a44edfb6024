"""A node with a small log to tamper with, and raw SQL to tamper with it, as an attacker
(or a failing disk) with write access to the database would: for the audit's tests and
the rebuild's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

import factories as make
from cardtrace import service
from cardtrace.domain.events import event_uuid_for
from cardtrace.service import Node
from cardtrace.settings import load_settings

__all__ = ["PROTECTED_VALUES", "changed", "fetch", "fetch_rows", "ids", "ingest", "node", "sql"]


@pytest.fixture
def node(database_url: str, tmp_path: Path) -> Iterator[Node]:
    settings = load_settings(
        database_url=database_url, key_dir=tmp_path / "keys", environment="development"
    )
    with Node(settings) as opened:
        yield opened


def ingest(node: Node, folder: Path, first: int, count: int) -> list[str]:
    """``count`` card sales by shop-a, numbered from ``first``; their event ids."""
    path = folder / f"events-{first}.jsonl"
    sources = [str(n) for n in range(first, first + count)]
    path.write_bytes(b"".join(orjson.dumps(make.card_sold(source_id=s)) + b"\n" for s in sources))
    assert node.ingest([path], rejects=folder / "rejects.jsonl").accepted == count
    return [str(event_uuid_for("shop-a", source)) for source in sources]


@pytest.fixture
def ids(node: Node, tmp_path: Path) -> list[str]:
    """20 events, checkpoint #1 at size 12 and #2 at size 20."""
    found = ingest(node, tmp_path, 0, 12)
    service.make_checkpoint(node)
    found += ingest(node, tmp_path, 12, 8)
    service.make_checkpoint(node)
    return found


def sql(node: Node, statement: str, **params: Any) -> None:
    with node.database.transaction() as connection:
        connection.execute(text(statement), params)


def fetch(node: Node, statement: str, **params: Any) -> Any:
    with node.database.engine.connect() as connection:
        return connection.execute(text(statement), params).scalar_one()


def fetch_rows(node: Node, query: str) -> list[tuple[Any, ...]]:
    """The rows of ``query``, blobs as bytes on either backend (psycopg: memoryview)."""
    with node.database.engine.connect() as connection:
        return [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in connection.execute(text(query))
        ]


#: Every stored value the audit holds to the log: (table, column, the row's key columns).
PROTECTED_VALUES = [
    *(
        ("events", column, ("seq",))
        for column in ("leaf", "protected", "content", "event_id", "node_id", "type", "occurred_us")
    ),
    ("ledger_tiles", "data", ("level", "idx")),
    ("ledger_state", "state", ("id",)),
    ("ledger_state", "size", ("id",)),
    ("checkpoints", "note", ("id",)),
    ("checkpoints", "root", ("id",)),
    ("checkpoints", "size", ("id",)),
]


def changed(value: Any, change: int) -> Any:
    """``value`` with one byte, one character or its number changed."""
    if isinstance(value, int):
        return value + (1 + change % 1000) * (1 if change % 2 else -1)
    if isinstance(value, str):
        at = change % len(value)
        other = chr(33 + (ord(value[at]) - 32) % 94)  # another printable ASCII character
        return value[:at] + other + value[at + 1 :]
    data = bytes(value)
    at = change % len(data)
    return data[:at] + bytes([data[at] ^ (1 + change % 255)]) + data[at + 1 :]
