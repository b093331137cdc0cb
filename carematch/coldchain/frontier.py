"""The compact frontier of an append-only Merkle log: O(log n) hashes that give the next root.

A log of ``n`` leaves is, by RFC 6962's split at the largest power of two, a row of complete
subtrees whose sizes are the set bits of ``n``, largest first. Keeping their roots (32 bytes
each, at most 64 of them) is enough to append a leaf and to compute the tree head, each in
``O(log n)`` hashes, without reading the earlier leaves: this is how the stored log signs a
checkpoint after every append at constant cost. The result is the same root as
``merkle.root_from_leaf_hashes`` over all the leaves (a property test checks it), and
verification never trusts it: ``carematch coldchain verify`` recomputes every head from the
stored leaf bytes. Pure code, no database.
"""

from __future__ import annotations

from carematch.coldchain.merkle import EMPTY_ROOT, HASH_SIZE, hash_children

Frontier = bytes
"""Roots of the complete subtrees, largest first, concatenated (``popcount(n) * 32`` bytes)."""


def _split(frontier: Frontier, size: int) -> list[bytes]:
    nodes = [frontier[i : i + HASH_SIZE] for i in range(0, len(frontier), HASH_SIZE)]
    if len(nodes) != size.bit_count() or any(len(n) != HASH_SIZE for n in nodes):
        raise ValueError(f"a frontier of size {size} holds {size.bit_count()} hashes")
    return nodes


def append(frontier: Frontier, size: int, leaf_hash: bytes) -> Frontier:
    """The frontier after appending ``leaf_hash`` to a log of ``size`` leaves.

    The new leaf merges with the smallest subtrees while they are complete pairs: one merge per
    trailing one bit of ``size``, as in binary addition.
    """
    if len(leaf_hash) != HASH_SIZE:
        raise ValueError("a leaf hash is 32 bytes")
    nodes = _split(frontier, size)
    node, carry = bytes(leaf_hash), size
    while carry & 1:
        node = hash_children(nodes.pop(), node)
        carry >>= 1
    nodes.append(node)
    return b"".join(nodes)


def root(frontier: Frontier, size: int) -> bytes:
    """The tree head of the log the frontier describes: the subtrees folded from the right."""
    nodes = _split(frontier, size)
    if not nodes:
        return EMPTY_ROOT
    head = nodes[-1]
    for left in reversed(nodes[:-1]):
        head = hash_children(left, head)
    return head
