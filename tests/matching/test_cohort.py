"""Cohort allocation as a use case, on SQLite and PostgreSQL: the cohort, the optimum, capacity
across runs, jurisdiction, and decisions that are final, idempotent and audited.

The world: in district 449901 (白云区) five children live in 云山社区, two in 云溪社区 and one in a
community whose place nobody recorded; two more live in district 449902. None has had more than
the birth dose of hepatitis B, so each has a child catch-up demand (儿童疫苗补种) for childhood
vaccination. District 1 has a clinic beside each of its two communities (one place a day each,
the second with a two-day wait) and a vaccination van; district 2 has one big clinic.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from carematch.core.db import session_scope
from carematch.core.regions import load_regions
from carematch.identity.models import Person
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.matching import cohort
from carematch.matching.allocate import allocate_cohort, haversine_km
from carematch.matching.errors import AllocationInputRejected
from carematch.matching.models import AllocationRun, Proposal
from carematch.profiling.models import Demand
from carematch.profiling.service import build_profiles
from carematch.providers.errors import UnknownService
from carematch.providers.service import import_providers
from carematch.security.authz import Principal
from carematch.security.models import AuditEntry
from tests.fixtures.factories import make_id, write_extract
from tests.fixtures.people import D1, D2, build_two_districts

AS_OF = date(2026, 6, 30)
SERVICE = "vaccination_child"
TAG = "child_catch_up"
YUNSHAN, YUNXI, NOWHERE = "449901001001", "449901001002", "449901009001"
JIANGWAN = "449902001001"
# Community centres (lat, lon); 云溪 is about 4.6 km north-east of 云山.
CENTRES = {
    YUNSHAN: (23.100, 113.300),
    YUNXI: (23.130, 113.330),
    JIANGWAN: (23.300, 113.500),
}
REGION_ROWS = [
    "440000,广东省,Guangdong Province,province,,,,",
    "449900,江城市,Jiangcheng City,city,440000,,,",
    f"{D1},白云区,Baiyun District,district,449900,,,",
    f"{D2},江南区,Jiangnan District,district,449900,,,",
    f"449901001,云山街道,Yunshan Subdistrict,street,{D1},,,",
    f"449901009,无名街道,Unmapped Subdistrict,street,{D1},,,",
    f"449902001,江南街道,Jiangnan Subdistrict,street,{D2},,,",
    f"{NOWHERE},无名社区,Unmapped Community,community,449901009,urban,,",
    *(
        f"{code},{name},{name_en},community,{code[:9]},urban,{lat},{lon}"
        for code, name, name_en in [
            (YUNSHAN, "云山社区", "Yunshan Community"),
            (YUNXI, "云溪社区", "Yunxi Community"),
            (JIANGWAN, "江湾社区", "Jiangwan Community"),
        ]
        for lat, lon in [CENTRES[code]]
    ),
]
REGIONS_HEADER = "code,name,name_en,level,parent_code,kind,lat,lon"
# provider id → (community, lat, lon, kind, daily capacity, wait days)
PROVIDERS = {
    "PA": (YUNSHAN, 23.101, 113.301, "community_health_centre", 1, 0),
    "PB": (YUNXI, 23.131, 113.331, "community_health_centre", 1, 2),
    "VAN": (YUNSHAN, 23.100, 113.300, "mobile_van", 50, 0),
    "PD2": (JIANGWAN, 23.301, 113.501, "community_health_centre", 10, 1),
}
# (label, community): the children of the world.
CHILDREN = [
    *((f"yunshan{i}", YUNSHAN) for i in range(5)),
    *((f"yunxi{i}", YUNXI) for i in range(2)),
    ("nowhere0", NOWHERE),
    *((f"jiangwan{i}", JIANGWAN) for i in range(2)),
]
IMM_HEADER = "record_id,name,id_number,sex,birth_date,phone,address,community_code,doses"
PROVIDER_HEADER = "provider_id,name,kind,ownership,community_code,lat,lon,opening_hours,languages"
SERVICE_HEADER = "provider_id,service_code,daily_capacity,price,insured_share,wait_days"


@dataclass(frozen=True)
class World:
    """Person ids by child label, and the principals of the two district officials."""

    children: dict[str, str]
    community: dict[str, str]
    official_d1: Principal
    official_d2: Principal
    admin: Principal


def build_world(tmp: Path) -> World:
    """The children, their demands, the regions and the providers (see the module docstring)."""
    build_two_districts(tmp)
    born = date(2025, 1, 10)
    rows = []
    for i, (label, community) in enumerate(CHILDREN, start=1):
        id_number = make_id(community[:6], born, 100 + i * 2, "F")
        rows.append(
            f"I{i},童{label},{id_number},F,{born},,江城市,{community},HepB:{born.isoformat()}"
        )
    write_extract(tmp / "immunization.csv", IMM_HEADER, rows)
    write_extract(tmp / "regions.csv", REGIONS_HEADER, REGION_ROWS)
    providers = [
        f"{pid},机构{pid},{kind},government,{community},{lat},{lon},Mo-Su 08:00-17:00,zh"
        for pid, (community, lat, lon, kind, _, _) in PROVIDERS.items()
    ]
    offers = [
        f"{pid},{SERVICE},{capacity},0,0,{wait}"
        for pid, (_, _, _, _, capacity, wait) in PROVIDERS.items()
    ]
    write_extract(tmp / "providers.csv", PROVIDER_HEADER, providers)
    write_extract(tmp / "services.csv", SERVICE_HEADER, offers)
    stops = "provider_id,weekday,start_time,end_time,lat,lon,site_name"
    write_extract(tmp / "stops.csv", stops, ["VAN,1,09:00,12:00,23.1,113.3,云山广场"])
    with session_scope() as session:
        load_regions(session, tmp / "regions.csv")
        assert ingest_file(session, "immunization", tmp / "immunization.csv").accepted == len(
            CHILDREN
        )
        build_persons_exact(session)
        summary = import_providers(
            session, tmp / "providers.csv", services=tmp / "services.csv", stops=tmp / "stops.csv"
        )
        assert summary.quarantined == 0, summary.rejected
        build_profiles(session, AS_OF)
        children = {
            str(p.name)[1:]: p.id
            for p in session.scalars(select(Person).where(Person.birth_date == born))
        }
    assert sorted(children) == sorted(label for label, _ in CHILDREN)
    return World(
        children=children,
        community=dict(CHILDREN),
        official_d1=Principal("u1", "official_d1", "official", D1),
        official_d2=Principal("u2", "official_d2", "official", D2),
        admin=Principal("u0", "admin1", "admin", None),
    )


@pytest.fixture
def world(env, tmp_path) -> World:
    return build_world(tmp_path)


def d1_filter(**kwargs) -> cohort.CohortFilter:
    return cohort.CohortFilter(SERVICE, (TAG,), kwargs.get("region"))


def proposals_of(session, run_id: str) -> list[Proposal]:
    return list(
        session.scalars(select(Proposal).where(Proposal.run_id == run_id).order_by(Proposal.seq))
    )


def cost_of(km: float, wait: float, weight: float) -> float:
    return km + weight * wait


# --- the cohort and the optimum --------------------------------------------------------------


def test_the_cohort_is_the_districts_open_catch_up_demands_one_per_child(world, session):
    drawn = cohort.select_cohort(session, world.official_d1, d1_filter())

    d1_children = {world.children[label] for label, c in CHILDREN if c.startswith(D1)}
    assert {m.person_id for m in drawn.members} == d1_children
    assert all(m.tag == TAG for m in drawn.members)
    assert drawn.area == D1
    assert (drawn.already_proposed, drawn.duplicates) == (0, 0)


def test_the_proposal_is_allocate_cohorts_optimum_on_the_same_inputs(world, session):
    days, max_km, weight = 2, 10.0, 0.5

    run = cohort.propose_allocation(
        session, world.official_d1, d1_filter(), max_km=max_km, wait_weight=weight, days=days
    )
    proposals = proposals_of(session, run.id)

    # The same inputs, built here from the world's own description: each located child at
    # their community's centre; the district's two clinics (not the van, not district 2's
    # clinic) with daily capacity × days places.
    demand_rows = [
        {"demand_id": p.demand_id, "service": SERVICE, "lat": lat, "lon": lon}
        for p in proposals
        if p.community_code in CENTRES
        for lat, lon in [CENTRES[p.community_code]]
    ]
    provider_rows = [
        {
            "provider_id": pid,
            "service": SERVICE,
            "lat": lat,
            "lon": lon,
            "capacity": capacity * days,
            "wait_days": wait,
        }
        for pid, (community, lat, lon, kind, capacity, wait) in PROVIDERS.items()
        if community.startswith(D1) and kind != "mobile_van"
    ]
    expected = allocate_cohort(demand_rows, provider_rows, max_km=max_km, wait_weight=weight)
    waits = {r["provider_id"]: r["wait_days"] for r in provider_rows}
    expected_cost = sum(
        cost_of(a.distance_km, waits[a.provider_id], weight)
        for a in expected
        if a.provider_id and a.distance_km is not None
    )
    expected_assigned = sum(1 for a in expected if a.provider_id)

    assert len(proposals) == run.cohort == 8
    assert run.assigned == expected_assigned == 4  # four places for seven reachable children
    assert run.total_cost == pytest.approx(expected_cost, abs=1e-6)
    assert run.capacity == 4 and run.providers == 2
    got_cost = sum(
        cost_of(p.distance_km, p.wait_days, weight)
        for p in proposals
        if p.status == "proposed" and p.distance_km is not None and p.wait_days is not None
    )
    assert got_cost == pytest.approx(expected_cost, abs=1e-6)


def test_the_optimum_matches_a_brute_force_over_every_assignment(world, session):
    days, max_km, weight = 2, 10.0, 3.0
    run = cohort.propose_allocation(
        session, world.official_d1, d1_filter(), max_km=max_km, wait_weight=weight, days=days
    )
    located = [p for p in proposals_of(session, run.id) if p.community_code in CENTRES]
    clinics = {"PA": PROVIDERS["PA"], "PB": PROVIDERS["PB"]}

    best: tuple[int, float] = (0, 0.0)
    for choice in itertools.product([None, *clinics], repeat=len(located)):
        if any(choice.count(pid) > clinics[pid][4] * days for pid in clinics):
            continue
        cost = 0.0
        for p, pid in zip(located, choice, strict=True):
            if pid is None:
                continue
            lat, lon = CENTRES[p.community_code or ""]
            km = float(haversine_km(lat, lon, clinics[pid][1], clinics[pid][2]))
            if km > max_km:
                break
            cost += cost_of(km, clinics[pid][5], weight)
        else:
            n = sum(pid is not None for pid in choice)
            if n > best[0] or (n == best[0] and cost < best[1]):
                best = (n, cost)

    assert (run.assigned, round(run.total_cost, 6)) == (best[0], round(best[1], 6))


def test_capacity_reach_and_reasons(world, session):
    run = cohort.propose_allocation(
        session, world.official_d1, d1_filter(), max_km=1.0, wait_weight=0.5, days=2
    )
    proposals = proposals_of(session, run.id)
    by_person = {p.person_id: p for p in proposals}

    for p in proposals:
        if p.status == "proposed":
            assert p.provider_id is not None and p.distance_km is not None
            assert p.distance_km <= 1.0
            clinic = PROVIDERS[p.provider_id]
            assert clinic[0] == p.community_code  # within 1 km only the community's own clinic
    used = {pid: sum(p.provider_id == pid for p in proposals) for pid in ("PA", "PB")}
    assert used == {"PA": 2, "PB": 2}  # each clinic's 1 a day × 2 days, no more
    assert {p.provider_id for p in proposals} <= {"PA", "PB", None}

    nowhere = by_person[world.children["nowhere0"]]
    assert (nowhere.status, nowhere.reason, nowhere.provider_id) == (
        "unassigned",
        cohort.NO_LOCATION,
        None,
    )
    left = [p for p in proposals if p.community_code == YUNSHAN and p.status == "unassigned"]
    assert len(left) == 3 and {p.reason for p in left} == {cohort.CAPACITY_TAKEN}


def test_out_of_reach_is_told_apart_from_full(world, session):
    # 0.1 km: nobody lives that close to a clinic (each is ~140 m from its community centre).
    run = cohort.propose_allocation(
        session, world.official_d1, d1_filter(), max_km=0.1, wait_weight=0.5, days=2
    )
    reasons = {p.reason for p in proposals_of(session, run.id)}

    assert run.assigned == 0 and run.status == "closed"
    assert reasons == {cohort.NONE_IN_REACH, cohort.NO_LOCATION}


# --- reruns and capacity across runs ----------------------------------------------------------


def test_a_rerun_never_proposes_a_child_twice_nor_overbooks_a_clinic(world, session):
    first = cohort.propose_allocation(session, world.official_d1, d1_filter(), days=2)
    second = cohort.propose_allocation(session, world.official_d1, d1_filter(), days=2)

    placed = {p.person_id for p in proposals_of(session, first.id) if p.status == "proposed"}
    again = {p.person_id for p in proposals_of(session, second.id)}
    assert first.assigned == 4
    assert second.already_proposed == 4 and second.cohort == first.cohort - 4
    assert not placed & again
    # The clinics' places are held by the first run's proposals: nothing left to give.
    assert second.capacity == 0 and second.assigned == 0

    cohort.reject(session, world.official_d1, first.id, None)
    third = cohort.propose_allocation(session, world.official_d1, d1_filter(), days=2)
    assert third.already_proposed == 0 and third.capacity == 4 and third.assigned == 4


def test_a_childs_second_demand_for_the_service_is_a_duplicate(world, session):
    child = world.children["yunxi1"]
    original = session.scalar(select(Demand).where(Demand.person_id == child))
    assert original is not None
    session.add(
        Demand(
            id="Dextra" + "0" * 26,
            person_id=child,
            tag="migrant_child_unregistered",
            service=SERVICE,
            demand_type="public_health",
            level="maintenance",
            priority=2,
            status="open",
            because="{}",
            community_code=YUNXI,
            as_of=AS_OF,
        )
    )
    session.flush()

    drawn = cohort.select_cohort(session, world.official_d1, cohort.CohortFilter(SERVICE))
    mine = [m for m in drawn.members if m.person_id == child]
    assert drawn.duplicates == 1
    assert [m.tag for m in mine] == [TAG]  # the more urgent demand (priority 1) is kept


# --- jurisdiction -------------------------------------------------------------------------------


def test_another_districts_official_sees_nothing_of_the_run(world, session):
    run = cohort.propose_allocation(session, world.official_d1, d1_filter())

    with pytest.raises(cohort.AllocationRunNotFound):
        cohort.get_run(session, world.official_d2, run.id)
    with pytest.raises(cohort.AllocationRunNotFound):
        cohort.confirm(session, world.official_d2, run.id, None)
    assert cohort.list_runs(session, world.official_d2) == (0, [])
    assert cohort.get_run(session, world.admin, run.id).id == run.id
    with pytest.raises(cohort.RegionNotFound):
        cohort.propose_allocation(
            session, world.official_d2, cohort.CohortFilter(SERVICE, (TAG,), D1)
        )


def test_each_district_allocates_its_own_children_to_its_own_clinics(world, session):
    run = cohort.propose_allocation(session, world.official_d2, d1_filter(), days=1)
    proposals = proposals_of(session, run.id)

    expected = {world.children[label] for label, c in CHILDREN if c.startswith(D2)}
    assert {p.person_id for p in proposals} == expected
    assert {p.provider_id for p in proposals} == {"PD2"}
    assert run.region_code == D2


def test_a_narrower_region_inside_the_jurisdiction(world, session):
    run = cohort.propose_allocation(
        session, world.official_d1, cohort.CohortFilter(SERVICE, (TAG,), YUNXI), days=2
    )

    assert run.region_code == YUNXI and run.cohort == 2 and run.assigned == 2


# --- decisions ----------------------------------------------------------------------------------


def audit_count(session, action: str, run_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.entity_id == run_id)
        )
        or 0
    )


def test_confirm_all_is_audited_once_and_idempotent(world, session):
    run = cohort.propose_allocation(session, world.official_d1, d1_filter(), days=2)
    assert audit_count(session, "propose_allocation", run.id) == 1

    first = cohort.confirm(session, world.official_d1, run.id, None)
    again = cohort.confirm(session, world.official_d1, run.id, None)

    assert len(first.changed) == run.assigned == 4 and again.changed == []
    assert audit_count(session, "confirm_allocation", run.id) == 1
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "confirm_allocation"))
    assert entry is not None and entry.actor == "official_d1"
    assert json.loads(entry.detail)["count"] == 4
    proposals = proposals_of(session, run.id)
    confirmed = [p for p in proposals if p.status == "confirmed"]
    assert len(confirmed) == 4
    assert all(p.decided_by == "official_d1" and p.decided_at for p in confirmed)
    assert {p.status for p in proposals} == {"confirmed", "unassigned"}
    assert session.get(AllocationRun, run.id).status == "closed"


def test_listed_decisions_are_final_and_checked(world, session):
    run = cohort.propose_allocation(session, world.official_d1, d1_filter(), days=2)
    proposals = proposals_of(session, run.id)
    proposed = [p.id for p in proposals if p.status == "proposed"]
    unassigned = next(p.id for p in proposals if p.status == "unassigned")

    done = cohort.confirm(session, world.official_d1, run.id, proposed[:1])
    assert done.changed == proposed[:1]
    assert cohort.confirm(session, world.official_d1, run.id, proposed[:1]).changed == []
    with pytest.raises(cohort.ProposalStateConflict):
        cohort.reject(session, world.official_d1, run.id, proposed[:1])
    with pytest.raises(cohort.ProposalStateConflict):
        cohort.confirm(session, world.official_d1, run.id, [unassigned])
    with pytest.raises(cohort.ProposalNotFound):
        cohort.confirm(session, world.official_d1, run.id, ["f" * 32])
    rejected = cohort.reject(session, world.official_d1, run.id, proposed[1:])
    assert sorted(rejected.changed) == sorted(proposed[1:])
    assert rejected.run.status == "closed"
    assert audit_count(session, "confirm_allocation", run.id) == 1
    assert audit_count(session, "reject_allocation", run.id) == 1


# --- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cohort_filter", "error"),
    [
        (cohort.CohortFilter("x_ray_vision"), UnknownService),
        (cohort.CohortFilter(SERVICE, ("no_such_tag",)), cohort.CohortRejected),
        (cohort.CohortFilter(SERVICE, ("chronic_continuity",)), cohort.CohortRejected),
        (cohort.CohortFilter(SERVICE, (), "449901999999"), cohort.RegionNotFound),
        (cohort.CohortFilter(SERVICE, (), "nonsense"), cohort.RegionNotFound),
    ],
)
def test_a_cohort_that_cannot_be_drawn_is_refused(world, session, cohort_filter, error):
    with pytest.raises(error):
        cohort.propose_allocation(session, world.official_d1, cohort_filter)
    assert session.scalar(select(func.count()).select_from(AllocationRun)) == 0


@pytest.mark.parametrize(
    "params",
    [
        {"max_km": 0},
        {"max_km": float("nan")},
        {"max_km": 1000},
        {"wait_weight": -1},
        {"days": 0},
        {"days": 91},
    ],
)
def test_parameters_out_of_range_are_refused(world, session, params):
    with pytest.raises(AllocationInputRejected):
        cohort.propose_allocation(session, world.official_d1, d1_filter(), **params)


def test_a_malformed_run_id_is_not_found(world, session):
    for bad in ("", "x" * 32, "a\x00" * 16, "A" * 32):
        with pytest.raises(cohort.AllocationRunNotFound):
            cohort.get_run(session, world.admin, bad)
