"""RFC 6962 / RFC 9162 Merkle tree hashing and proof construction, without storage.

The tree over leaves ``d[0:n]`` is addressed by *perfect subtrees*: node ``(level, i)``
is the hash of the ``2**level`` leaves starting at ``i * 2**level``. Perfect subtrees
never change once complete, so a store can persist them as leaves arrive and any
proof for any tree size needs only O(log n) of them. Everything here works on raw
32-byte hashes; hex belongs to the API layer::

    tree = MemoryTree([hash_leaf(b"a"), hash_leaf(b"b"), hash_leaf(b"c")])
    path = inclusion_proof(1, 3, tree)          # [leaf 0, MTH(d[2:3])]
    root = tree_root(3, tree)

``NodeReader`` is the one storage primitive: fetch many nodes in one call, so a proof
costs one database round trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "MemoryTree",
    "NodeKey",
    "NodeReader",
    "consistency_proof",
    "hash_children",
    "hash_leaf",
    "inclusion_proof",
    "largest_power_of_two_below",
    "naive_root",
    "perfect_subtrees",
    "tree_root",
]

# RFC 6962 §2.1: the hash of an empty list is the hash of an empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"  # RFC 6962 §2.1 domain separation
_NODE_PREFIX = b"\x01"


def hash_leaf(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 ‖ d) — RFC 6962 §2.1."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right) — RFC 6962 §2.1."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The k of RFC 6962 §2.1: the largest power of two strictly smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass(frozen=True, slots=True)
class NodeKey:
    """Perfect subtree of ``2**level`` leaves starting at leaf ``index * 2**level``."""

    level: int
    index: int


class NodeReader(Protocol):
    """Anything that returns stored perfect-subtree hashes, many per call."""

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Hashes of the given nodes; a missing key is a storage fault, not a miss."""
        ...


def perfect_subtrees(start: int, end: int) -> list[NodeKey]:
    """Split leaves ``[start, end)`` into the perfect subtrees RFC 6962 would form.

    ``start`` must be aligned the way every range of §2.1's recursion is: to a power of
    two at least as large as the range's biggest part. Parts come largest first.
    """
    keys: list[NodeKey] = []
    while start < end:
        size = 1 << ((end - start).bit_length() - 1)
        while start % size:
            size >>= 1
        level = size.bit_length() - 1
        keys.append(NodeKey(level, start >> level))
        start += size
    return keys


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its perfect parts (largest first): fold from the right."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = hash_children(left, result)
    return result


def _range_hashes(ranges: Sequence[tuple[int, int]], reader: NodeReader) -> list[bytes]:
    parts = [perfect_subtrees(start, end) for start, end in ranges]
    stored = reader.read_nodes([key for keys in parts for key in keys])
    try:
        return [fold_subtrees([stored[key] for key in keys]) for keys in parts]
    except KeyError as exc:
        raise LookupError(f"node {exc.args[0]} missing from storage") from exc


def tree_root(size: int, reader: NodeReader) -> bytes:
    """MTH(d[0:size]) from stored perfect subtrees — RFC 6962 §2.1."""
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes([(0, size)], reader)[0]


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PATH(index, d[0:size]), bottom-up — RFC 9162 §2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of {size} leaves")
    ranges: list[tuple[int, int]] = []
    low, high = 0, size
    while high - low > 1:
        k = largest_power_of_two_below(high - low)
        if index < low + k:
            ranges.append((low + k, high))  # PATH(m, D[0:k]) : MTH(D[k:n])
            high = low + k
        else:
            ranges.append((low, low + k))  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            low += k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PROOF(first, d[0:second]) — RFC 9162 §2.1.4.1."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    ranges: list[tuple[int, int]] = []
    low, high, m, whole = 0, second, first, True
    while True:
        if m == high - low:
            if not whole:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
                ranges.append((low, high))
            break
        k = largest_power_of_two_below(high - low)
        if m <= k:
            ranges.append((low + k, high))  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            high = low + k
        else:
            ranges.append((low, low + k))  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            low, m, whole = low + k, m - k, False
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """The RFC 9162 §2.1.3.1 inclusion proof, read in one ``read_nodes`` call."""
    return _range_hashes(inclusion_ranges(index, size), reader)


def consistency_proof(first: int, second: int, reader: NodeReader) -> list[bytes]:
    """The RFC 9162 §2.1.4.1 consistency proof; empty when ``first == second``."""
    if first == second:
        return []
    return _range_hashes(consistency_ranges(first, second), reader)


@dataclass(slots=True)
class _Frontier:
    level: int
    index: int
    hash: bytes


class CompactRange:
    """The right edge of a growing tree: one perfect subtree per set bit of its size.

    Appending leaves yields every perfect subtree they complete, which is exactly what a
    store must persist; the root of the current size is a fold of the frontier.
    """

    def __init__(self, size: int, frontier_hashes: Sequence[bytes]) -> None:
        keys = perfect_subtrees(0, size)
        if len(keys) != len(frontier_hashes):
            raise ValueError("frontier does not match the tree size")
        self.size = size
        self._stack = [
            _Frontier(k.level, k.index, h) for k, h in zip(keys, frontier_hashes, strict=True)
        ]

    @staticmethod
    def frontier_keys(size: int) -> list[NodeKey]:
        """The nodes a store must read to resume appending at ``size``."""
        return perfect_subtrees(0, size)

    def append(self, leaf_hash: bytes) -> list[tuple[NodeKey, bytes]]:
        """Add one leaf; return it and every perfect subtree it completes (bottom-up)."""
        node = _Frontier(0, self.size, leaf_hash)
        completed = [(NodeKey(0, self.size), leaf_hash)]
        while self._stack and self._stack[-1].level == node.level:
            left = self._stack.pop()
            parent_hash = hash_children(left.hash, node.hash)
            node = _Frontier(node.level + 1, left.index >> 1, parent_hash)
            completed.append((NodeKey(node.level, node.index), node.hash))
        self._stack.append(node)
        self.size += 1
        return completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[tuple[NodeKey, bytes]]:
        completed: list[tuple[NodeKey, bytes]] = []
        for leaf_hash in leaf_hashes:
            completed.extend(self.append(leaf_hash))
        return completed

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        return fold_subtrees(self.frontier_hashes())

    def frontier_hashes(self) -> list[bytes]:
        """The hashes of ``frontier_keys(size)``, in that order: enough to resume."""
        return [node.hash for node in self._stack]


class MemoryTree:
    """Every perfect subtree of a list of leaf hashes, in memory: tests and baselines."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._nodes: dict[NodeKey, bytes] = {}
        self._range = CompactRange(0, [])
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        return self._range.size

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        self._nodes.update(self._range.extend(leaf_hashes))

    def root(self) -> bytes:
        return self._range.root()

    def read_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        return {key: self._nodes[key] for key in keys if key in self._nodes}


def naive_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH straight from RFC 6962 §2.1's recursive definition: the O(n) baseline."""
    if not leaf_hashes:
        return EMPTY_ROOT
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = largest_power_of_two_below(len(leaf_hashes))
    return hash_children(naive_root(leaf_hashes[:k]), naive_root(leaf_hashes[k:]))
