"""The storage-backed Merkle log: hash tiles in the C2SP tlog-tiles layout.

The tree is the RFC 6962 tree of :mod:`cardtrace.ledger.merkle`, kept as *tiles*: the
tile at level ``L``, index ``N`` holds, in order, the hashes of the perfect subtrees of
height ``8 * L`` numbered ``256 * N`` to ``256 * N + 255`` (level 0 holds the leaf
hashes), as 32-byte hashes concatenated. The right-most tile of each level is *partial*:
it holds only the subtrees already complete, and grows as leaves arrive. Any node of the
tree lies inside one tile and is at most 127 hashes away from it, so roots, inclusion and
consistency proofs of any size read O(log n) tiles and never rehash the tree.

Beside the tiles the store keeps the log's *state*: its size and its right edge (the
hashes of the perfect subtrees that make up the tree, largest first), so the current
root costs no tile read and an append hashes only the new leaves.

This module is pure: it reaches storage only through the narrow :class:`TileStore`
protocol (``cardtrace.store.ledger_sql`` implements it on SQL, :class:`MemoryTileStore`
in memory). Writers must be serialised by the caller, e.g. by the database transaction
that wraps :func:`append`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from cardtrace.errors import InvalidInput, TamperDetected
from cardtrace.ledger.merkle import (
    EMPTY_ROOT,
    consistency_ranges,
    fold_subtrees,
    inclusion_ranges,
    perfect_subtrees,
)

__all__ = [
    "HASH_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "MemoryTileStore",
    "TileCache",
    "TileKey",
    "TileStore",
    "append",
    "check_state",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash_at",
    "root",
    "size",
    "tile_width",
]

HASH_SIZE = 32
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
_TILE_BYTES = TILE_WIDTH * HASH_SIZE
_PAIR = 2 * HASH_SIZE
_NODE_CONTEXT = hashlib.sha256(b"\x01")  # append copies it per node
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

#: ``(level, index)`` of a tile.
TileKey = tuple[int, int]
#: ``(level, index)`` of a tree node: it covers leaves ``[index << level, index + 1 << level)``.
NodeId = tuple[int, int]


class TileStore(Protocol):
    """Where a log keeps its tiles and state; every method runs in the caller's transaction."""

    def read_tiles(self, keys: Sequence[TileKey]) -> dict[TileKey, bytes]:
        """The stored tiles among ``keys`` (full or partial); absent ones are left out."""
        ...

    def write_tiles(self, tiles: Mapping[TileKey, bytes]) -> None:
        """Create or replace the given tiles."""
        ...

    def read_state(self) -> tuple[int, bytes] | None:
        """The stored ``(size, right edge)``, or ``None`` for a log never written."""
        ...

    def write_state(self, size: int, state: bytes) -> None:
        """Replace the stored size and right edge."""
        ...


class MemoryTileStore:
    """A :class:`TileStore` in a dict: for tests and throwaway logs."""

    def __init__(self) -> None:
        self.tiles: dict[TileKey, bytes] = {}
        self.state: tuple[int, bytes] | None = None

    def read_tiles(self, keys: Sequence[TileKey]) -> dict[TileKey, bytes]:
        return {key: self.tiles[key] for key in keys if key in self.tiles}

    def write_tiles(self, tiles: Mapping[TileKey, bytes]) -> None:
        self.tiles.update(tiles)

    def read_state(self) -> tuple[int, bytes] | None:
        return self.state

    def write_state(self, size: int, state: bytes) -> None:
        self.state = (size, state)


def tile_width(level: int, index: int, size: int) -> int:
    """How many hashes tile ``(level, index)`` holds in a tree of ``size`` leaves (0..256)."""
    nodes = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, nodes - index * TILE_WIDTH))


# --- appending -------------------------------------------------------------------------


def append(store: TileStore, leaf_hashes: Sequence[bytes]) -> int:
    """Append leaf hashes to the log; return the index of the first one.

    One state read, one tile read (the partial tiles that grow), one tile write and one
    state write per call, whatever the batch size: batch for throughput.
    """
    batch = _join_hashes(leaf_hashes)
    old_size, edge = _load_state(store)
    if not batch:
        return old_size
    new_size = old_size + len(batch) // HASH_SIZE
    grown = _levels_that_grow(old_size, new_size)
    partial = _read_partial_tiles(store, old_size, grown)
    edge_parts = _split_edge(old_size, edge, _level_count(new_size))
    writes: dict[TileKey, bytes] = {}
    items = batch
    for level in range(grown):
        items, edge_parts[level] = _integrate_level(
            level, old_size, partial.get(level, b""), edge_parts[level], items, writes=writes
        )
    store.write_tiles(writes)
    store.write_state(new_size, b"".join(h for part in reversed(edge_parts) for h in part))
    return old_size


def _join_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    try:
        joined = b"".join(leaf_hashes)
        lengths = set(map(len, leaf_hashes))
    except TypeError as error:
        raise InvalidInput(f"leaf hashes must be bytes: {error}") from error
    if lengths - {HASH_SIZE}:
        raise InvalidInput(f"leaf hashes must be {HASH_SIZE} bytes each, not {sorted(lengths)}")
    return joined


def _levels_that_grow(old_size: int, new_size: int) -> int:
    """The number of tile levels (from 0) that gain at least one hash."""
    level = 0
    while new_size >> (TILE_HEIGHT * level) > old_size >> (TILE_HEIGHT * level):
        level += 1
    return level


def _read_partial_tiles(store: TileStore, size: int, levels: int) -> dict[int, bytes]:
    """The right-most partial tile of each of the first ``levels`` levels, by level."""
    keys = [
        (level, (size >> (TILE_HEIGHT * level)) // TILE_WIDTH)
        for level in range(levels)
        if (size >> (TILE_HEIGHT * level)) % TILE_WIDTH
    ]
    tiles = _read_checked(store, keys, size) if keys else {}
    return {level: data for (level, _), data in tiles.items()}


def _integrate_level(
    level: int,
    old_size: int,
    partial: bytes,
    edge_part: list[bytes],
    items: bytes,
    *,
    writes: dict[TileKey, bytes],
) -> tuple[bytes, list[bytes]]:
    """Add new hashes to one tile level.

    Records the tiles written, and returns the roots of the tiles completed (the new
    hashes of the next level) with the level's new part of the right edge.
    """
    first_tile = (old_size >> (TILE_HEIGHT * level)) // TILE_WIDTH
    if len(partial) + len(items) < _TILE_BYTES:  # no tile completes: extend the edge
        writes[(level, first_tile)] = partial + items
        return b"", _extend_edge(edge_part, len(partial) // HASH_SIZE, items)
    row = partial + items
    full = len(row) - len(row) % _TILE_BYTES
    for offset in range(0, len(row), _TILE_BYTES):
        writes[(level, first_tile + offset // _TILE_BYTES)] = row[offset : offset + _TILE_BYTES]
    completed = row[:full]
    for _ in range(TILE_HEIGHT):
        completed = _hash_pairs(completed)
    return completed, _decompose(row[full:])


def _extend_edge(edge_part: list[bytes], count: int, items: bytes) -> list[bytes]:
    """Push hashes onto a right edge of ``count`` hashes, merging like a binary counter."""
    stack = list(edge_part)
    new_context = _NODE_CONTEXT.copy
    for offset in range(0, len(items), HASH_SIZE):
        node = items[offset : offset + HASH_SIZE]
        count += 1
        carry = count
        while not carry & 1:
            hasher = new_context()
            hasher.update(stack.pop())
            hasher.update(node)
            node = hasher.digest()
            carry >>= 1
        stack.append(node)
    return stack


def _hash_pairs(row: bytes) -> bytes:
    """The level above a row of an even number of hashes: one node per adjacent pair."""
    view = memoryview(row)
    new_context = _NODE_CONTEXT.copy
    out: list[bytes] = []
    keep = out.append
    for offset in range(0, len(row), _PAIR):
        hasher = new_context()
        hasher.update(view[offset : offset + _PAIR])
        keep(hasher.digest())
    return b"".join(out)


def _decompose(row: bytes) -> list[bytes]:
    """The perfect-subtree roots of a row of hashes, largest first (its right edge)."""
    roots: list[bytes] = []
    while row:
        if len(row) // HASH_SIZE % 2:
            roots.append(row[-HASH_SIZE:])
            row = row[:-HASH_SIZE]
        row = _hash_pairs(row)
    roots.reverse()
    return roots


# --- state -----------------------------------------------------------------------------


def size(store: TileStore) -> int:
    """The number of leaves in the log."""
    return _load_state(store)[0]


def check_state(store: TileStore) -> None:
    """Check the stored right edge against the partial tiles it summarises.

    Run before each append and each checkpoint: reads one tile per level and hashes at
    most 255 hashes per level, never the whole tree. Raises ``TamperDetected`` when state
    and tiles disagree.
    """
    tree_size, edge = _load_state(store)
    levels = _level_count(tree_size)
    partial = _read_partial_tiles(store, tree_size, levels)
    derived = [_decompose(partial.get(level, b"")) for level in reversed(range(levels))]
    if b"".join(h for part in derived for h in part) != b"".join(edge):
        raise TamperDetected(f"ledger state does not match its tiles at size {tree_size}")


def _load_state(store: TileStore) -> tuple[int, list[bytes]]:
    stored = store.read_state()
    if stored is None:
        return 0, []
    tree_size, state = stored
    if tree_size < 0 or len(state) != HASH_SIZE * tree_size.bit_count():
        raise TamperDetected(
            f"ledger state holds {len(state)} bytes, a log of size {tree_size} needs "
            f"{HASH_SIZE * max(tree_size, 0).bit_count()}"
        )
    return tree_size, [state[i : i + HASH_SIZE] for i in range(0, len(state), HASH_SIZE)]


def _level_count(tree_size: int) -> int:
    """The number of tile levels a tree of ``tree_size`` leaves has."""
    levels = 0
    while tree_size >> (TILE_HEIGHT * levels):
        levels += 1
    return levels


def _split_edge(tree_size: int, edge: list[bytes], levels: int) -> list[list[bytes]]:
    """The right edge cut by tile level: part ``L`` covers tree levels ``8L`` to ``8L+7``."""
    parts: list[list[bytes]] = []
    end = len(edge)
    for level in range(max(levels, _level_count(tree_size))):
        count = ((tree_size >> (TILE_HEIGHT * level)) % TILE_WIDTH).bit_count()
        parts.append(edge[end - count : end])
        end -= count
    return parts


# --- reading ---------------------------------------------------------------------------


def root(store: TileStore, size: int | None = None, cache: TileCache | None = None) -> bytes:
    """The root hash of the log at ``size`` leaves (default: now); any past size works."""
    tree_size, edge = _load_state(store)
    if size is None or size == tree_size:
        return fold_subtrees(edge) if edge else EMPTY_ROOT
    _check_size(size, tree_size)
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes(store, tree_size, edge, [(0, size)], cache)[0]


def inclusion_proof(
    store: TileStore, index: int, size: int, cache: TileCache | None = None
) -> list[bytes]:
    """The RFC 6962 audit path of leaf ``index`` in the log at ``size`` leaves."""
    tree_size, edge = _load_state(store)
    _check_size(size, tree_size)
    return _range_hashes(store, tree_size, edge, inclusion_ranges(index, size), cache)


def consistency_proof(
    store: TileStore, old_size: int, new_size: int, cache: TileCache | None = None
) -> list[bytes]:
    """The RFC 6962 proof that the log at ``old_size`` is a prefix of it at ``new_size``."""
    tree_size, edge = _load_state(store)
    _check_size(new_size, tree_size)
    ranges = consistency_ranges(old_size, new_size)
    return _range_hashes(store, tree_size, edge, ranges, cache)


def leaf_hash_at(store: TileStore, index: int) -> bytes:
    """The leaf hash stored at ``index``."""
    tree_size = _load_state(store)[0]
    if not 0 <= index < tree_size:
        raise InvalidInput(f"leaf index {index} is outside a log of size {tree_size}")
    key = (0, index // TILE_WIDTH)
    data = _read_checked(store, [key], tree_size)[key]
    offset = index % TILE_WIDTH * HASH_SIZE
    return data[offset : offset + HASH_SIZE]


def _check_size(size: int, tree_size: int) -> None:
    if not 0 <= size <= tree_size:
        raise InvalidInput(f"size {size} is outside a log of size {tree_size}")


def _range_hashes(
    store: TileStore,
    tree_size: int,
    edge: Sequence[bytes],
    ranges: Iterable[tuple[int, int]],
    cache: TileCache | None,
) -> list[bytes]:
    """The MTH of each leaf range, from the state's right edge and the tiles.

    A perfect subtree of the current right edge is taken from the state already read
    (so ranges that end at the current size cost no tile); every other one is rebuilt
    from its tile, all tiles read in one ``read_tiles``.
    """
    on_edge = dict(zip(perfect_subtrees(0, tree_size), edge, strict=True))
    covers = [perfect_subtrees(begin, end) for begin, end in ranges]
    keys = sorted({_tile_of(node) for nodes in covers for node in nodes if node not in on_edge})
    tiles = _read_checked(store, keys, tree_size) if keys else {}
    node_hash = _node_from_tiles if cache is None else cache.node_hash
    hashes: list[bytes] = []
    for nodes in covers:
        parts = [on_edge[node] if node in on_edge else node_hash(node, tiles) for node in nodes]
        hashes.append(parts[0] if len(parts) == 1 else fold_subtrees(parts))
    return hashes


def _node_from_tiles(node: NodeId, tiles: Mapping[TileKey, bytes]) -> bytes:
    """The hash of a perfect subtree, rebuilt from its tile among ``tiles``."""
    level, index = node
    tile_level, height = divmod(level, TILE_HEIGHT)
    first = index << height
    offset = first % TILE_WIDTH * HASH_SIZE
    data = tiles[tile_level, first // TILE_WIDTH]
    return _subtree_root(data[offset : offset + (HASH_SIZE << height)])


def _tile_of(node: NodeId) -> TileKey:
    level, index = node
    tile_level, height = divmod(level, TILE_HEIGHT)
    return tile_level, (index << height) // TILE_WIDTH


class TileCache:
    """Node hashes already computed from tiles, kept with the tile bytes they came from.

    A proof needs up to 127 hashes per node to rebuild it from its tile; a server that
    keeps one cache per log rebuilds the upper levels once. Entries are reused only when
    the tile just read is byte-identical to the one they were computed from, so a cache
    can never serve a rolled-back or altered tile. The oldest tiles go beyond ``capacity``.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._tiles: dict[TileKey, tuple[bytes, dict[NodeId, bytes]]] = {}

    def node_hash(self, node: NodeId, tiles: Mapping[TileKey, bytes]) -> bytes:
        """The hash of a perfect subtree, from its tile among ``tiles`` (already read)."""
        level, index = node
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = index << height
        key = (tile_level, first // TILE_WIDTH)
        data = tiles[key]
        offset = first % TILE_WIDTH * HASH_SIZE
        if not height:
            return data[offset : offset + HASH_SIZE]
        entry = self._tiles.get(key)
        if entry is None or entry[0] != data:
            if len(self._tiles) >= self.capacity:
                del self._tiles[next(iter(self._tiles))]
            entry = self._tiles[key] = (data, {})
        nodes = entry[1]
        digest = nodes.get(node)
        if digest is None:
            digest = nodes[node] = _subtree_root(data[offset : offset + (HASH_SIZE << height)])
        return digest


def _subtree_root(row: bytes) -> bytes:
    """The root of a perfect subtree given its hashes (a power of two of them)."""
    sha256, prefix = _sha256, _NODE_PREFIX
    while len(row) > HASH_SIZE:  # one level up per pass; a new hash object beats copy()
        row = b"".join(
            [sha256(prefix + row[i : i + _PAIR]).digest() for i in range(0, len(row), _PAIR)]
        )
    return row


def _read_checked(
    store: TileStore, keys: Sequence[TileKey], tree_size: int
) -> dict[TileKey, bytes]:
    """Read tiles, insisting each is present and exactly as wide as the tree makes it."""
    tiles = store.read_tiles(keys)
    for key in keys:
        expected = tile_width(*key, tree_size) * HASH_SIZE
        data = tiles.get(key)
        if data is None or len(data) != expected:
            found = "missing" if data is None else f"{len(data)} bytes"
            raise TamperDetected(
                f"ledger tile {key} is {found}, a log of size {tree_size} needs {expected}"
            )
    return tiles
