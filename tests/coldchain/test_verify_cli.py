"""Acceptance: tampering with any logged event is detected by the verify commands.

`carematch coldchain verify` recomputes the tree from the stored events and names the event a
changed byte belongs to; `verify-proof` checks an exported event offline with the public key."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from typer.testing import CliRunner

from carematch.cli import app
from carematch.coldchain import repository, service
from carematch.coldchain.models import ColdChainEvent
from carematch.core.db import session_scope
from tests.coldchain.world import add_lot, build_world, principal

runner = CliRunner()


@pytest.fixture
def logged(sqlite_env, tmp_path):
    """A log of five events of one lot."""
    build_world(tmp_path)
    with session_scope() as session:
        lot = add_lot(session)
        who = principal(session, "vaccinator_d1")
        for box in ("BOX-1", "BOX-2", "BOX-3"):
            service.record_event(session, who, lot.id, "shipped", location_id=box)
        service.record_event(session, who, lot.id, "stored", location_id="FRIDGE-B")
    return tmp_path


def _set_leaf(index: int, leaf: bytes, *, rehash: bool = False) -> None:
    values: dict[str, bytes] = {"leaf": leaf}
    if rehash:
        from carematch.coldchain.merkle import hash_leaf

        values["leaf_hash"] = hash_leaf(leaf)
    with session_scope() as session:
        session.execute(
            update(ColdChainEvent).where(ColdChainEvent.leaf_index == index).values(**values)
        )


def _leaf(index: int) -> bytes:
    with session_scope() as session:
        return dict(repository.leaves(session))[index]


def test_verify_passes_on_the_untouched_log(logged):
    result = runner.invoke(app, ["coldchain", "verify"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_one_changed_byte_fails_verify_naming_the_event(logged):
    original = _leaf(2)
    tampered = original.replace(b"BOX-2", b"BOX-9")
    assert tampered != original
    _set_leaf(2, tampered)
    result = runner.invoke(app, ["coldchain", "verify"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert any(p.startswith("event 2 (shipped") for p in report["problems"])
    assert "event 2 (shipped" in result.stderr


def test_a_rewrite_that_fixes_the_leaf_hash_too_is_caught_by_the_signed_heads(logged):
    _set_leaf(3, _leaf(3).replace(b"BOX-3", b"BOX-X"), rehash=True)
    result = runner.invoke(app, ["coldchain", "verify"])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert any("checkpoint 4" in p and "event 3 (shipped" in p for p in problems)


def test_offline_proof_verifies_with_the_published_key_and_fails_when_changed(logged):
    key, proof = logged / "log.pem", logged / "proof.json"
    assert runner.invoke(app, ["coldchain", "key", "publish", "--out", str(key)]).exit_code == 0
    made = runner.invoke(app, ["coldchain", "proof", "inclusion", "1", "--out", str(proof)])
    assert made.exit_code == 0, made.output
    ok = runner.invoke(app, ["coldchain", "verify-proof", str(proof), "--key", str(key)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["event"]["location"] == "BOX-1"

    document = json.loads(proof.read_text())
    document["event"]["location"] = "BOX-9"  # the shown copy is not what is verified …
    import base64

    leaf = base64.b64decode(document["leaf"]).replace(b"BOX-1", b"BOX-9")
    document["leaf"] = base64.b64encode(leaf).decode()  # … the leaf bytes are
    proof.write_text(json.dumps(document))
    bad = runner.invoke(app, ["coldchain", "verify-proof", str(proof), "--key", str(key)])
    assert bad.exit_code == 1
    assert "verification failed" in bad.stderr


def test_offline_proof_fails_under_another_key(logged, tmp_path):
    from carematch.coldchain.checkpoint import generate_signer

    other = tmp_path / "other.pem"
    other.write_bytes(generate_signer(service.LOG_ORIGIN).verifier.to_pem())
    proof = tmp_path / "p.json"
    runner.invoke(app, ["coldchain", "proof", "inclusion", "0", "--out", str(proof)])
    bad = runner.invoke(app, ["coldchain", "verify-proof", str(proof), "--key", str(other)])
    assert bad.exit_code == 1


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_changed_byte_of_any_event_is_named(logged, data):
    index = data.draw(st.integers(0, 4), label="event")
    original = _leaf(index)
    position = data.draw(st.integers(0, len(original) - 1), label="byte")
    flip = data.draw(st.integers(1, 255), label="xor")
    tampered = bytearray(original)
    tampered[position] ^= flip
    _set_leaf(index, bytes(tampered))
    try:
        with session_scope() as session:
            report = service.verify_log(session)
        assert not report.ok
        assert any(p.startswith(f"event {index} (") for p in report.problems)
    finally:
        _set_leaf(index, original)
    with session_scope() as session:
        assert service.verify_log(session).ok


def test_a_deleted_event_fails_verify(logged):
    from sqlalchemy import delete

    with session_scope() as session:
        session.execute(delete(ColdChainEvent).where(ColdChainEvent.leaf_index == 4))
    result = runner.invoke(app, ["coldchain", "verify"])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert any("checkpoint 5 is beyond the stored log (4 events)" in p for p in problems)
