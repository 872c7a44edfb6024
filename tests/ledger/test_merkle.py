"""Merkle hashing and proofs against the RFC 6962 vectors of transparency-dev/merkle."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardtrace.errors import InvalidInput, TamperDetected
from cardtrace.ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    consistency_ranges,
    fold_subtrees,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    perfect_subtrees,
    root_hash,
    split_point,
    verify_consistency,
    verify_inclusion,
)

# transparency-dev/merkle testonly/constants.go: LeafInputs, NodeHashes, RootHashes.
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
LEVEL0 = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
LEVEL1 = [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
]
LEVEL2 = [
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# transparency-dev/merkle proof/verify_test.go (its leaf numbers count from 1; ours from 0).
INCLUSION_VECTORS = [
    (0, 8, [LEVEL0[1], LEVEL1[1], LEVEL2[1]]),
    (5, 8, [LEVEL0[4], LEVEL1[3], LEVEL2[0]]),
    (2, 3, [LEVEL1[0]]),
    (1, 5, [LEVEL0[0], LEVEL1[1], LEVEL0[4]]),
    (0, 1, []),
]
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (1, 8, [LEVEL0[1], LEVEL1[1], LEVEL2[1]]),
    (6, 8, [LEVEL1[2], LEVEL1[3], LEVEL2[0]]),
    (2, 5, [LEVEL1[1], LEVEL0[4]]),
    (6, 7, [LEVEL1[2], LEVEL0[6], LEVEL2[0]]),
]

HASHES = [leaf_hash(data) for data in LEAVES]


def _root(size: int) -> bytes:
    return bytes.fromhex(ROOTS[size])


def test_leaf_hashes_match_vectors() -> None:
    assert [h.hex() for h in HASHES] == LEVEL0


def test_node_hashes_match_vectors() -> None:
    assert node_hash(HASHES[0], HASHES[1]).hex() == LEVEL1[0]
    assert node_hash(bytes.fromhex(LEVEL1[2]), bytes.fromhex(LEVEL1[3])).hex() == LEVEL2[1]


@pytest.mark.parametrize("size", range(9))
def test_root_hash_matches_vectors(size: int) -> None:
    assert root_hash(HASHES[:size]).hex() == ROOTS[size]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert root_hash([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_proof_matches_vectors(index: int, size: int, proof: list[str]) -> None:
    expected = [bytes.fromhex(h) for h in proof]
    assert inclusion_proof(HASHES[:size], index) == expected
    verify_inclusion(HASHES[index], index, size, expected, _root(size))


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_consistency_proof_matches_vectors(old: int, new: int, proof: list[str]) -> None:
    expected = [bytes.fromhex(h) for h in proof]
    assert consistency_proof(HASHES[:new], old) == expected
    verify_consistency(old, new, expected, _root(old), _root(new))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 9, 1000, 1024, 1025])
def test_split_point_is_largest_power_of_two_below(n: int) -> None:
    k = split_point(n)
    assert k < n <= 2 * k
    assert k & (k - 1) == 0


@pytest.mark.parametrize("n", [-1, 0, 1])
def test_split_point_needs_two_leaves(n: int) -> None:
    with pytest.raises(InvalidInput):
        split_point(n)


def test_perfect_subtrees_fold_to_the_root() -> None:
    for size in range(1, 9):
        nodes = perfect_subtrees(0, size)
        hashes = [root_hash(HASHES[i << lv : (i + 1) << lv]) for lv, i in nodes]
        assert fold_subtrees(hashes).hex() == ROOTS[size]
    assert perfect_subtrees(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert perfect_subtrees(4, 7) == [(1, 2), (0, 6)]


def test_ranges_are_the_proof_structure() -> None:
    assert inclusion_ranges(0, 8) == [(1, 2), (2, 4), (4, 8)]
    assert consistency_ranges(6, 8) == [(4, 6), (6, 8), (0, 4)]
    assert consistency_ranges(5, 5) == []


# --- rejection: the probes of transparency-dev's corruptInclusionProof -------------------

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _inclusion_probes(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[int, int, list[bytes], bytes, bytes]]:
    probes = [
        (index - 1, size, proof, root, leaf),
        (index + 1, size, proof, root, leaf),
        (index ^ 2, size, proof, root, leaf),
        (index, size * 2, proof, root, leaf),
        (index, size // 2, proof, root, leaf),
        (index, size, proof, root, leaf_hash(b"WrongLeaf")),
        (index, size, proof, EMPTY_ROOT, leaf),
        (index, size, proof, SOME_HASH, leaf),
        (index, size, [*proof, root], root, leaf),
        (index, size, [root, *proof], root, leaf),
        (index, size, [*proof, b""], root, leaf),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((index, size, bad, root, leaf))
    if proof:
        probes.append((index, size, proof[:-1], root, leaf))
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS[:4])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, proof: list[str]) -> None:
    good = [bytes.fromhex(h) for h in proof]
    for i, n, p, root, leaf in _inclusion_probes(index, size, good, _root(size), HASHES[index]):
        with pytest.raises(TamperDetected):
            verify_inclusion(leaf, i, n, p, root)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS[1:])
def test_corrupted_consistency_proofs_fail(old: int, new: int, proof: list[str]) -> None:
    good = [bytes.fromhex(h) for h in proof]
    r1, r2 = _root(old), _root(new)
    probes = [
        (old + 1, new, good, r1, r2),
        (old ^ 2, new, good, r1, r2),
        (old, new * 2, good, r1, r2),
        (old, new, good, r2, r1),
        (old, new, good, SOME_HASH, r2),
        (old, new, good, r1, SOME_HASH),
        (old, new, [], r1, r2),
        (old, new, [*good, r1], r1, r2),
        (old, new, [r2, *good], r1, r2),
        (old, new, [good[0], *good], r1, r2),
        (old, new, good[:-1], r1, r2),
    ]
    for i in range(len(good)):
        bad = list(good)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((old, new, bad, r1, r2))
    for m, n, p, a, b in probes:
        if not 0 < m <= n:
            continue
        with pytest.raises(TamperDetected):
            verify_consistency(m, n, p, a, b)


def test_inclusion_reasons_are_precise() -> None:
    root = _root(8)
    with pytest.raises(TamperDetected, match="outside a tree of size 8"):
        verify_inclusion(HASHES[0], 8, 8, [], root)
    with pytest.raises(TamperDetected, match="wrong proof length: 2 hashes"):
        verify_inclusion(HASHES[0], 0, 8, inclusion_proof(HASHES, 0)[:2], root)
    with pytest.raises(TamperDetected, match="root mismatch"):
        verify_inclusion(HASHES[1], 0, 8, inclusion_proof(HASHES, 0), root)
    with pytest.raises(TamperDetected, match="leaf hash is 3 bytes"):
        verify_inclusion(b"abc", 0, 1, [], root)
    with pytest.raises(TamperDetected, match="root is 0 bytes"):
        verify_inclusion(HASHES[0], 0, 1, [], b"")
    with pytest.raises(TamperDetected, match="proof hash 1 is 31 bytes"):
        verify_inclusion(HASHES[0], 0, 4, [HASHES[1], root[:31]], root)


def test_single_leaf_tree_root_is_the_leaf() -> None:
    verify_inclusion(HASHES[3], 0, 1, [], HASHES[3])
    with pytest.raises(TamperDetected):
        verify_inclusion(HASHES[3], 0, 1, [], HASHES[4])


def test_consistency_size_errors_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="must be non-empty"):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(InvalidInput, match="must be non-empty"):
        verify_consistency(0, 3, [], EMPTY_ROOT, _root(3))
    with pytest.raises(InvalidInput, match="smaller size"):
        verify_consistency(2, 1, [], _root(2), _root(1))
    with pytest.raises(InvalidInput):
        consistency_proof(HASHES, 0)
    with pytest.raises(InvalidInput):
        consistency_proof(HASHES[:3], 4)
    with pytest.raises(InvalidInput):
        inclusion_proof(HASHES[:3], 3)


def test_equal_sizes_need_equal_roots_and_no_proof() -> None:
    verify_consistency(4, 4, [], _root(4), _root(4))
    with pytest.raises(TamperDetected, match="root mismatch"):
        verify_consistency(4, 4, [], _root(4), _root(5))
    with pytest.raises(TamperDetected, match="wrong proof length"):
        verify_consistency(4, 4, [EMPTY_ROOT], _root(4), _root(4))


# --- properties over random trees ------------------------------------------------------

# Distinct leaves: a tree of equal leaves is symmetric, so a wrong size may truly verify.
trees = st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True).map(
    lambda leaves: [leaf_hash(x) for x in leaves]
)


@given(trees, st.data())
def test_every_inclusion_proof_verifies(hashes: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(hashes) - 1))
    root = root_hash(hashes)
    proof = inclusion_proof(hashes, index)
    verify_inclusion(hashes[index], index, len(hashes), proof, root)
    assert fold_ok(hashes, inclusion_ranges(index, len(hashes)), proof)


@given(trees, st.data())
def test_every_consistency_proof_verifies(hashes: list[bytes], data: st.DataObject) -> None:
    old = data.draw(st.integers(1, len(hashes)))
    proof = consistency_proof(hashes, old)
    verify_consistency(old, len(hashes), proof, root_hash(hashes[:old]), root_hash(hashes))
    assert fold_ok(hashes, consistency_ranges(old, len(hashes)), proof)


def fold_ok(hashes: list[bytes], ranges: list[tuple[int, int]], proof: list[bytes]) -> bool:
    """What a storage-backed builder does: fold stored perfect nodes for every range."""
    built = []
    for begin, end in ranges:
        nodes = perfect_subtrees(begin, end)
        built.append(fold_subtrees([root_hash(hashes[i << lv : (i + 1) << lv]) for lv, i in nodes]))
    return built == proof


@given(trees, st.data())
def test_mutated_inclusion_proof_fails(hashes: list[bytes], data: st.DataObject) -> None:
    size = len(hashes)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(hashes, index)
    root = root_hash(hashes)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        byte = data.draw(st.integers(0, 31))
        bit = data.draw(st.integers(0, 7))
        bad = list(proof)
        bad[which] = _flip(bad[which], byte, bit)
        with pytest.raises(TamperDetected):
            verify_inclusion(hashes[index], index, size, bad, root)
    other = data.draw(st.integers(0, 2 * size).filter(lambda i: i != index))
    with pytest.raises(TamperDetected):
        verify_inclusion(hashes[index], other, size, proof, root)
    wrong_size = data.draw(st.integers(index + 1, 2 * size + 2).filter(lambda n: n != size))
    with pytest.raises(TamperDetected):
        verify_inclusion(hashes[index], index, wrong_size, proof, _root_at(hashes, wrong_size))


@given(trees, st.data())
def test_mutated_consistency_proof_fails(hashes: list[bytes], data: st.DataObject) -> None:
    size = len(hashes)
    old = data.draw(st.integers(1, size))
    proof = consistency_proof(hashes, old)
    old_root, new_root = root_hash(hashes[:old]), root_hash(hashes)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[which] = _flip(bad[which], data.draw(st.integers(0, 31)), data.draw(st.integers(0, 7)))
        with pytest.raises(TamperDetected):
            verify_consistency(old, size, bad, old_root, new_root)
    wrong_old = data.draw(st.integers(1, size + 3).filter(lambda n: n != old))
    if wrong_old <= size:
        with pytest.raises(TamperDetected):
            verify_consistency(wrong_old, size, proof, old_root, new_root)
    wrong_new = data.draw(st.integers(old, 2 * size + 2).filter(lambda n: n != size))
    with pytest.raises(TamperDetected):
        verify_consistency(old, wrong_new, proof, old_root, _root_at(hashes, wrong_new))


def _root_at(hashes: list[bytes], size: int) -> bytes:
    """The root of the log grown (or cut) to ``size`` with fresh leaves.

    A proof is checked against the root signed *with* its size. Against an arbitrary
    root a wrong size can pass: tree hashes do not encode the size, so the proof for
    leaf 0 of 5 leaves has the same shape as for 6 leaves (see the test below).
    """
    grown = hashes + [leaf_hash(b"extension-leaf-%d" % i) for i in range(size)]
    return root_hash(grown[:size])


def test_proof_shape_does_not_encode_the_size() -> None:
    """Why checkpoints sign the size next to the root: the hashes alone do not fix it."""
    proof = inclusion_proof(HASHES[:5], 0)
    verify_inclusion(HASHES[0], 0, 6, proof, _root(5))
    with pytest.raises(TamperDetected):
        verify_inclusion(HASHES[0], 0, 6, proof, _root(6))


def _flip(value: bytes, byte: int, bit: int) -> bytes:
    mutable = bytearray(value)
    mutable[byte] ^= 1 << bit
    return bytes(mutable)


# --- the second-preimage attack (pymerkle's tests/test_defense.py shows the same) -------


def _naive_root_from_path(leaf: bytes, index: int, proof: list[bytes]) -> bytes:
    """An unprefixed tree's verifier for perfect trees: SHA-256(l || r) at every node."""
    node = hashlib.sha256(leaf).digest()
    for sibling in proof:
        pair = sibling + node if index & 1 else node + sibling
        node = hashlib.sha256(pair).digest()
        index >>= 1
    return node


def test_second_preimage_attack_fails_only_with_prefixes() -> None:
    data = [b"alpha", b"bravo", b"charlie", b"delta"]
    # Without domain separation, the interior node's preimage passes as a 64-byte leaf.
    naive = [hashlib.sha256(d).digest() for d in data]
    left, right = naive[0] + naive[1], naive[2] + naive[3]
    naive_root = hashlib.sha256(hashlib.sha256(left).digest() + hashlib.sha256(right).digest())
    forged_leaf, forged_path = left, [hashlib.sha256(right).digest()]
    assert _naive_root_from_path(forged_leaf, 0, forged_path) == naive_root.digest()

    # With 0x00/0x01 prefixes the same forgery — an interior node's preimage as a leaf
    # of a two-leaf tree — no longer reaches the root.
    hashes = [leaf_hash(d) for d in data]
    root = root_hash(hashes)
    forged = hashes[0] + hashes[1]
    assert node_hash(hashes[0], hashes[1]) == root_hash(hashes[:2])
    with pytest.raises(TamperDetected, match="root mismatch"):
        verify_inclusion(leaf_hash(forged), 0, 2, [root_hash(hashes[2:])], root)
    # Nor can the interior node itself be presented as a leaf hash of a smaller tree
    # whose root is the real root: the tree size is signed, so the path must match it.
    with pytest.raises(TamperDetected):
        verify_inclusion(root_hash(hashes[:2]), 0, 4, [root_hash(hashes[2:])], root)


def test_every_proof_of_small_trees_verifies() -> None:
    hashes = [leaf_hash(b"leaf-%d" % i) for i in range(33)]
    for size in range(1, len(hashes) + 1):
        tree, root = hashes[:size], root_hash(hashes[:size])
        for index in range(size):
            verify_inclusion(tree[index], index, size, inclusion_proof(tree, index), root)
        for old in range(1, size + 1):
            proof = consistency_proof(tree, old)
            verify_consistency(old, size, proof, root_hash(tree[:old]), root)


# --- proof lengths computed arithmetically ---------------------------------------------


def test_path_shape_matches_the_inclusion_ranges() -> None:
    from cardtrace.ledger.merkle import _path_shape

    for size in range(1, 600):
        for index in range(size):
            assert sum(_path_shape(index, size)) == len(inclusion_ranges(index, size))
    for size, index in ((10**7, 0), (10**7, 10**7 - 1), (2**40 + 3, 2**39 + 5)):
        assert sum(_path_shape(index, size)) == len(inclusion_ranges(index, size))


def test_every_proof_of_every_small_tree_verifies_and_no_other_length_does() -> None:
    """Each size pair up to 48 leaves: the reference proof verifies, one hash more or
    less is a wrong length (the expected length is arithmetic, not ranges)."""
    hashes = [leaf_hash(bytes([i])) for i in range(48)]
    roots = [root_hash(hashes[:n]) for n in range(len(hashes) + 1)]
    for size in range(1, len(hashes) + 1):
        prefix = hashes[:size]
        for index in range(size):
            path = inclusion_proof(prefix, index)
            verify_inclusion(hashes[index], index, size, path, roots[size])
            with pytest.raises(TamperDetected, match="wrong proof length"):
                verify_inclusion(hashes[index], index, size, [*path, SOME_HASH], roots[size])
        for old in range(1, size + 1):
            proof = consistency_proof(prefix, old)
            assert len(proof) == len(consistency_ranges(old, size))
            verify_consistency(old, size, proof, roots[old], roots[size])
            with pytest.raises(TamperDetected, match="wrong proof length"):
                verify_consistency(old, size, [*proof, SOME_HASH], roots[old], roots[size])
            if proof:
                with pytest.raises(TamperDetected, match="wrong proof length"):
                    verify_consistency(old, size, proof[1:], roots[old], roots[size])
