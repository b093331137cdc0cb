"""A small city for the governance tests: four persons in two districts, a clinic with a
registered price, a controlled library, service records and complaints in June 2026.

District 1, community 449901001001: A (man, born 1958, migrant, hypertension, signed with a
family doctor), B (man, born 1955, migrant, hypertension), D (man, born 1950, local,
hypertension). District 2, community 449902001001: C (woman, born 1962, local).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.core.ids import new_id
from carematch.core.models import Region
from carematch.identity.models import Person
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.policy.library import PolicyLibrary, parse_library
from carematch.security.service import create_user
from tests.fixtures.factories import POLICE_HEADER, make_id, police_row, write_extract
from tests.fixtures.people import PASSWORD

D1, D2 = "449901", "449902"
C1, C2 = f"{D1}001001", f"{D2}001001"
AS_OF = date(2026, 6, 30)
CLINIC = "PRVGOV1"
CLINIC_PRICE = 80.0
CST = timezone(timedelta(hours=8))
EHR_HEADER = (
    "record_id,name,id_number,sex,birth_date,phone,address,community_code,conditions,sbp,dbp,"
    "glucose,last_visit_date,last_followup_date,signed_family_doctor,is_pregnant,"
    "disability_level,lives_alone"
)
LIBRARY = """
- id: P-A
  title: 户籍居民公卫服务
  department: 卫健委
  eligibility: "hukou == 'local'"
  benefit: {kind: free_service}
  services: [chronic_followup, elderly_checkup]
- id: P-B
  title: 老年人疫苗报销
  department: 医保局
  eligibility: "age >= 65"
  benefit: {kind: reimbursement, rate: 0.6, cap: 30}
  services: [vaccination_adult]
- id: P-C
  title: 高血压随访补贴
  department: 卫健委
  eligibility: "has('hypertension')"
  benefit: {kind: subsidy, rate: 0.5, quantity: 2}
  services: [chronic_followup]
"""


def library() -> PolicyLibrary:
    """The controlled library the tests compute by hand against."""
    return parse_library([("test.yaml", LIBRARY)])


@dataclass
class World:
    a: str
    b: str
    c: str
    d: str


def at(day: str, hour: int = 10) -> datetime:
    """A city time as the UTC instant it is stored as."""
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=CST).astimezone(UTC)


def build(tmp: Path) -> World:
    """Persons, regions, users, the clinic and its price; no records yet."""
    from carematch.providers.models import Provider, ProviderService

    ids = {
        "A": make_id(D1, date(1958, 5, 20), 11, "M"),
        "B": make_id(D1, date(1955, 3, 2), 13, "M"),
        "D": make_id(D1, date(1950, 1, 9), 15, "M"),
        "C": make_id(D2, date(1962, 9, 3), 22, "F"),
    }
    write_extract(
        tmp / "police.csv",
        POLICE_HEADER,
        [
            police_row("P1", "林国栋", ids["A"], C1, born="1958-05-20", hukou="migrant"),
            police_row("P2", "周建华", ids["B"], C1, born="1955-03-02", hukou="migrant"),
            police_row("P3", "陈志强", ids["D"], C1, born="1950-01-09"),
            police_row("P4", "何秀英", ids["C"], C2, sex="F", born="1962-09-03"),
        ],
    )
    write_extract(
        tmp / "ehr.csv",
        EHR_HEADER,
        [
            f"E1,林国栋,{ids['A']},M,1958-05-20,,,{C1},hypertension,158,95,,2026-05-01,"
            "2026-01-10,true,false,0,false",
            f"E2,周建华,{ids['B']},M,1955-03-02,,,{C1},hypertension,162,96,,2026-05-01,"
            "2026-01-10,false,false,0,false",
            f"E3,陈志强,{ids['D']},M,1950-01-09,,,{C1},hypertension,150,92,,2026-05-01,"
            "2026-01-10,false,false,0,false",
        ],
    )
    with session_scope() as session:
        ingest_file(session, "police", tmp / "police.csv")
        ingest_file(session, "ehr", tmp / "ehr.csv")
        build_persons_exact(session)
        if session.get(Region, "449900") is None:
            session.add(Region(code="449900", name="示范市", name_en="Demo City", level="city"))
            session.flush()
        for code in (D1, D2):
            if session.get(Region, code) is None:
                session.add(Region(code=code, name=code, level="district", parent_code="449900"))
                session.flush()
                session.add(
                    Region(code=f"{code}001", name="街道", level="street", parent_code=code)
                )
                session.flush()
                session.add(
                    Region(
                        code=f"{code}001001",
                        name="社区",
                        level="community",
                        parent_code=f"{code}001",
                    )
                )
                session.flush()
        session.add(
            Provider(
                id=CLINIC,
                name="幸福社区卫生服务中心",
                kind="community_health_centre",
                region_code=C1,
                lat=23.1,
                lon=113.3,
            )
        )
        session.flush()
        session.add(
            ProviderService(
                provider_id=CLINIC,
                service_code="chronic_followup",
                daily_capacity=20,
                price=Decimal(str(CLINIC_PRICE)),
            )
        )
        create_user(session, "admin1", "admin", PASSWORD)
        create_user(session, "official_d1", "official", PASSWORD, D1)
        create_user(session, "official_d2", "official", PASSWORD, D2)
        by_id = {p.id: p for p in session.scalars(select(Person))}
        persons = {
            key: next(pid for pid, p in by_id.items() if _born(p) == born)
            for key, born in (("A", 1958), ("B", 1955), ("D", 1950), ("C", 1962))
        }
    return World(persons["A"], persons["B"], persons["C"], persons["D"])


def _born(person: Person) -> int:
    return int(str(person.birth_date)[:4]) if person.birth_date else 0


def add_record(person: str, service: str, when: datetime, region: str = C1) -> None:
    """A service record at the clinic."""
    from carematch.booking.models import ServiceRecord

    with session_scope() as session:
        session.add(
            ServiceRecord(
                id=new_id(),
                person_id=person,
                provider_id=CLINIC,
                service=service,
                region_code=region,
                performed_at=when,
                summary="随访",
                outcome="resolved",
                recorded_by="doctor",
            )
        )


def add_complaint(
    service: str | None, provider: str | None, when: datetime, region: str = C1
) -> None:
    """A complaint naming a service and/or the clinic."""
    from carematch.feedback.models import Complaint

    with session_scope() as session:
        session.add(
            Complaint(
                id=new_id(),
                channel="hotline_12345",
                category="service_attitude",
                provider_id=provider,
                service_code=service,
                region_code=region,
                text="态度不好",
                status="received",
                received_at=when,
                due_at=when + timedelta(days=5),
                registered_by="grid",
            )
        )
