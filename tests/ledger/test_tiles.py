"""The tiled log against the in-memory reference of merkle.py, byte for byte."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardtrace.errors import InvalidInput, TamperDetected
from cardtrace.ledger import merkle, tiles
from cardtrace.ledger.tiles import MemoryTileStore, TileKey


def make_leaves(count: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [merkle.leaf_hash(rng.randbytes(40)) for _ in range(count)]


def append_in_batches(store: tiles.TileStore, leaves: Sequence[bytes], cuts: Sequence[int]) -> None:
    """Append ``leaves`` split at ``cuts``, checking the index each batch starts at."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(leaves)}), len(leaves)]
    for begin, end in pairwise(bounds):
        assert tiles.append(store, leaves[begin:end]) == begin


class ReferenceRoots:
    """merkle.py's root of every prefix, each perfect subtree hashed once by root_hash."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._leaves = leaves
        self._subtrees: dict[tuple[int, int], bytes] = {}

    def __call__(self, size: int) -> bytes:
        if size == 0:
            return merkle.root_hash([])
        hashes = [self._subtree(node) for node in merkle.perfect_subtrees(0, size)]
        return merkle.fold_subtrees(hashes)

    def _subtree(self, node: tuple[int, int]) -> bytes:
        if node not in self._subtrees:
            level, index = node
            span = self._leaves[index << level : (index + 1) << level]
            self._subtrees[node] = merkle.root_hash(span)
        return self._subtrees[node]


def check_against_reference(
    store: tiles.TileStore, leaves: Sequence[bytes], probes: Sequence[int]
) -> None:
    """Every root, and proofs at the probed points, equal merkle.py's and verify."""
    size = len(leaves)
    assert tiles.size(store) == size
    reference = ReferenceRoots(leaves)
    roots = [tiles.root(store, s) for s in range(size + 1)]
    assert roots == [reference(s) for s in range(size + 1)]
    assert tiles.root(store) == merkle.root_hash(leaves)
    for probe in probes:
        new_size = 1 + probe % size if size else 0
        if not new_size:
            continue
        prefix = leaves[:new_size]
        assert roots[new_size] == merkle.root_hash(prefix)
        index = probe * 7919 % new_size
        path = tiles.inclusion_proof(store, index, new_size)
        assert path == merkle.inclusion_proof(prefix, index)
        merkle.verify_inclusion(leaves[index], index, new_size, path, roots[new_size])
        assert tiles.leaf_hash_at(store, index) == leaves[index]
        old_size = 1 + probe * 104729 % new_size
        proof = tiles.consistency_proof(store, old_size, new_size)
        assert proof == merkle.consistency_proof(prefix, old_size)
        merkle.verify_consistency(old_size, new_size, proof, roots[old_size], roots[new_size])


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(0, 2000),
    cuts=st.lists(st.integers(0, 2000), max_size=12),
    probes=st.lists(st.integers(0, 10**6), min_size=1, max_size=6),
)
def test_matches_merkle_py_for_any_batching(count: int, cuts: list[int], probes: list[int]) -> None:
    leaves = make_leaves(count, seed=count)
    store = MemoryTileStore()
    append_in_batches(store, leaves, cuts)
    check_against_reference(store, leaves, [*probes, count - 1, 255, 256, 511])
    tiles.check_state(store)


def test_every_proof_of_a_small_log() -> None:
    leaves = make_leaves(40)
    store = MemoryTileStore()
    append_in_batches(store, leaves, [1, 2, 3, 5, 8, 13, 21, 34])
    for size in range(1, 41):
        prefix = leaves[:size]
        for index in range(size):
            assert tiles.inclusion_proof(store, index, size) == merkle.inclusion_proof(
                prefix, index
            )
        for old_size in range(1, size + 1):
            assert tiles.consistency_proof(store, old_size, size) == merkle.consistency_proof(
                prefix, old_size
            )


def test_three_tile_levels() -> None:
    """70,000 leaves fill level-2 tiles (each of their hashes covers 65,536 leaves)."""
    leaves = make_leaves(70_000)
    store = MemoryTileStore()
    append_in_batches(store, leaves, [65_535, 65_536, 65_537, 66_000, 69_999])
    assert {level for level, _ in store.tiles} == {0, 1, 2}
    for size in (65_535, 65_536, 65_537, 70_000):
        prefix = leaves[:size]
        root = merkle.root_hash(prefix)
        assert tiles.root(store, size) == root
        for index in (0, 65_534, size - 1):
            path = tiles.inclusion_proof(store, index, size)
            assert path == merkle.inclusion_proof(prefix, index)
        for old_size in (1, 256, 65_535, min(65_536, size), size):
            proof = tiles.consistency_proof(store, old_size, size)
            assert proof == merkle.consistency_proof(prefix, old_size)
    tiles.check_state(store)


def test_tiles_follow_the_c2sp_layout() -> None:
    leaves = make_leaves(256 * 256 + 300)
    store = MemoryTileStore()
    tiles.append(store, leaves)
    assert store.tiles[(0, 3)] == b"".join(leaves[768:1024])
    assert store.tiles[(0, 257)] == b"".join(leaves[257 * 256 :])  # partial: 44 hashes
    level_one = store.tiles[(1, 0)]  # hash i: MTH of leaves [256 i, 256 (i + 1))
    assert level_one[5 * 32 : 6 * 32] == merkle.root_hash(leaves[5 * 256 : 6 * 256])
    assert store.tiles[(2, 0)] == merkle.root_hash(leaves[: 256 * 256])
    assert tiles.tile_width(0, 257, len(leaves)) == 44
    assert tiles.tile_width(1, 1, len(leaves)) == 1


def test_restart_continues_identically() -> None:
    leaves = make_leaves(1500, seed=3)
    one_go = MemoryTileStore()
    tiles.append(one_go, leaves)
    first = MemoryTileStore()
    append_in_batches(first, leaves[:700], [1, 300])
    restarted = MemoryTileStore()  # a new process: only what was stored survives
    restarted.tiles, restarted.state = dict(first.tiles), first.state
    tiles.check_state(restarted)
    assert tiles.append(restarted, leaves[700:1200]) == 700
    assert tiles.append(restarted, leaves[1200:]) == 1200
    assert restarted.tiles == one_go.tiles
    assert restarted.state == one_go.state


class CountingStore(MemoryTileStore):
    """Counts the calls and keys that reach storage."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []

    def read_tiles(self, keys: Sequence[TileKey]) -> dict[TileKey, bytes]:
        self.calls.append(("read_tiles", len(keys)))
        return super().read_tiles(keys)

    def write_tiles(self, tiles: Mapping[TileKey, bytes]) -> None:
        self.calls.append(("write_tiles", len(tiles)))
        super().write_tiles(tiles)

    def read_state(self) -> tuple[int, bytes] | None:
        self.calls.append(("read_state", 1))
        return super().read_state()

    def write_state(self, size: int, state: bytes) -> None:
        self.calls.append(("write_state", 1))
        super().write_state(size, state)


def test_storage_calls_are_few_and_proofs_read_few_tiles() -> None:
    store = CountingStore()
    tiles.append(store, make_leaves(70_001))
    store.calls.clear()
    tiles.append(store, make_leaves(1, seed=9))
    assert [name for name, _ in store.calls] == [
        "read_state",
        "read_tiles",
        "write_tiles",
        "write_state",
    ]
    rng = random.Random(5)
    for _ in range(200):
        size = rng.randrange(1, 70_003)
        for proof in (
            lambda: tiles.inclusion_proof(store, rng.randrange(size), size),  # noqa: B023
            lambda: tiles.consistency_proof(store, rng.randrange(1, size + 1), size),  # noqa: B023
            lambda: tiles.root(store, size),  # noqa: B023
        ):
            store.calls.clear()
            proof()
            reads = [count for name, count in store.calls if name == "read_tiles"]
            assert len(reads) <= 1
            assert sum(reads) <= 12  # a handful of tiles per level, three levels


def test_empty_log() -> None:
    store = MemoryTileStore()
    assert tiles.size(store) == 0
    assert tiles.root(store) == merkle.root_hash([])
    assert tiles.append(store, []) == 0
    assert store.state is None
    tiles.check_state(store)


@pytest.mark.parametrize(
    "bad", [[b"short"], [b"x" * 33], [b"x" * 31, b"x" * 33], ["not bytes" * 4]]
)
def test_malformed_leaf_hashes_are_invalid_input(bad: list[bytes]) -> None:
    with pytest.raises(InvalidInput):
        tiles.append(MemoryTileStore(), bad)


def test_out_of_range_is_invalid_input() -> None:
    store = MemoryTileStore()
    tiles.append(store, make_leaves(10))
    for call in (
        lambda: tiles.root(store, 11),
        lambda: tiles.root(store, -1),
        lambda: tiles.inclusion_proof(store, 10, 10),
        lambda: tiles.inclusion_proof(store, 0, 11),
        lambda: tiles.inclusion_proof(store, -1, 5),
        lambda: tiles.consistency_proof(store, 0, 5),
        lambda: tiles.consistency_proof(store, 6, 5),
        lambda: tiles.consistency_proof(store, 5, 11),
        lambda: tiles.leaf_hash_at(store, 10),
    ):
        with pytest.raises(InvalidInput):
            call()


def test_state_of_the_wrong_length_is_tamper() -> None:
    store = MemoryTileStore()
    tiles.append(store, make_leaves(300))
    assert store.state is not None
    size, state = store.state
    store.state = (size, state[:-1])
    for call in (
        lambda: tiles.size(store),
        lambda: tiles.root(store),
        lambda: tiles.append(store, make_leaves(1)),
    ):
        with pytest.raises(TamperDetected):
            call()
    store.state = (size + 1, state)  # 301 has another number of perfect subtrees
    with pytest.raises(TamperDetected):
        tiles.root(store)


def test_state_with_a_wrong_hash_is_caught_at_start_up() -> None:
    store = MemoryTileStore()
    tiles.append(store, make_leaves(70_300))
    assert store.state is not None
    size, state = store.state
    for position in range(0, len(state), 32):
        flipped = state[:position] + bytes([state[position] ^ 1]) + state[position + 1 :]
        store.state = (size, flipped)
        with pytest.raises(TamperDetected):
            tiles.check_state(store)


def test_corrupted_or_missing_tiles_are_tamper() -> None:
    store = MemoryTileStore()
    tiles.append(store, make_leaves(1000))
    store.tiles[(0, 1)] = store.tiles[(0, 1)][:-32]
    with pytest.raises(TamperDetected):
        tiles.inclusion_proof(store, 300, 1000)
    with pytest.raises(TamperDetected):
        tiles.leaf_hash_at(store, 256)
    del store.tiles[(0, 3)]  # the partial tile that the next append extends
    with pytest.raises(TamperDetected):
        tiles.append(store, make_leaves(1))
    with pytest.raises(TamperDetected):
        tiles.check_state(store)


def test_a_shared_cache_gives_the_same_proofs() -> None:
    leaves = make_leaves(70_000, seed=4)
    store = MemoryTileStore()
    tiles.append(store, leaves)
    cache = tiles.TileCache(capacity=8)  # small: eviction happens
    rng = random.Random(6)
    for _ in range(300):
        size = rng.randrange(1, 70_001)
        index, old_size = rng.randrange(size), rng.randrange(1, size + 1)
        assert tiles.inclusion_proof(store, index, size, cache) == tiles.inclusion_proof(
            store, index, size
        )
        assert tiles.consistency_proof(store, old_size, size, cache) == tiles.consistency_proof(
            store, old_size, size
        )
        assert tiles.root(store, size, cache) == tiles.root(store, size)


def test_a_cache_never_serves_a_tile_that_changed() -> None:
    """After a rolled-back append, other leaves take the same places: no stale hashes."""
    cache = tiles.TileCache()
    first, second = make_leaves(600, seed=1), make_leaves(600, seed=2)
    store = MemoryTileStore()
    tiles.append(store, first)
    assert tiles.inclusion_proof(store, 0, 600, cache) == merkle.inclusion_proof(first, 0)
    store = MemoryTileStore()  # what the database holds after the rollback and new leaves
    tiles.append(store, second)
    assert tiles.inclusion_proof(store, 0, 600, cache) == merkle.inclusion_proof(second, 0)


def test_proofs_at_the_current_size_take_its_right_edge_from_the_state() -> None:
    """The edge subtrees come from the state row, byte-identical to rebuilding them."""
    leaves = make_leaves(65_536 + 256 + 3, seed=10)
    store = CountingStore()
    tiles.append(store, leaves)
    size = len(leaves)
    store.calls.clear()
    # A last leaf: all its siblings but the leaf beside it are edge subtrees (one tile);
    # leaf 0: the two tiles below its sibling [65,536, size), which the edge gives;
    # from 65,536: a power of two, the whole proof is the edge (no tile).
    assert tiles.inclusion_proof(store, size - 3, size) == merkle.inclusion_proof(leaves, size - 3)
    assert tiles.inclusion_proof(store, 0, size) == merkle.inclusion_proof(leaves, 0)
    assert tiles.consistency_proof(store, 65_536, size) == merkle.consistency_proof(leaves, 65_536)
    assert store.calls == [
        ("read_state", 1),
        ("read_tiles", 1),
        ("read_state", 1),
        ("read_tiles", 2),
        ("read_state", 1),
    ]
