"""Every Merkle vector of transparency-dev and C2SP CCTV, verified and, where they come from a
known tree, generated.

The suites disagree on one thing: a consistency proof from the empty tree. Our policy follows
transparency-dev (refuse it; see carematch.coldchain.merkle). The CCTV cases it touches are
expected to differ, and ``test_the_only_disagreement_is_the_documented_one`` asserts that this
is the whole of the difference, vector by vector.
"""

from __future__ import annotations

import base64

import pytest

from carematch.coldchain.errors import (
    ConsistencyProofInvalid,
    EmptyTreeConsistency,
    InclusionProofInvalid,
    ProofVerificationFailed,
)
from carematch.coldchain.merkle import (
    EMPTY_ROOT,
    MerkleLog,
    hash_leaf,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from tests.coldchain.vectors import (
    TRANSPARENCY_DEV_LEAVES,
    ConsistencyCase,
    InclusionCase,
    cctv_consistency,
    cctv_inclusion,
    cctv_tree,
    transparency_dev_consistency,
    transparency_dev_inclusion,
)

TD_INCLUSION = transparency_dev_inclusion()
TD_CONSISTENCY = transparency_dev_consistency()
CCTV_INCLUSION = cctv_inclusion()
CCTV_CONSISTENCY = cctv_consistency()
CCTV_TREE = cctv_tree()


def _ids(cases: list[InclusionCase] | list[ConsistencyCase]) -> list[str]:
    return [c.name for c in cases]


def _policy_differs(case: ConsistencyCase) -> bool:
    """The cases our size-0 policy decides against their suite: valid, from size 0 to more."""
    return case.valid and case.size1 == 0 and case.size2 > 0


def _accepts_inclusion(case: InclusionCase) -> bool:
    try:
        verify_inclusion(case.leaf_hash, case.leaf_index, case.tree_size, case.proof, case.root)
    except ProofVerificationFailed:
        return False
    return True


def _accepts_consistency(case: ConsistencyCase) -> bool:
    try:
        verify_consistency(case.size1, case.size2, case.root1, case.root2, case.proof)
    except ProofVerificationFailed:
        return False
    return True


@pytest.fixture(scope="module")
def cctv_log() -> MerkleLog:
    """The tree of CCTV's leaves "a".."p", appended in order."""
    log = MerkleLog()
    for entry in CCTV_TREE:
        log.append(entry["leaf_data"].encode())
    return log


@pytest.fixture(scope="module")
def td_log() -> MerkleLog:
    """The tree behind transparency-dev's happy paths."""
    log = MerkleLog()
    for leaf in TRANSPARENCY_DEV_LEAVES:
        log.append(leaf)
    return log


def test_every_suite_is_there() -> None:
    # A broken path would make every parametrised test below vacuous; each suite must load.
    assert TD_INCLUSION and TD_CONSISTENCY and CCTV_INCLUSION and CCTV_CONSISTENCY and CCTV_TREE
    assert any(c.valid for c in TD_INCLUSION) and any(not c.valid for c in TD_INCLUSION)
    assert any(c.valid for c in TD_CONSISTENCY) and any(not c.valid for c in TD_CONSISTENCY)
    assert any(not c.valid for c in CCTV_INCLUSION) and any(not c.valid for c in CCTV_CONSISTENCY)


@pytest.mark.parametrize("case", TD_INCLUSION, ids=_ids(TD_INCLUSION))
def test_transparency_dev_inclusion(case: InclusionCase) -> None:
    if case.valid:
        verify_inclusion(case.leaf_hash, case.leaf_index, case.tree_size, case.proof, case.root)
    else:
        with pytest.raises(InclusionProofInvalid):
            verify_inclusion(case.leaf_hash, case.leaf_index, case.tree_size, case.proof, case.root)


@pytest.mark.parametrize("case", TD_CONSISTENCY, ids=_ids(TD_CONSISTENCY))
def test_transparency_dev_consistency(case: ConsistencyCase) -> None:
    # Our policy is transparency-dev's on size 0, so every one of its cases must agree.
    if case.valid:
        verify_consistency(case.size1, case.size2, case.root1, case.root2, case.proof)
    else:
        with pytest.raises(ConsistencyProofInvalid):
            verify_consistency(case.size1, case.size2, case.root1, case.root2, case.proof)


@pytest.mark.parametrize("case", CCTV_INCLUSION, ids=_ids(CCTV_INCLUSION))
def test_cctv_inclusion(case: InclusionCase, cctv_log: MerkleLog) -> None:
    if case.valid:
        verify_inclusion(case.leaf_hash, case.leaf_index, case.tree_size, case.proof, case.root)
        # Valid CCTV proofs come from the "a".."p" tree: generating them must give the same.
        assert cctv_log.inclusion_proof(case.leaf_index, case.tree_size) == case.proof
        assert cctv_log.leaf_hash(case.leaf_index) == case.leaf_hash
        assert cctv_log.root(case.tree_size) == case.root
    else:
        with pytest.raises(InclusionProofInvalid):
            verify_inclusion(case.leaf_hash, case.leaf_index, case.tree_size, case.proof, case.root)


@pytest.mark.parametrize("case", CCTV_CONSISTENCY, ids=_ids(CCTV_CONSISTENCY))
def test_cctv_consistency(case: ConsistencyCase, cctv_log: MerkleLog) -> None:
    if _policy_differs(case):
        # The documented disagreement: CCTV calls this valid, our policy refuses it, both as a
        # verifier and as a generator, and with the policy's own error.
        with pytest.raises(EmptyTreeConsistency):
            verify_consistency(case.size1, case.size2, case.root1, case.root2, case.proof)
        with pytest.raises(EmptyTreeConsistency):
            cctv_log.consistency_proof(case.size1, case.size2)
    elif case.valid:
        verify_consistency(case.size1, case.size2, case.root1, case.root2, case.proof)
        assert cctv_log.consistency_proof(case.size1, case.size2) == case.proof
        assert cctv_log.root(case.size1) == case.root1
        assert cctv_log.root(case.size2) == case.root2
    else:
        with pytest.raises(ConsistencyProofInvalid):
            verify_consistency(case.size1, case.size2, case.root1, case.root2, case.proof)


@pytest.mark.parametrize("size", range(len(CCTV_TREE) + 1))
def test_cctv_tree_heads(size: int) -> None:
    leaves = [e["leaf_data"].encode() for e in CCTV_TREE[:size]]
    for leaf, entry in zip(leaves, CCTV_TREE, strict=False):
        assert hash_leaf(leaf) == base64.b64decode(entry["leaf_hash"])
    want = base64.b64decode(CCTV_TREE[size - 1]["root_hash"]) if size else EMPTY_ROOT
    log = MerkleLog(hash_leaf(leaf) for leaf in leaves)
    assert log.root() == want
    assert root_from_leaf_hashes(hash_leaf(leaf) for leaf in leaves) == want


def test_the_empty_tree_root_is_the_hash_of_nothing() -> None:
    # RFC 9162 §2.1.1; also the "old_root" CCTV gives for size 0.
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert MerkleLog().root() == EMPTY_ROOT
    assert CCTV_CONSISTENCY[0].size1 == 0 and CCTV_CONSISTENCY[0].root1 == EMPTY_ROOT


@pytest.mark.parametrize(
    "case",
    [c for c in TD_INCLUSION if c.valid],
    ids=_ids([c for c in TD_INCLUSION if c.valid]),
)
def test_transparency_dev_inclusion_proofs_are_generated_alike(
    case: InclusionCase, td_log: MerkleLog
) -> None:
    if case.name.startswith("inclusion/single-entry/"):
        # A one-leaf tree of the leaf "data"; its proof is empty and its root is the leaf.
        log = MerkleLog([case.leaf_hash])
        assert log.inclusion_proof(0) == case.proof == []
        assert log.root() == case.root
        return
    assert td_log.leaf_hash(case.leaf_index) == case.leaf_hash
    assert td_log.inclusion_proof(case.leaf_index, case.tree_size) == case.proof
    assert td_log.root(case.tree_size) == case.root


# The "additional" valid case uses placeholder roots ("don't care 2"), not a real tree.
TD_CONSISTENCY_FROM_TREE = [
    c for c in TD_CONSISTENCY if c.valid and not c.name.startswith("consistency/additional/")
]


@pytest.mark.parametrize("case", TD_CONSISTENCY_FROM_TREE, ids=_ids(TD_CONSISTENCY_FROM_TREE))
def test_transparency_dev_consistency_proofs_are_generated_alike(
    case: ConsistencyCase, td_log: MerkleLog
) -> None:
    assert td_log.consistency_proof(case.size1, case.size2) == case.proof
    assert td_log.root(case.size1) == case.root1
    assert td_log.root(case.size2) == case.root2


def test_the_only_disagreement_is_the_documented_one() -> None:
    # Run every vector of both suites and list those where we do not do what the suite says.
    differ = [
        (c.suite, c.name) for c in TD_INCLUSION + CCTV_INCLUSION if _accepts_inclusion(c) != c.valid
    ] + [
        (c.suite, c.name)
        for c in TD_CONSISTENCY + CCTV_CONSISTENCY
        if _accepts_consistency(c) != c.valid
    ]
    documented = [(c.suite, c.name) for c in CCTV_CONSISTENCY if _policy_differs(c)]
    assert documented == [("cctv", "consistency-valid.json[1]")]
    assert differ == documented
    # No transparency-dev case touches the policy the other way: all its size-0 cases are
    # invalid, and we reject them.
    assert not [c for c in TD_CONSISTENCY if _policy_differs(c)]


def test_size_zero_policy_reasons() -> None:
    """Each size-0 case is refused for the reason the policy gives, not by accident."""
    by_name = {c.name: c for c in TD_CONSISTENCY}
    # transparency-dev: from size 0 to size 1 with an empty proof and the empty-tree root.
    c = by_name["consistency/additional/size1-is-zero-and-size2-is-not-zero.json"]
    assert (c.size1, c.size2, c.root1, c.proof) == (0, 1, EMPTY_ROOT, [])
    with pytest.raises(EmptyTreeConsistency):
        verify_consistency(c.size1, c.size2, c.root1, c.root2, c.proof)
    # transparency-dev: size 0 to size 0 with a root that is not SHA-256(""): refused because
    # the empty tree has one root only, not by the size-0 rule (the sizes are equal).
    c = by_name["consistency/additional/sizes-are-equal-zero-and-proof-is-empty.json"]
    assert (c.size1, c.size2, c.proof) == (0, 0, []) and c.root1 == c.root2 != EMPTY_ROOT
    with pytest.raises(ConsistencyProofInvalid) as refused:
        verify_consistency(c.size1, c.size2, c.root1, c.root2, c.proof)
    assert not isinstance(refused.value, EmptyTreeConsistency)
    # CCTV: size 0 to size 0 with the empty-tree root is a tree head consistent with itself.
    c = CCTV_CONSISTENCY[0]
    assert (c.size1, c.size2, c.root1, c.root2, c.proof) == (0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(c.size1, c.size2, c.root1, c.root2, c.proof)
    # CCTV: size 0 to size 1, the documented disagreement: refused by the policy.
    c = CCTV_CONSISTENCY[1]
    assert (c.size1, c.size2, c.root1, c.proof, c.valid) == (0, 1, EMPTY_ROOT, [], True)
    with pytest.raises(EmptyTreeConsistency):
        verify_consistency(c.size1, c.size2, c.root1, c.root2, c.proof)
