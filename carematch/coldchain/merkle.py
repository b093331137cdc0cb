"""Verifiable append-only log (可验证日志): RFC 6962 / RFC 9162 §2.1 Merkle tree hashing and proofs.

Every cold-chain event (received, stored, shipped, administered, discarded) becomes a leaf; the
tree head (size and root hash) is published in a signed checkpoint (``checkpoint.py``). Anyone
holding a checkpoint can check that an event is in the log (inclusion proof) and that a later
checkpoint extends an earlier one without rewriting it (consistency proof).

**Hashing** (RFC 9162 §2.1.1), with SHA-256:

- the empty tree: ``MTH({}) = SHA-256("")``;
- a leaf: ``MTH({d}) = SHA-256(0x00 || d)``;
- ``n > 1`` leaves, ``k`` the largest power of two smaller than ``n``:
  ``MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``.

The 0x00 / 0x01 prefixes keep a leaf from ever being read as an inner node (second preimages).

**Proofs.** ``MerkleLog.inclusion_proof`` is ``PATH(m, D[n])`` (§2.1.3.1) and
``MerkleLog.consistency_proof`` is ``PROOF(m, D[n])`` (§2.1.4.1), for any tree size up to the
log's current one. ``verify_inclusion`` and ``verify_consistency`` implement the verification
algorithms of §2.1.3.2 and §2.1.4.2 step by step, as written there; the checks in front of them
(hash lengths, the order of the sizes, equal sizes) cover the cases the RFC leaves out.

**Policy for consistency from size 0.** RFC 9162 defines consistency proofs for
``0 < first < second`` only. The two test suites we verify against disagree on the empty tree:
C2SP CCTV accepts an empty proof from size 0 whose first root is ``SHA-256("")``;
transparency-dev rejects every proof from size 0. We reject it (``EmptyTreeConsistency``), both
when asked to generate one and when asked to verify one: such a "proof" checks nothing about the
second root, so any root at all would pass, and a verifier that answers "consistent" would be
saying nothing. A client that holds no checkpoint yet has nothing to be consistent with; it
starts from the first signed checkpoint it verifies (trust on first use). Two tree heads of the
same size are consistent when the proof is empty and the roots are equal; at size 0 the root
must moreover be ``SHA-256("")``, the only root an empty tree has.

**Storage and cost.** ``MerkleLog`` keeps every leaf hash and the hash of every complete,
aligned subtree (``2^h`` leaves starting at a multiple of ``2^h``), each level in one
``bytearray``: about 64 bytes per leaf (64 MB for a million events). Appending hashes one leaf
and completes at most ``log2 n`` parents (amortised fewer than two). Every subtree that RFC
6962's recursion visits is aligned, so a complete one is one lookup and an incomplete one (only
along the right border of the tree) splits into ``O(log n)`` complete ones: the root at any size,
an inclusion proof and a consistency proof each cost ``O(log n)`` hashes (at most ``2 log2 n``),
whatever the size of the log. Rebuilding a log from stored leaf hashes costs ``O(n)`` hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from carematch.coldchain.errors import (
    ConsistencyProofInvalid,
    EmptyTreeConsistency,
    InclusionProofInvalid,
    ProofRequestInvalid,
)

HASH_SIZE = 32
"""Bytes in every hash of the log (SHA-256)."""

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root hash of the empty tree, ``SHA-256("")`` (RFC 9162 §2.1.1)."""


def hash_leaf(data: bytes) -> bytes:
    """The leaf hash of one entry: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n > 1``): where RFC 6962 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofRequestInvalid(f"{what} must be {HASH_SIZE} bytes")


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """``MTH`` of a whole list of leaf hashes, in one pass and ``O(log n)`` memory.

    A stack holds the roots of the complete subtrees seen so far, largest first; equal sizes
    merge as they complete, and the leftovers fold from the right, which is exactly RFC 6962's
    split at the largest power of two.
    """
    stack: list[tuple[int, bytes]] = []
    for leaf in leaf_hashes:
        _check_hash(leaf, "a leaf hash")
        size, node = 1, bytes(leaf)
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, node = left_size + size, hash_children(left, node)
        stack.append((size, node))
    if not stack:
        return EMPTY_ROOT
    root = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        root = hash_children(left, root)
    return root


class MerkleLog:
    """An append-only Merkle tree over leaf hashes, able to prove any of its past tree heads.

    The log stores leaf hashes, not entries: the event itself lives in the database, and its
    leaf hash is ``hash_leaf(canonical bytes of the event)``.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        """A log holding ``leaf_hashes`` in order (empty by default)."""
        # _levels[h] holds, back to back, the hash of every complete subtree of 2**h leaves
        # that starts at a multiple of 2**h; level 0 is the leaf hashes.
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        """The number of leaves in the log."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def append(self, entry: bytes) -> int:
        """Append one entry (hashed as a leaf); return its index."""
        return self.append_leaf_hash(hash_leaf(entry))

    def append_leaf_hash(self, leaf_hash: bytes) -> int:
        """Append one leaf hash; return its index. Completes the parents it closes."""
        _check_hash(leaf_hash, "a leaf hash")
        index = self._size
        self._levels[0] += leaf_hash
        self._size += 1
        level, i, node = 0, index, bytes(leaf_hash)
        while i & 1:
            node = hash_children(self._node(level, i - 1), node)
            level, i = level + 1, i >> 1
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += node
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaf hashes in order."""
        for leaf_hash in leaf_hashes:
            self.append_leaf_hash(leaf_hash)

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        if not 0 <= index < self._size:
            raise ProofRequestInvalid(f"leaf {index} is not in a log of {self._size} leaves")
        return self._node(0, index)

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the tree of the first ``size`` leaves (default: all of them)."""
        size = self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """``PATH(index, D[size])`` (RFC 9162 §2.1.3.1): the audit path of one leaf, bottom up."""
        size = self._check_size(size)
        if not 0 <= index < size:
            raise ProofRequestInvalid(f"leaf {index} is not in a tree of {size} leaves")
        siblings: list[bytes] = []
        lo, hi, m = 0, size, index
        while hi - lo > 1:
            k = _split(hi - lo)
            if m < k:
                siblings.append(self._subtree(lo + k, hi))
                hi = lo + k
            else:
                siblings.append(self._subtree(lo, lo + k))
                lo, m = lo + k, m - k
        siblings.reverse()
        return siblings

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """``PROOF(first, D[second])`` (RFC 9162 §2.1.4.1), bottom up.

        Equal sizes give the empty proof. From size 0 to a larger size there is no proof, by
        our policy (``EmptyTreeConsistency``, see the module docstring).
        """
        second = self._check_size(second)
        if not 0 <= first <= second:
            raise ProofRequestInvalid(f"no consistency proof from size {first} to {second}")
        if first == second:
            return []
        if first == 0:
            raise EmptyTreeConsistency(
                f"a consistency proof from the empty tree to size {second} would prove nothing"
            )
        # SUBPROOF(m, D[lo:hi], b), unrolled: each step records this level's sibling, and the
        # recursion's own output (deeper, so earlier in the proof) comes before it.
        siblings: list[bytes] = []
        lo, hi, m, whole = 0, second, first, True
        while m != hi - lo:
            k = _split(hi - lo)
            if m <= k:
                siblings.append(self._subtree(lo + k, hi))
                hi = lo + k
            else:
                siblings.append(self._subtree(lo, lo + k))
                lo, m, whole = lo + k, m - k, False
        proof = [] if whole else [self._subtree(lo, hi)]
        proof.extend(reversed(siblings))
        return proof

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        if not 0 <= size <= self._size:
            raise ProofRequestInvalid(f"tree size {size} is beyond the log's {self._size} leaves")
        return size

    def _node(self, level: int, index: int) -> bytes:
        start = index * HASH_SIZE
        return bytes(self._levels[level][start : start + HASH_SIZE])

    def _subtree(self, lo: int, hi: int) -> bytes:
        """``MTH(D[lo:hi])`` for a range RFC 6962's recursion visits (``lo`` is aligned)."""
        n = hi - lo
        if n & (n - 1) == 0:
            level = n.bit_length() - 1
            return self._node(level, lo >> level)
        k = _split(n)
        return hash_children(self._node(k.bit_length() - 1, lo // k), self._subtree(lo + k, hi))


def verify_inclusion(
    leaf_hash: bytes, leaf_index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``leaf_index`` of the tree of ``tree_size`` and ``root``.

    RFC 9162 §2.1.3.2, step by step. Returns nothing; raises ``InclusionProofInvalid``.
    """
    if len(leaf_hash) != HASH_SIZE:
        raise InclusionProofInvalid(f"the leaf hash must be {HASH_SIZE} bytes")
    if any(len(p) != HASH_SIZE for p in proof):
        raise InclusionProofInvalid(f"every proof hash must be {HASH_SIZE} bytes")
    if leaf_index < 0 or tree_size < 0:
        raise InclusionProofInvalid("the leaf index and the tree size cannot be negative")
    # 1. If leaf_index is greater than or equal to tree_size, fail the proof verification.
    if leaf_index >= tree_size:
        raise InclusionProofInvalid(f"leaf {leaf_index} is not in a tree of {tree_size} leaves")
    # 2. Set fn to leaf_index and sn to tree_size - 1.
    fn, sn = leaf_index, tree_size - 1
    # 3. Set r to hash.
    r = bytes(leaf_hash)
    # 4. For each value p in the inclusion_path array:
    for p in proof:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise InclusionProofInvalid("the proof is longer than the path to the root")
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set r to HASH(0x01 || p || r).
            r = hash_children(p, r)
            # ii. If LSB(fn) is not set, then right-shift both fn and sn equally until either
            #     LSB(fn) is set or fn is 0.
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        # Otherwise: i. Set r to HASH(0x01 || r || p).
        else:
            r = hash_children(r, p)
        # c. Finally, right-shift both fn and sn one time.
        fn, sn = fn >> 1, sn >> 1
    # 5. Compare sn to 0. Compare r against the root_hash. If sn is equal to 0 and r and the
    #    root_hash are equal, then the log has proven the inclusion of hash.
    if sn != 0:
        raise InclusionProofInvalid("the proof is shorter than the path to the root")
    if r != root:
        raise InclusionProofInvalid("the proof leads to another root")


def verify_consistency(
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree (``first_size``, ``first_root``) is a prefix of the second one.

    RFC 9162 §2.1.4.2, step by step, for ``0 < first_size < second_size``. Around it: equal
    sizes need an empty proof and equal roots (the empty tree's root being ``SHA-256("")``),
    and a proof from size 0 to a larger tree is refused by policy (``EmptyTreeConsistency``).
    Returns nothing; raises ``ConsistencyProofInvalid``.
    """
    if first_size < 0 or second_size < 0:
        raise ConsistencyProofInvalid("tree sizes cannot be negative")
    if first_size > second_size:
        raise ConsistencyProofInvalid(f"size {first_size} cannot grow into size {second_size}")
    if any(len(p) != HASH_SIZE for p in proof):
        raise ConsistencyProofInvalid(f"every proof hash must be {HASH_SIZE} bytes")
    if first_size == second_size:
        if proof:
            raise ConsistencyProofInvalid("equal sizes need an empty proof")
        if first_size == 0 and first_root != EMPTY_ROOT:
            raise ConsistencyProofInvalid('the empty tree\'s root is SHA-256("")')
        if first_root != second_root:
            raise ConsistencyProofInvalid("two tree heads of one size with different roots")
        return
    if first_size == 0:
        raise EmptyTreeConsistency(
            "a consistency proof from the empty tree checks nothing about the newer root"
        )
    first, second = first_size, second_size
    path = list(proof)
    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if not path:
        raise ConsistencyProofInvalid("the proof is empty")
    # 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
    if first & (first - 1) == 0:
        path.insert(0, bytes(first_root))
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = sr = path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in path[1:]:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise ConsistencyProofInvalid("the proof is longer than the path to the root")
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set fr to HASH(0x01 || c || fr).
            fr = hash_children(c, fr)
            # ii. Set sr to HASH(0x01 || c || sr).
            sr = hash_children(c, sr)
            # iii. If LSB(fn) is not set, then right-shift both fn and sn equally until either
            #      LSB(fn) is set or fn is 0.
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        # Otherwise: i. Set sr to HASH(0x01 || sr || c).
        else:
            sr = hash_children(sr, c)
        # c. Finally, right-shift both fn and sn one time.
        fn, sn = fn >> 1, sn >> 1
    # 7. Verify that fr equals first_hash, that sr equals second_hash, and that sn is 0.
    if sn != 0:
        raise ConsistencyProofInvalid("the proof is shorter than the path to the root")
    if fr != first_root:
        raise ConsistencyProofInvalid("the proof does not lead to the older root")
    if sr != second_root:
        raise ConsistencyProofInvalid("the proof does not lead to the newer root")
