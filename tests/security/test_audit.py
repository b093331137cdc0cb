"""The hash-chained audit log and `carematch audit verify`."""

from __future__ import annotations

import json

from sqlalchemy import delete, update
from typer.testing import CliRunner

from carematch.cli import app
from carematch.core.db import session_scope
from carematch.security import audit
from carematch.security.models import AuditEntry

runner = CliRunner()


def _write_entries(n: int) -> None:
    with session_scope() as session:
        for i in range(n):
            audit.record(
                session, actor="doc", action="read_person", entity="person", entity_id=f"P{i}"
            )


def _verify() -> tuple[int, dict]:
    result = runner.invoke(app, ["audit", "verify"])
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def test_untouched_log_verifies(env):
    _write_entries(5)
    code, report = _verify()
    assert code == 0
    assert report["ok"] is True and report["entries"] == 5


def test_changed_entry_is_named_exactly(env):
    _write_entries(6)
    with session_scope() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(entity_id="P999"))
    code, report = _verify()
    assert code == 1
    assert [p["seq"] for p in report["problems"]] == [4]


def test_rehashed_entry_is_caught_at_the_next_link(env):
    _write_entries(6)
    with session_scope() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(hash="f" * 64))
    code, report = _verify()
    assert code == 1
    assert {p["seq"] for p in report["problems"]} == {3, 4}


def test_deleted_entry_is_reported(env):
    _write_entries(6)
    with session_scope() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    code, report = _verify()
    assert code == 1
    assert report["problems"][0]["seq"] == 2


def test_truncated_tail_is_reported(env):
    _write_entries(4)
    with session_scope() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 4))
    code, report = _verify()
    assert code == 1
    assert report["problems"][0]["seq"] == 4


def test_concurrent_appends_keep_one_chain(env):
    import threading

    def worker() -> None:
        for _ in range(10):
            with session_scope() as session:
                audit.record(
                    session, actor="w", action="read_person", entity="person", entity_id="P"
                )

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    code, report = _verify()
    assert code == 0, report
    assert report["entries"] == 40
