"""SqlTileStore: the tiled log on SQL gives merkle.py's bytes, survives restarts, and
notices tampering. The contract tests run on SQLite and PostgreSQL (``database_url``)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from cardtrace.errors import TamperDetected
from cardtrace.ledger import merkle, tiles
from cardtrace.ledger.tiles import MemoryTileStore
from cardtrace.store import schema
from cardtrace.store.engine import open_engine
from cardtrace.store.ledger_sql import SqlTileStore


def make_leaves(count: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [merkle.leaf_hash(rng.randbytes(40)) for _ in range(count)]


def append_in_transactions(
    engine: sa.Engine, leaves: list[bytes], cuts: list[int], start: int = 0
) -> None:
    """Append ``leaves`` in one transaction per batch, split at ``cuts``."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(leaves)}), len(leaves)]
    for begin, end in pairwise(bounds):
        with engine.begin() as connection:
            assert tiles.append(SqlTileStore(connection), leaves[begin:end]) == start + begin


def stored_tiles(engine: sa.Engine) -> dict[tuple[int, int], bytes]:
    table = schema.ledger_tiles
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table.c.level, table.c.idx, table.c.data))
        return {(level, idx): bytes(data) for level, idx, data in rows}


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url)
    schema.metadata.create_all(engine)
    yield engine
    engine.dispose()


@settings(max_examples=20, deadline=None)
@given(
    count=st.integers(0, 2000),
    cuts=st.lists(st.integers(0, 2000), max_size=8),
    probes=st.lists(st.integers(0, 10**6), min_size=1, max_size=4),
)
def test_sqlite_matches_merkle_py_for_any_batching(
    count: int, cuts: list[int], probes: list[int]
) -> None:
    leaves = make_leaves(count, seed=count)
    engine = sa.create_engine("sqlite://")
    try:
        schema.metadata.create_all(engine)
        append_in_transactions(engine, leaves, cuts)
        with engine.connect() as connection:
            store = SqlTileStore(connection)
            assert tiles.size(store) == count
            sizes = sorted({0, count, *(p % (count + 1) for p in probes)})
            for size in sizes:
                prefix = leaves[:size]
                root = tiles.root(store, size)
                assert root == merkle.root_hash(prefix)
                if not size:
                    continue
                index = probes[0] % size
                path = tiles.inclusion_proof(store, index, size)
                assert path == merkle.inclusion_proof(prefix, index)
                merkle.verify_inclusion(leaves[index], index, size, path, root)
                old_size = 1 + probes[-1] % size
                proof = tiles.consistency_proof(store, old_size, size)
                assert proof == merkle.consistency_proof(prefix, old_size)
                merkle.verify_consistency(
                    old_size, size, proof, merkle.root_hash(leaves[:old_size]), root
                )
            tiles.check_state(store)
    finally:
        engine.dispose()


def test_same_bytes_as_the_memory_store(engine: sa.Engine) -> None:
    leaves = make_leaves(1300)
    append_in_transactions(engine, leaves, [1, 2, 255, 256, 700])
    memory = MemoryTileStore()
    tiles.append(memory, leaves)
    assert stored_tiles(engine) == memory.tiles
    with engine.connect() as connection:
        assert SqlTileStore(connection).read_state() == memory.state
        store = SqlTileStore(connection)
        for size in range(0, 1301, 50):
            assert tiles.root(store, size) == merkle.root_hash(leaves[:size])


def test_restart_continues_identically(database_url: str) -> None:
    leaves = make_leaves(1500, seed=1)
    first = sa.create_engine(database_url)
    schema.metadata.create_all(first)
    append_in_transactions(first, leaves[:777], [100, 500])
    first.dispose()

    restarted = sa.create_engine(database_url)  # a new process: only the database survives
    try:
        with restarted.connect() as connection:
            tiles.check_state(SqlTileStore(connection))
        append_in_transactions(restarted, leaves[777:], [300], start=777)
        memory = MemoryTileStore()
        tiles.append(memory, leaves)
        assert stored_tiles(restarted) == memory.tiles
        with restarted.connect() as connection:
            store = SqlTileStore(connection)
            assert store.read_state() == memory.state
            assert tiles.root(store, 777) == merkle.root_hash(leaves[:777])
    finally:
        restarted.dispose()


def test_a_rolled_back_append_leaves_no_trace(engine: sa.Engine) -> None:
    leaves = make_leaves(600)
    append_in_transactions(engine, leaves[:300], [])
    before = stored_tiles(engine)
    with engine.connect() as connection:
        transaction = connection.begin()
        tiles.append(SqlTileStore(connection), leaves[300:])
        transaction.rollback()
    assert stored_tiles(engine) == before
    with engine.connect() as connection:
        assert tiles.size(SqlTileStore(connection)) == 300


def test_a_tampered_state_is_detected(engine: sa.Engine) -> None:
    append_in_transactions(engine, make_leaves(1000), [])
    state = schema.ledger_state
    with engine.begin() as connection:
        stored = connection.execute(sa.select(state.c.state)).scalar_one()
        flipped = bytes([stored[0] ^ 1]) + stored[1:]
        connection.execute(sa.update(state).values(state=flipped))
    with engine.connect() as connection, pytest.raises(TamperDetected):
        tiles.check_state(SqlTileStore(connection))
    with engine.begin() as connection:
        connection.execute(sa.update(state).values(state=stored[:-32]))
    with engine.connect() as connection, pytest.raises(TamperDetected):
        tiles.root(SqlTileStore(connection))


def test_a_truncated_tile_is_detected(engine: sa.Engine) -> None:
    append_in_transactions(engine, make_leaves(1000), [])
    table = schema.ledger_tiles
    with engine.begin() as connection:
        connection.execute(
            sa.update(table)
            .where(table.c.level == 0, table.c.idx == 1)
            .values(data=b"\x00" * 32 * 255)
        )
    with engine.connect() as connection, pytest.raises(TamperDetected):
        tiles.inclusion_proof(SqlTileStore(connection), 300, 1000)


def test_reads_only_what_is_asked(engine: sa.Engine) -> None:
    append_in_transactions(engine, make_leaves(600), [])
    with engine.connect() as connection:
        store = SqlTileStore(connection)
        assert store.read_tiles([]) == {}
        found = store.read_tiles([(0, 0), (0, 2), (1, 0), (5, 5)])
        assert sorted(found) == [(0, 0), (0, 2), (1, 0)]
        assert len(found[(0, 2)]) == 88 * 32


def test_reads_run_in_the_callers_transaction(tmp_path: Path) -> None:
    """The SQLite read path sees the caller's uncommitted appends; on the app's engine
    (BEGIN when a transaction begins) a proof on a fresh connection begins one, so its
    state and tiles are one snapshot."""
    leaves = make_leaves(700, seed=5)
    engine = open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    schema.metadata.create_all(engine)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            store = SqlTileStore(connection)
            tiles.append(store, leaves)
            assert tiles.inclusion_proof(store, 3, 700) == merkle.inclusion_proof(leaves, 3)
            transaction.rollback()
            assert tiles.size(store) == 0
        append_in_transactions(engine, leaves, [300])
        with engine.connect() as connection:
            assert not connection.in_transaction()
            proof = tiles.consistency_proof(SqlTileStore(connection), 300, 700)
            assert connection.in_transaction()
            assert proof == merkle.consistency_proof(leaves, 300)
    finally:
        engine.dispose()
