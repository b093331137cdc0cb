"""What the database decides, on SQLite and PostgreSQL: jurisdiction by region prefix in SQL,
and a move that loses a race to another request changes nothing."""

from __future__ import annotations

from carematch.consultation import repository, service
from carematch.consultation.models import Consultation
from carematch.core.db import session_factory, session_scope
from tests.consultation.conftest import ask, principal


def test_each_end_lists_its_own_and_a_stale_move_changes_nothing(pg_world):
    cid = ask(pg_world)
    with session_scope() as session:
        for username, end, expected in [
            ("specialist", "consulting", [cid]),
            ("specialist", "requesting", []),
            ("clinic_doc", "requesting", [cid]),
            ("clinic_doc", "consulting", []),
            ("doctor_d1", None, [cid]),
            ("doctor_d2", None, []),
            ("admin1", "requesting", [cid]),
        ]:
            total, views = service.list_consultations(
                session, principal(session, username), limit=10, offset=0, end=end
            )
            assert (total, [v.consultation.id for v in views]) == (len(expected), expected), (
                username,
                end,
            )
    stale = session_factory()()
    try:
        assert stale.get(Consultation, cid).status == "requested"
        with session_scope() as other:
            service.accept(other, principal(other, "specialist"), cid)
        # The stale session still believes "requested": its conditional update finds no row.
        moved = repository.move(stale, cid, current="requested", values={"status": "declined"})
        assert moved is False
        stale.commit()
    finally:
        stale.close()
    with session_scope() as session:
        assert repository.get(session, cid).status == "accepted"
