"""The stored log: tree heads from stored leaves, a signed checkpoint per size, proofs that verify
offline, and appends that never share an index (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from carematch.coldchain import repository, service
from carematch.coldchain.checkpoint import (
    open_checkpoint,
    parse_checkpoint,
    verify_checkpoint_consistency,
)
from carematch.coldchain.errors import EmptyTreeConsistency, ProofVerificationFailed
from carematch.coldchain.merkle import MerkleLog, hash_leaf
from carematch.core.db import session_scope
from tests.coldchain.world import add_lot, build_world, principal


@pytest.fixture
def world(env, tmp_path):
    return build_world(tmp_path)


def test_each_append_is_a_leaf_and_every_size_has_a_signed_head(world):
    with session_scope() as session:
        lot = add_lot(session)
        who = principal(session, "vaccinator_d1")
        service.record_event(session, who, lot.id, "shipped", location_id="BOX-7")
        service.record_event(session, who, lot.id, "stored", location_id="FRIDGE-B", vvm_stage=2)
    with session_scope() as session:
        leaves = [leaf for _, leaf in repository.leaves(session)]
        assert [json.loads(b)["kind"] for b in leaves] == ["received", "shipped", "stored"]
        # Canonical JSON: sorted keys, no whitespace; and no person in a public leaf.
        for leaf in leaves:
            assert leaf == service.canonical_json(json.loads(leaf))
        tree = MerkleLog(hash_leaf(b) for b in leaves)
        heads = repository.checkpoints(session)
        assert [h.size for h in heads] == [1, 2, 3]
        verifier = service.log_verifier()
        for head in heads:
            signed = open_checkpoint(head.note, [verifier], origin=service.LOG_ORIGIN)
            assert signed.root_hash == tree.root(head.size)
        lot_row = repository.get_lot(session, lot.id)
        assert lot_row is not None and lot_row.location_id == "FRIDGE-B" and lot_row.vvm_stage == 2
        assert service.verify_log(session).ok


def test_inclusion_and_consistency_proofs_verify_against_the_signed_heads(world):
    with session_scope() as session:
        lot = add_lot(session)
        who = principal(session, "vaccinator_d1")
        for box in ("BOX-1", "BOX-2", "BOX-3", "BOX-4"):
            service.record_event(session, who, lot.id, "shipped", location_id=box)
    with session_scope() as session:
        verifier = service.log_verifier()
        for index in range(5):
            bundle = service.inclusion_bundle(session, index)
            assert service.verify_bundle(bundle, verifier)["event"]["kind"] in {
                "received",
                "shipped",
            }
        proof = service.consistency_bundle(session, 2, 5)
        old = open_checkpoint(proof["first_checkpoint"], [verifier])
        new = open_checkpoint(proof["second_checkpoint"], [verifier])
        path = [base64.b64decode(h) for h in proof["consistency_proof"]]
        verify_checkpoint_consistency(old, new, path)
        with pytest.raises(EmptyTreeConsistency):
            service.consistency_bundle(session, 0, 5)
        # A proof document whose leaf was edited no longer verifies.
        bundle = service.inclusion_bundle(session, 3)
        bundle["leaf"] = base64.b64encode(base64.b64decode(bundle["leaf"]) + b" ").decode()
        with pytest.raises(ProofVerificationFailed):
            service.verify_bundle(bundle, verifier)


def test_concurrent_appends_never_share_an_index(world):
    with session_scope() as session:
        lot_id = add_lot(session).id
    workers, errors = 6, []
    barrier = threading.Barrier(workers)

    def append(n: int) -> None:
        try:
            barrier.wait()
            with session_scope() as session:
                who = principal(session, "vaccinator_d1")
                service.record_event(session, who, lot_id, "shipped", location_id=f"BOX-{n}")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope() as session:
        indices = [i for i, _ in repository.leaves(session)]
        assert indices == list(range(workers + 1))
        boxes = {json.loads(leaf)["location"] for _, leaf in repository.leaves(session)}
        assert boxes == {"FRIDGE-A"} | {f"BOX-{n}" for n in range(workers)}
        report = service.verify_log(session)
        assert report.ok, report.problems
        assert report.latest == workers + 1


def test_times_are_whole_utc_seconds_and_naive_times_are_refused(world):
    at = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC) + timedelta(hours=0)
    with session_scope() as session:
        lot = add_lot(session, received_at=at)
        event = json.loads(repository.leaves(session)[0][1])
        assert event["at"] == "2026-01-02T03:04:05Z" and event["lot_id"] == lot.id
        head = parse_checkpoint(service.latest_checkpoint(session).note.split("\n\n")[0] + "\n")
        assert head.size == 1
