"""RFC 6962 / 9162 hashing and proofs: published vectors and Hypothesis properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.interface import VerificationError
from ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryTree,
    consistency_proof,
    hash_leaf,
    inclusion_proof,
    naive_root,
    tree_root,
)
from ledger.verify import verify_consistency, verify_inclusion

# Known-answer vectors of Certificate Transparency's reference tests (RFC 6962), as
# carried by transparency-dev/merkle: testonly/constants.go (LeafInputs, RootHashes)
# and proof/verify_test.go (inclusion and consistency probes; 0-based indices here).
CT_LEAVES = [
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
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # empty tree
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 1): [],
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
CT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): CT_INCLUSION[(0, 8)],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
CT_TREE = MemoryTree(hash_leaf(leaf) for leaf in CT_LEAVES)


def leaves(n: int, salt: int = 0) -> list[bytes]:
    return [hash_leaf(f"{salt}:{i}".encode()) for i in range(n)]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == CT_ROOTS[0] == hashlib.sha256(b"").hexdigest()
    assert tree_root(0, MemoryTree()) == EMPTY_ROOT


@pytest.mark.parametrize("size", range(9))
def test_roots_match_ct_vectors(size: int) -> None:
    assert tree_root(size, CT_TREE).hex() == CT_ROOTS[size]
    assert naive_root([hash_leaf(leaf) for leaf in CT_LEAVES[:size]]).hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size"), sorted(CT_INCLUSION))
def test_inclusion_proofs_match_ct_vectors(index: int, size: int) -> None:
    proof = inclusion_proof(index, size, CT_TREE)
    assert [h.hex() for h in proof] == CT_INCLUSION[(index, size)]
    verify_inclusion(
        hash_leaf(CT_LEAVES[index]), index=index, tree_size=size, proof=proof, root=CT_ROOTS[size]
    )


@pytest.mark.parametrize(("first", "second"), sorted(CT_CONSISTENCY))
def test_consistency_proofs_match_ct_vectors(first: int, second: int) -> None:
    proof = consistency_proof(first, second, CT_TREE)
    assert [h.hex() for h in proof] == CT_CONSISTENCY[(first, second)]
    verify_consistency(
        first=first,
        second=second,
        proof=proof,
        first_root=CT_ROOTS[first],
        second_root=CT_ROOTS[second],
    )


def test_compact_range_resumes_from_a_stored_frontier() -> None:
    hashes = leaves(37)
    whole = MemoryTree(hashes)
    frontier_keys = CompactRange.frontier_keys(20)
    stored = MemoryTree(hashes[:20]).read_nodes(frontier_keys)
    resumed = CompactRange(20, [stored[key] for key in frontier_keys])
    completed = dict(resumed.extend(hashes[20:]))
    assert resumed.root() == whole.root() == naive_root(hashes)
    assert all(whole.read_nodes([key])[key] == digest for key, digest in completed.items())


@settings(max_examples=25, deadline=None, database=None)
@given(size=st.integers(1, 2000), salt=st.integers(0, 2**16))
@example(size=2000, salt=7)
def test_every_leaf_proves_inclusion(size: int, salt: int) -> None:
    hashes = leaves(size, salt)
    tree = MemoryTree(hashes)
    root = tree.root()
    assert root == naive_root(hashes)
    for index, leaf_hash in enumerate(hashes):
        proof = inclusion_proof(index, size, tree)
        verify_inclusion(leaf_hash, index=index, tree_size=size, proof=proof, root=root)


@settings(max_examples=60, deadline=None, database=None)
@given(data=st.data(), size=st.integers(1, 2000))
def test_every_pair_of_sizes_proves_consistency(data: st.DataObject, size: int) -> None:
    tree = MemoryTree(leaves(size))
    first = data.draw(st.integers(1, size), label="first")
    second = data.draw(st.integers(first, size), label="second")
    proof = consistency_proof(first, second, tree)
    verify_consistency(
        first=first,
        second=second,
        proof=proof,
        first_root=tree_root(first, tree),
        second_root=tree_root(second, tree),
    )


def test_every_pair_of_small_sizes_proves_consistency() -> None:
    tree = MemoryTree(leaves(70))
    roots = [tree_root(n, tree) for n in range(71)]
    for second in range(1, 71):
        for first in range(1, second + 1):
            verify_consistency(
                first=first,
                second=second,
                proof=consistency_proof(first, second, tree),
                first_root=roots[first],
                second_root=roots[second],
            )


def flip(value: bytes, bit: int) -> bytes:
    flipped = bytearray(value)
    flipped[bit // 8 % len(value)] ^= 1 << (bit % 8)
    return bytes(flipped)


@settings(max_examples=80, deadline=None, database=None)
@given(data=st.data(), size=st.integers(2, 600), bit=st.integers(0, 255))
def test_any_flipped_bit_fails_inclusion(data: st.DataObject, size: int, bit: int) -> None:
    hashes = leaves(size)
    tree = MemoryTree(hashes)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(index, size, tree)
    root = tree.root()
    target = data.draw(st.sampled_from(["leaf", "root", "proof"]), label="target")
    if target == "leaf":
        args = (flip(hashes[index], bit), proof, root)
    elif target == "root":
        args = (hashes[index], proof, flip(root, bit))
    else:
        position = data.draw(st.integers(0, len(proof) - 1), label="position")
        bad = [*proof[:position], flip(proof[position], bit), *proof[position + 1 :]]
        args = (hashes[index], bad, root)
    with pytest.raises(VerificationError):
        verify_inclusion(args[0], index=index, tree_size=size, proof=args[1], root=args[2])


@settings(max_examples=80, deadline=None, database=None)
@given(data=st.data(), size=st.integers(3, 600), bit=st.integers(0, 255))
def test_any_flipped_bit_fails_consistency(data: st.DataObject, size: int, bit: int) -> None:
    tree = MemoryTree(leaves(size))
    first = data.draw(st.integers(1, size - 1), label="first")
    proof = consistency_proof(first, size, tree)
    old, new = tree_root(first, tree), tree.root()
    target = data.draw(st.sampled_from(["old", "new", "proof"]), label="target")
    if target == "old":
        old = flip(old, bit)
    elif target == "new":
        new = flip(new, bit)
    else:
        position = data.draw(st.integers(0, len(proof) - 1), label="position")
        proof = [*proof[:position], flip(proof[position], bit), *proof[position + 1 :]]
    with pytest.raises(VerificationError):
        verify_consistency(first=first, second=size, proof=proof, first_root=old, second_root=new)


@pytest.mark.parametrize(
    ("index", "size", "change"),
    [(3, 8, "wrong index"), (0, 8, "short"), (0, 8, "long"), (5, 8, "wrong size")],
)
def test_structurally_wrong_inclusion_proofs_fail(index: int, size: int, change: str) -> None:
    proof = inclusion_proof(index, size, CT_TREE)
    leaf, root = hash_leaf(CT_LEAVES[index]), CT_ROOTS[size]
    kwargs = {"index": index, "tree_size": size, "proof": proof, "root": root}
    if change == "wrong index":
        kwargs["index"] = index + 1
    elif change == "short":
        kwargs["proof"] = proof[:-1]
    elif change == "long":
        kwargs["proof"] = [*proof, proof[0]]
    else:  # the same path shape, checked against the smaller tree's own root
        kwargs["tree_size"], kwargs["root"] = size - 1, CT_ROOTS[size - 1]
    with pytest.raises(VerificationError):
        verify_inclusion(leaf, **kwargs)  # type: ignore[arg-type]


def test_verifier_refuses_malformed_hashes() -> None:
    with pytest.raises(VerificationError, match="hex"):
        verify_inclusion("zz", index=0, tree_size=1, proof=[], root=CT_ROOTS[1])
    with pytest.raises(VerificationError, match="32-byte"):
        verify_inclusion(b"short", index=0, tree_size=1, proof=[], root=CT_ROOTS[1])
    with pytest.raises(VerificationError):
        verify_consistency(
            first=0, second=1, proof=[], first_root=CT_ROOTS[0], second_root=CT_ROOTS[1]
        )
