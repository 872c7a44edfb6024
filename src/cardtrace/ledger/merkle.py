"""Merkle tree hashing and proofs, byte for byte as RFC 6962 / RFC 9162 define them.

Pure functions over leaf hashes: nothing here reads storage. Proof *generation* is
expressed through leaf ranges (:func:`inclusion_ranges`, :func:`consistency_ranges`), so a
storage-backed log can build the same proofs from the node hashes it keeps, using
:func:`perfect_subtrees` and :func:`fold_subtrees`; the in-memory :func:`inclusion_proof`
and :func:`consistency_proof` are the reference those builders are tested against.

Proof *verification* follows the iterative algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2
and raises :class:`~cardtrace.errors.TamperDetected` with the precise reason. Leaf
indices count from 0. The output is compatible with Certificate Transparency and
transparency-dev/merkle (pymerkle's consistency proofs use another format).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cardtrace.errors import InvalidInput, TamperDetected

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "consistency_proof",
    "consistency_ranges",
    "fold_subtrees",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "perfect_subtrees",
    "root_hash",
    "split_point",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

Range = tuple[int, int]


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf (RFC 6962 §2.1)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n`` >= 2): RFC 6962's k."""
    if n < 2:
        raise InvalidInput(f"split point needs a tree of at least 2 leaves, got {n}")
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) of the given leaf hashes; SHA-256("") when empty."""
    if not leaf_hashes:
        return EMPTY_ROOT
    # Merge like a binary counter: what remains is the perfect subtrees, largest first.
    stack: list[tuple[int, bytes]] = []
    for item in leaf_hashes:
        size, digest = 1, item
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, digest = left_size + size, node_hash(left, digest)
        stack.append((size, digest))
    return fold_subtrees([digest for _, digest in stack])


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Combine perfect-subtree hashes, left to right, into the hash of their union.

    Given the hashes of :func:`perfect_subtrees` for a range that is a node of the RFC
    6962 tree (``[0, n)`` or any range the ``*_ranges`` functions return), this is the
    MTH of that range: the right-most subtrees join first.
    """
    if not hashes:
        raise InvalidInput("cannot fold an empty list of subtree hashes")
    result = hashes[-1]
    for digest in reversed(hashes[:-1]):
        result = node_hash(digest, result)
    return result


def perfect_subtrees(begin: int, end: int) -> list[tuple[int, int]]:
    """The perfect subtrees ``(level, index)`` covering leaves ``[begin, end)``, in order.

    Node ``(level, index)`` covers leaves ``[index << level, (index + 1) << level)``:
    the address a storage layer keeps node hashes under.
    """
    if not 0 <= begin <= end:
        raise InvalidInput(f"bad leaf range [{begin}, {end})")
    nodes: list[tuple[int, int]] = []
    while begin < end:
        level = (end - begin).bit_length() - 1  # the largest subtree that fits...
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)  # ...and is aligned
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """Leaf ranges whose MTHs form the inclusion proof of ``index`` (RFC 6962 PATH)."""
    if not 0 <= index < size:
        raise InvalidInput(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[Range] = []
    begin, end = 0, size
    while end - begin > 1:
        k = split_point(end - begin)
        if index < begin + k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
    ranges.reverse()  # PATH lists the sibling nearest the leaf first
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """Leaf ranges whose MTHs form the consistency proof (RFC 6962 PROOF/SUBPROOF)."""
    _check_sizes(old_size, new_size)
    ranges: list[Range] = []
    begin, end, m, whole = 0, new_size, old_size, True
    while m != end - begin:
        k = split_point(end - begin)
        if m <= k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin, m, whole = begin + k, m - k, False
    if not whole:
        ranges.append((begin, end))  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
    ranges.reverse()
    return ranges


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``leaf_hashes`` (RFC 6962 §2.1.1)."""
    return [_range_root(leaf_hashes, r) for r in inclusion_ranges(index, len(leaf_hashes))]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """The proof that the first ``old_size`` leaves prefix the tree (RFC 6962 §2.1.2)."""
    ranges = consistency_ranges(old_size, len(leaf_hashes))
    return [_range_root(leaf_hashes, r) for r in ranges]


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` (a leaf hash) sits at ``index`` in the tree with ``root``.

    RFC 9162 §2.1.3.2; raises ``TamperDetected`` naming what does not match.
    """
    _check_hash("leaf hash", leaf)
    _check_hash("root", root)
    _check_proof_hashes(proof)
    if not 0 <= index < tree_size:
        raise TamperDetected(f"leaf index {index} is outside a tree of size {tree_size}")
    inner, border = _path_shape(index, tree_size)
    if len(proof) != inner + border:
        raise TamperDetected(
            f"wrong proof length: {len(proof)} hashes, leaf {index} of a tree of size "
            f"{tree_size} needs {inner + border}"
        )
    # The first ``inner`` hashes are siblings below the point where the path to the leaf
    # leaves the path to the last leaf: bit i of the index says on which side sibling i
    # sits. The ``border`` hashes above are all left siblings.
    sha256, prefix, r = hashlib.sha256, _NODE_PREFIX, leaf
    for level in range(inner):
        if index >> level & 1:
            r = sha256(prefix + proof[level] + r).digest()
        else:
            r = sha256(prefix + r + proof[level]).digest()
    for level in range(inner, inner + border):
        r = sha256(prefix + proof[level] + r).digest()
    if r != root:
        raise TamperDetected(
            f"root mismatch: proof for leaf {index} of {tree_size} gives {r.hex()}, "
            f"expected {root.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Check that the tree of ``old_size`` with ``old_root`` is a prefix of the new one.

    RFC 9162 §2.1.4.2. Sizes out of order (or an old size of 0) are ``InvalidInput``;
    a proof that does not connect the roots is ``TamperDetected``.
    """
    _check_sizes(old_size, new_size)
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    _check_proof_hashes(proof)
    if old_size == new_size:
        if proof:
            raise TamperDetected(
                f"wrong proof length: {len(proof)} hashes, consistency from {old_size} to "
                f"{new_size} needs 0"
            )
        if old_root != new_root:
            raise TamperDetected(f"root mismatch: two different roots for size {old_size}")
        return
    # The proof is the end of the inclusion path of leaf old_size - 1, from the level of
    # the largest perfect subtree the old tree ends with (``shift``); that subtree's hash
    # comes first, unless it is the whole old tree, whose root the caller gives.
    shift = (old_size & -old_size).bit_length() - 1
    inner, border = _path_shape(old_size - 1, new_size)
    inner -= shift
    start = 0 if old_size == 1 << shift else 1
    if len(proof) != start + inner + border:
        raise TamperDetected(
            f"wrong proof length: {len(proof)} hashes, consistency from {old_size} to "
            f"{new_size} needs {start + inner + border}"
        )
    sha256, prefix = hashlib.sha256, _NODE_PREFIX
    fr = sr = proof[0] if start else old_root
    mask = (old_size - 1) >> shift
    for level in range(inner):
        sibling = proof[start + level]
        if mask >> level & 1:
            fr = sha256(prefix + sibling + fr).digest()
            sr = sha256(prefix + sibling + sr).digest()
        else:
            sr = sha256(prefix + sr + sibling).digest()
    for position in range(start + inner, len(proof)):
        sibling = proof[position]
        fr = sha256(prefix + sibling + fr).digest()
        sr = sha256(prefix + sibling + sr).digest()
    if fr != old_root:
        raise TamperDetected(f"root mismatch: proof gives old root {fr.hex()}")
    if sr != new_root:
        raise TamperDetected(f"root mismatch: proof gives new root {sr.hex()}")


def _path_shape(index: int, size: int) -> tuple[int, int]:
    """The inclusion path of leaf ``index`` of ``size`` leaves: (inner, border) lengths.

    Inner nodes lie below the level where the paths to ``index`` and to the last leaf
    meet; border nodes above it, one per 1-bit of the index there. Their sum is
    ``len(inclusion_ranges(index, size))``, computed without building the ranges.
    """
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def _range_root(leaf_hashes: Sequence[bytes], span: Range) -> bytes:
    begin, end = span
    return root_hash(leaf_hashes[begin:end])


def _check_sizes(old_size: int, new_size: int) -> None:
    if old_size < 1:
        raise InvalidInput(f"consistency from size {old_size}: the old tree must be non-empty")
    if old_size > new_size:
        raise InvalidInput(f"consistency from size {old_size} to smaller size {new_size}")


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise TamperDetected(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for position, item in enumerate(proof):
        if len(item) != HASH_SIZE:
            _check_hash(f"proof hash {position}", item)
