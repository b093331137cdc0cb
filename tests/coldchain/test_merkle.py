"""The Merkle log against RFC 9162's own definitions, tampering, and its cost."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.coldchain import merkle
from carematch.coldchain.errors import (
    ConsistencyProofInvalid,
    EmptyTreeConsistency,
    InclusionProofInvalid,
    ProofRequestInvalid,
)
from carematch.coldchain.merkle import (
    EMPTY_ROOT,
    MerkleLog,
    hash_children,
    hash_leaf,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# --- RFC 9162 §2.1, written as literally as the RFC writes it: the reference ---------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) on leaf hashes (§2.1.1)."""
    if not d:
        return EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return hash_children(mth(d[:k]), mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (§2.1.3.1)."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) (§2.1.4.1)."""
    if m == len(d):
        return [] if b else [mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def leaves(n: int) -> list[bytes]:
    return [hash_leaf(f"event {i}".encode()) for i in range(n)]


# --- agreement with the definitions ---------------------------------------------------------


def test_every_proof_of_every_small_tree_matches_the_rfc_and_verifies() -> None:
    # Exhaustive up to 40 leaves: every root, every audit path, every consistency proof.
    d = leaves(40)
    log = MerkleLog(d)
    for n in range(1, 41):
        root = mth(d[:n])
        assert log.root(n) == root
        for m in range(n):
            proof = log.inclusion_proof(m, n)
            assert proof == path(m, d[:n])
            verify_inclusion(d[m], m, n, proof, root)
        for m in range(1, n + 1):
            proof = log.consistency_proof(m, n)
            assert proof == (subproof(m, d[:n], True) if m < n else [])
            verify_consistency(m, n, log.root(m), root, proof)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=12), min_size=1, max_size=300), st.data())
def test_random_logs_prove_any_past_size(entries: list[bytes], data: st.DataObject) -> None:
    log = MerkleLog()
    for e in entries:
        log.append(e)
    d = [hash_leaf(e) for e in entries]
    n = data.draw(st.integers(1, len(d)), label="tree size")
    m = data.draw(st.integers(1, n), label="older size")
    i = data.draw(st.integers(0, n - 1), label="leaf")
    assert log.root(n) == mth(d[:n]) == root_from_leaf_hashes(d[:n])
    verify_inclusion(d[i], i, n, log.inclusion_proof(i, n), log.root(n))
    verify_consistency(m, n, log.root(m), log.root(n), log.consistency_proof(m, n))


def test_a_log_built_at_once_equals_one_appended_leaf_by_leaf() -> None:
    d = leaves(77)
    one_by_one = MerkleLog()
    for leaf in d:
        one_by_one.append_leaf_hash(leaf)
    assert MerkleLog(d).root() == one_by_one.root() == mth(d)
    assert [one_by_one.leaf_hash(i) for i in range(77)] == d


# --- a proof that was changed in any way is rejected ----------------------------------------


def _mutations(proof: list[bytes]) -> Iterator[list[bytes]]:
    for i, h in enumerate(proof):
        for bit in range(0, 256, 37):
            changed = bytearray(h)
            changed[bit // 8] ^= 1 << (bit % 8)
            yield [*proof[:i], bytes(changed), *proof[i + 1 :]]
    if proof:
        yield proof[:-1]
        yield proof[1:]
    yield [*proof, proof[0] if proof else EMPTY_ROOT]


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 200), st.data())
def test_changed_inclusion_proofs_fail(n: int, data: st.DataObject) -> None:
    d = leaves(n)
    log = MerkleLog(d)
    i = data.draw(st.integers(0, n - 1))
    proof, root = log.inclusion_proof(i), log.root()
    for bad in _mutations(proof):
        with pytest.raises(InclusionProofInvalid):
            verify_inclusion(d[i], i, n, bad, root)
    for j in {i - 1, i + 1, i ^ 1, i ^ 2} - {i}:
        if 0 <= j < n and d[j] != d[i] and path(j, d) != proof:
            with pytest.raises(InclusionProofInvalid):
                verify_inclusion(d[i], j, n, proof, root)
    # Another tree head. (Not another size with the same root: a proof for leaf 0 of 3 leaves
    # also fits a 4-leaf tree whose last two leaves hash to leaf 2's hash; the verifier relies on
    # the signed checkpoint for the pair (size, root), as RFC 9162 does.)
    with pytest.raises(InclusionProofInvalid):
        verify_inclusion(d[i], i, n, proof, log.root(n - 1))


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 200), st.data())
def test_changed_consistency_proofs_fail(n: int, data: st.DataObject) -> None:
    log = MerkleLog(leaves(n))
    m = data.draw(st.integers(1, n - 1))
    proof, old, new = log.consistency_proof(m, n), log.root(m), log.root(n)
    verify_consistency(m, n, old, new, proof)
    for bad in _mutations(proof):
        with pytest.raises(ConsistencyProofInvalid):
            verify_consistency(m, n, old, new, bad)
    with pytest.raises(ConsistencyProofInvalid):
        verify_consistency(m, n, new, old, proof)
    with pytest.raises(ConsistencyProofInvalid):
        verify_consistency(n, m, old, new, proof)


# --- tampering with a logged event is detected -------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=120), st.data())
def test_changing_any_byte_of_a_logged_event_is_detected(
    events: list[bytes], data: st.DataObject
) -> None:
    published = MerkleLog()
    for e in events:
        published.append(e)
    root, n = published.root(), published.size
    j = data.draw(st.integers(0, n - 1), label="event")
    at = data.draw(st.integers(0, len(events[j]) - 1), label="byte")
    flip = data.draw(st.integers(1, 255), label="xor")
    forged = bytearray(events[j])
    forged[at] ^= flip
    tampered = [*events[:j], bytes(forged), *events[j + 1 :]]
    rewritten = MerkleLog(hash_leaf(e) for e in tampered)
    # The rewritten log no longer matches the published tree head …
    assert rewritten.root() != root
    # … the forged event has no proof against it, neither its own nor the genuine one …
    with pytest.raises(InclusionProofInvalid):
        verify_inclusion(hash_leaf(tampered[j]), j, n, rewritten.inclusion_proof(j), root)
    with pytest.raises(InclusionProofInvalid):
        verify_inclusion(hash_leaf(tampered[j]), j, n, published.inclusion_proof(j), root)
    # … and a later tree head built on the rewrite is not consistent with the published one.
    rewritten.append(b"a later event")
    with pytest.raises(ConsistencyProofInvalid):
        verify_consistency(n, n + 1, root, rewritten.root(), rewritten.consistency_proof(n, n + 1))


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 100), st.data())
def test_dropping_or_reordering_events_breaks_consistency(n: int, data: st.DataObject) -> None:
    events = [f"event {i}".encode() for i in range(n)]
    published = MerkleLog(hash_leaf(e) for e in events)
    j = data.draw(st.integers(0, n - 2), label="event")
    if data.draw(st.booleans(), label="drop"):
        rewritten_events = [*events[:j], *events[j + 1 :], b"late 1", b"late 2"]
    else:
        rewritten_events = [*events[:j], events[j + 1], events[j], *events[j + 2 :], b"late"]
    rewritten = MerkleLog(hash_leaf(e) for e in rewritten_events)
    with pytest.raises(ConsistencyProofInvalid):
        verify_consistency(
            n,
            rewritten.size,
            published.root(),
            rewritten.root(),
            rewritten.consistency_proof(n),
        )


# --- edges and the size-0 policy ------------------------------------------------------------


def test_equal_sizes_are_consistent_only_with_equal_roots_and_no_proof() -> None:
    log = MerkleLog(leaves(5))
    verify_consistency(5, 5, log.root(), log.root(), [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ConsistencyProofInvalid):
        verify_consistency(5, 5, log.root(), log.root(4), [])
    with pytest.raises(ConsistencyProofInvalid):
        verify_consistency(5, 5, log.root(), log.root(), [log.root()])
    with pytest.raises(ConsistencyProofInvalid):
        verify_consistency(0, 0, log.root(), log.root(), [])


def test_no_consistency_proof_from_the_empty_tree() -> None:
    log = MerkleLog(leaves(3))
    assert log.consistency_proof(0, 0) == []
    with pytest.raises(EmptyTreeConsistency):
        log.consistency_proof(0)
    # Even the "proof" CCTV would accept (empty, from SHA-256("")) is refused: it would pass
    # for any newer root at all, which is why it proves nothing.
    for newer in (log.root(), hash_leaf(b"anything"), bytes(32)):
        with pytest.raises(EmptyTreeConsistency):
            verify_consistency(0, 3, EMPTY_ROOT, newer, [])


def test_requests_beyond_the_log_are_refused() -> None:
    log = MerkleLog(leaves(4))
    for call in (
        lambda: log.root(5),
        lambda: log.inclusion_proof(4),
        lambda: log.inclusion_proof(0, 0),
        lambda: log.inclusion_proof(-1),
        lambda: log.consistency_proof(3, 2),
        lambda: log.consistency_proof(1, 5),
        lambda: log.leaf_hash(4),
        lambda: log.append_leaf_hash(b"short"),
    ):
        with pytest.raises(ProofRequestInvalid):
            call()


def test_malformed_inputs_fail_verification_not_crash() -> None:
    log = MerkleLog(leaves(4))
    leaf, proof, root = log.leaf_hash(1), log.inclusion_proof(1), log.root()
    with pytest.raises(InclusionProofInvalid):
        verify_inclusion(leaf[:31], 1, 4, proof, root)
    with pytest.raises(InclusionProofInvalid):
        verify_inclusion(leaf, 1, 4, [*proof[:-1], proof[-1] + b"\x00"], root)
    with pytest.raises(InclusionProofInvalid):
        verify_inclusion(leaf, -1, 4, proof, root)
    with pytest.raises(ConsistencyProofInvalid):
        verify_consistency(-1, 4, root, root, [])


# --- cost -------------------------------------------------------------------------------------


def test_appending_hashes_each_complete_subtree_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = merkle.hash_children

    def counting(left: bytes, right: bytes) -> bytes:
        calls["n"] += 1
        return real(left, right)

    monkeypatch.setattr(merkle, "hash_children", counting)
    n = 1000
    MerkleLog(leaves(n))
    # Complete aligned subtrees of two or more leaves among n: n − popcount(n).
    assert calls["n"] == n - bin(n).count("1")


def test_roots_and_proofs_cost_logarithmic_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    n = (1 << 17) + 12_345
    log = MerkleLog(hash_leaf(i.to_bytes(4, "big")) for i in range(n))
    calls = {"n": 0}
    real = merkle.hash_children

    def counting(left: bytes, right: bytes) -> bytes:
        calls["n"] += 1
        return real(left, right)

    monkeypatch.setattr(merkle, "hash_children", counting)
    bound = 2 * math.ceil(math.log2(n))
    for size in (n, n - 1, 99_999, (1 << 17) + 1):
        for name, args in (
            ("root", (size,)),
            ("inclusion_proof", (size // 3, size)),
            ("inclusion_proof", (size - 1, size)),
            ("consistency_proof", (size // 2 + 1, size)),
            ("consistency_proof", (7, size)),
        ):
            calls["n"] = 0
            getattr(log, name)(*args)
            assert calls["n"] <= bound, (name, args, calls["n"])
    monkeypatch.undo()
    # And the cheap answers are the right ones.
    i, m = n // 3, n // 2 + 1
    verify_inclusion(log.leaf_hash(i), i, n, log.inclusion_proof(i), log.root())
    verify_consistency(m, n, log.root(m), log.root(), log.consistency_proof(m))
