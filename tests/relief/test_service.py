"""The watch on a real database (SQLite and PostgreSQL): records ingested and linked, the
household's 12-month out-of-pocket crossing the line opens one case per episode, the case
workflow with its order and its audit, the fund that refuses to overdraw, jurisdiction."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.core.hooks import IngestEvent, run_after_ingest
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.relief import service
from carematch.relief.errors import (
    FundBalanceShort,
    InvalidReliefInput,
    ReliefCaseNotFound,
    ReliefCaseStateConflict,
)
from carematch.relief.models import ReliefCase, ReliefHousehold
from carematch.security.authz import Principal
from carematch.security.models import AuditEntry
from tests.fixtures.factories import make_id, write_extract

AS_OF = date(2026, 6, 30)
D1, D2 = "449901", "449902"
POVERTY = (
    "record_id,name,id_number,sex,birth_date,phone,address,community_code,household_id,"
    "household_status,income_12m"
)
INSURANCE = (
    "record_id,name,id_number,sex,birth_date,phone,settlement_date,facility,facility_code,"
    "visit_type,diagnosis,insurance_type,insured_locally,insured_province,total_cost,"
    "reimbursed,out_of_pocket"
)
EHR = (
    "record_id,name,id_number,sex,birth_date,phone,address,community_code,conditions,sbp,dbp,"
    "glucose,last_visit_date,last_followup_date,signed_family_doctor,is_pregnant,"
    "disability_level,lives_alone"
)
# Two lifted-household members in district 1, one minimum-allowance household in district 2.
A = ("黄大山", make_id(D1, date(1970, 3, 1), 11, "M"), "M", "1970-03-01")
B = ("黄小梅", make_id(D1, date(1972, 8, 9), 22, "F"), "F", "1972-08-09")
C = ("周建国", make_id(D2, date(1955, 1, 2), 33, "M"), "M", "1955-01-02")
CIVIL_D1 = Principal("u1", "civil_d1", "civil_affairs", D1)
OFFICIAL_D2 = Principal("u2", "official_d2", "official", D2)


def _poverty(who, rid: str, community: str, household: str, status: str, income: str) -> str:
    name, idn, sex, born = who
    return (
        f"{rid},{name},{idn},{sex},{born},13800138000,江城市,{community},{household},"
        f"{status},{income}"
    )


def _settlement(who, rid: str, day: str, total: str, oop: str, visit: str = "outpatient") -> str:
    name, idn, sex, born = who
    paid = Decimal(total) - Decimal(oop)
    return (
        f"{rid},{name},{idn},{sex},{born},13800138000,{day},江城市人民医院,PRV0001,{visit},"
        f"general,resident,true,44,{total},{paid},{oop}"
    )


def _ingest(source: str, path: Path) -> None:
    with session_scope() as session:
        ingest_file(session, source, path)
        build_persons_exact(session)


@pytest.fixture
def world(env, tmp_path):
    write_extract(
        tmp_path / "poverty.csv",
        POVERTY,
        [
            _poverty(A, "POV1", f"{D1}001001", "H1", "lifted", "43500.00"),
            _poverty(B, "POV2", f"{D1}001001", "H1", "lifted", "43500.00"),
            _poverty(C, "POV3", f"{D2}001001", "H2", "min_allowance", "9000.00"),
        ],
    )
    write_extract(
        tmp_path / "ehr.csv",
        EHR,
        [
            f"EHR1,{A[0]},{A[1]},M,{A[3]},13800138000,江城市,{D1}001001,hypertension,150,95,,"
            "2026-05-01,2026-05-01,true,false,0,false"
        ],
    )
    # 3,000 + 1,500 = 4,500 in the window; the 2025-06-30 bill is exactly 12 months old: out.
    write_extract(
        tmp_path / "insurance1.csv",
        INSURANCE,
        [
            _settlement(A, "INS1", "2026-01-10", "8000.00", "3000.00"),
            _settlement(B, "INS2", "2026-03-02", "4000.00", "1500.00"),
            _settlement(B, "INS3", "2025-06-30", "9000.00", "4000.00"),
            _settlement(C, "INS4", "2026-02-01", "3000.00", "2000.00"),
        ],
    )
    for source in ("poverty", "ehr", "insurance1"):
        _ingest(source.rstrip("1"), tmp_path / f"{source}.csv")
    return tmp_path


def _recompute():
    with session_scope() as session:
        return service.recompute(session, AS_OF)


def _cross_the_line(tmp_path: Path) -> None:
    write_extract(
        tmp_path / "insurance2.csv",
        INSURANCE,
        [_settlement(B, "INS5", "2026-06-01", "3000.00", "1100.00")],
    )
    _ingest("insurance", tmp_path / "insurance2.csv")


def _cases() -> list[ReliefCase]:
    with session_scope() as session:
        return list(session.scalars(select(ReliefCase)))


def test_crossing_the_line_opens_one_case_per_episode(world):
    first = _recompute()
    assert (first.households, first.at_risk, first.opened) == (2, 0, 0)

    _cross_the_line(world)
    second = _recompute()

    # 3,000 + 1,500 + 1,100 = 5,600 > 5,000 for a lifted household
    assert (second.at_risk, second.opened) == (1, 1)
    [case] = _cases()
    assert case.household_id == "H1" and case.status == "triggered"
    assert case.triggers == "P-ANTI-RETURN"
    assert Decimal(case.oop_12m) == Decimal("5600.00")
    assert Decimal(case.amount) == Decimal("2800.00")  # 50 % of 5,600 (lifted, ≤ 30,000)
    assert case.tier == "P-MED-ASSIST-MON"
    assert case.cause == "chronic_disease"  # hypertension, no big stay, nobody disabled

    # Rerunning the watch, or ingesting the same file again, opens nothing new.
    assert _recompute().opened == 0
    _ingest("insurance", world / "insurance2.csv")
    assert _recompute().opened == 0
    assert len(_cases()) == 1


def test_the_after_ingest_hook_runs_the_watch_and_is_idempotent(world):
    _cross_the_line(world)
    event = IngestEvent("insurance", ())
    hook = ["carematch.relief.service:after_ingest"]

    first = run_after_ingest(event, session_scope, hook)
    again = run_after_ingest(event, session_scope, hook)

    assert first[hook[0]]["opened"] == 1
    assert again[hook[0]]["opened"] == 0
    skipped = run_after_ingest(IngestEvent("police", ()), session_scope, hook)
    assert "skipped" in skipped[hook[0]]


def test_the_workflow_in_order_with_the_fund(world):
    _cross_the_line(world)
    _recompute()
    [case] = _cases()

    with session_scope() as session, pytest.raises(ReliefCaseStateConflict):
        service.take_step(session, CIVIL_D1, case.id, "approve")
    with session_scope() as session:
        service.take_step(session, CIVIL_D1, case.id, "verify", "入户核查属实")
    with session_scope() as session:
        service.take_step(session, CIVIL_D1, case.id, "approve")
    with session_scope() as session:
        service.deposit(session, "civil_d1", "1000.00")
    # 1,000 in the fund, the case needs 2,800: refused, nothing changes.
    with session_scope() as session, pytest.raises(FundBalanceShort):
        service.take_step(session, CIVIL_D1, case.id, "pay")
    with session_scope() as session:
        assert service.fund(session).balance == Decimal("1000.00")
        service.deposit(session, "civil_d1", "5000.00", "年度预算")
    with session_scope() as session:
        paid = service.take_step(session, CIVIL_D1, case.id, "pay")

    assert paid.case.status == "paid" and paid.case.paid_by == "civil_d1"
    assert paid.out_of_pocket_after == Decimal("2800.00")  # 5,600 − 2,800
    assert [(e.from_status, e.to_status, e.actor) for e in paid.events] == [
        (None, "triggered", service.WATCH_ACTOR),
        ("triggered", "verified", "civil_d1"),
        ("verified", "approved", "civil_d1"),
        ("approved", "paid", "civil_d1"),
    ]
    assert paid.events[1].note == "入户核查属实"
    with session_scope() as session:
        view = service.fund(session)
        assert view.balance == Decimal("3200.00")  # 1,000 + 5,000 − 2,800
        assert (view.entries[0].kind, view.entries[0].amount_fen) == ("payment", 280_000)
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"relief_case_opened", "relief_case_verified", "relief_case_paid"} <= actions
    # Paid is final.
    with session_scope() as session, pytest.raises(ReliefCaseStateConflict):
        service.take_step(session, CIVIL_D1, case.id, "reject", "too late")


def test_a_rejection_needs_a_reason_and_is_kept(world):
    _cross_the_line(world)
    _recompute()
    [case] = _cases()

    with session_scope() as session, pytest.raises(InvalidReliefInput):
        service.take_step(session, CIVIL_D1, case.id, "reject", "  ")
    with session_scope() as session:
        view = service.take_step(session, CIVIL_D1, case.id, "reject", "收入核实后高于标准")

    assert view.case.status == "rejected" and view.case.reject_reason == "收入核实后高于标准"


def test_another_district_does_not_see_the_case(world):
    _cross_the_line(world)
    _recompute()
    [case] = _cases()

    with session_scope() as session, pytest.raises(ReliefCaseNotFound):
        service.read_case(session, OFFICIAL_D2, case.id)
    with session_scope() as session:
        assert service.list_cases(session, OFFICIAL_D2)[0] == 0
        assert service.list_cases(session, CIVIL_D1)[0] == 1
        towns = service.risk_by_township(session, CIVIL_D1)
    assert [(t.township, t.watched, t.at_risk) for t in towns] == [(f"{D1}001", 1, 1)]


def test_an_episode_ends_when_the_figures_fall_back(world):
    _cross_the_line(world)
    _recompute()

    # A year on, the bills have left the window: the episode closes; nothing new opens.
    with session_scope() as session:
        later = service.recompute(session, date(2027, 6, 30))
        household = session.get(ReliefHousehold, "H1")
        assert household is not None and not household.episode_open
    assert (later.at_risk, later.opened, later.episodes_closed) == (0, 0, 1)
    assert len(_cases()) == 1


def test_household_figures_are_encrypted_at_rest(world):
    _recompute()
    with session_scope() as session:
        raw = session.execute(
            select(ReliefHousehold.__table__.c.status, ReliefHousehold.__table__.c.oop_12m)
        ).all()
    # Read through the Core table the values decrypt too; the stored text is not the value.
    from sqlalchemy import text

    with session_scope() as session:
        stored = session.execute(text("SELECT status, oop_12m FROM relief_households")).all()
    assert {r[0] for r in raw} == {"lifted", "min_allowance"}
    assert not {r[0] for r in stored} & {"lifted", "min_allowance"}


def test_a_case_still_waiting_takes_a_new_crossing_instead_of_a_second_case(world):
    _cross_the_line(world)
    _recompute()
    with session_scope() as session:
        service.recompute(session, date(2027, 6, 30))  # the episode ends, the case still waits
    write_extract(
        world / "insurance3.csv",
        INSURANCE,
        [_settlement(A, "INS6", "2027-06-01", "9000.00", "7000.00")],
    )
    _ingest("insurance", world / "insurance3.csv")

    with session_scope() as session:
        again = service.recompute(session, date(2027, 6, 30))

    assert (again.opened, again.refreshed) == (0, 1)
    [case] = _cases()
    assert Decimal(case.oop_12m) == Decimal("7000.00")
    assert Decimal(case.amount) == Decimal("3500.00")  # 50 % of 7,000
