"""The features view: against a generated city's truth, on constructed cases, online vs batch."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carematch.profiling.features import (
    FEATURE_COLUMNS,
    compute_features,
    inputs_for,
    persons_table,
    source_table,
)
from tests.profiling.conftest import City, count_overdue

AS_OF = date(2026, 6, 30)


# --- against the generator's truth ---------------------------------------------------------


def _by_person(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {row["person_id"]: row for row in table.to_pylist()}


def _listed(city: City, source: str) -> set[str]:
    """Persons the source lists (through the true record → person mapping)."""
    rows = city.records.filter(pc.equal(city.records.column("source"), source))
    return set(rows.column("person_id").to_pylist())


def _pairs(city: City, who: set[str] | None = None) -> list[tuple[dict, dict]]:
    features, truth = _by_person(city.features), _by_person(city.truth)
    ids = sorted(features) if who is None else sorted(who)
    return [(features[i], truth[i]) for i in ids]


def _disagree(pairs: list[tuple[dict, dict]], feature: str, true: str | None = None) -> list:
    true = true or feature
    return [(f["person_id"], f[feature], t[true]) for f, t in pairs if f[feature] != t[true]]


def test_every_linked_person_has_exactly_one_row(city: City):
    ids = city.features.column("person_id").to_pylist()
    assert len(ids) == len(set(ids))
    assert set(ids) == set(city.records.column("person_id").to_pylist())
    # A few residents appear in no extract at all: they cannot have features from extracts.
    assert len(ids) > 0.98 * city.truth.num_rows


def test_sex_agrees_with_truth_for_everyone(city: City):
    # The generator spells sex several ways (男/女, M/F) but never records it wrongly.
    assert _disagree(_pairs(city), "sex") == []


def test_age_is_exact_for_everyone_police_lists_and_nearly_everyone_else(city: City):
    police = _listed(city, "police")
    assert _disagree(_pairs(city, police), "age") == []
    # Anyone else takes the birth date from another source, whose birth dates carry the
    # generator's typing errors (manifest `birth_error`); no more than that share may differ.
    others = _pairs(city, set(city.features.column("person_id").to_pylist()) - police)
    worst = max(noise["birth_error"] for noise in city.manifest["noise"].values())
    assert len(_disagree(others, "age")) <= math.ceil(worst * len(others))


def test_registry_flags_agree_with_truth_for_everyone(city: City):
    pairs = _pairs(city)
    # A residence permit is issued by the police; a household status by civil affairs, and
    # `general` is what a household the registry does not list has.
    assert _disagree(pairs, "has_residence_permit") == []
    assert _disagree(pairs, "household_status") == []


def test_latest_screens_agree_with_truth_for_everyone(city: City):
    pairs = _pairs(city)
    assert sum(f["phq9"] is not None for f, _ in pairs) > 0.2 * len(pairs)
    assert _disagree(pairs, "phq9") == []
    assert _disagree(pairs, "gad7") == []


def test_ehr_facts_agree_with_truth_for_everyone_the_ehr_lists(city: City):
    ehr = _listed(city, "ehr")
    pairs = _pairs(city, ehr)
    for feature in ("is_pregnant", "disability_level", "lives_alone", "signed_family_doctor"):
        assert _disagree(pairs, feature) == [], feature
    assert sum(f["is_pregnant"] for f, _ in pairs) >= 10
    assert sum(f["disability_level"] > 0 for f, _ in pairs) >= 50
    # Nobody else has a record that could say so: the dictionary's defaults.
    for f, _ in _pairs(city, set(_by_person(city.features)) - ehr):
        assert (f["is_pregnant"], f["disability_level"], f["conditions"]) == (False, 0, [])


def test_doses_overdue_equals_truth_for_every_child(city: City):
    children = [(f, t) for f, t in _pairs(city) if t["doses_overdue"] is not None]
    assert len(children) > 300
    assert sum(t["doses_overdue"] > 0 for _, t in children) > 10
    assert _disagree(children, "doses_overdue") == []
    registry = _listed(city, "immunization")
    for f, _ in _pairs(city):
        assert f["immunization_record"] == (f["person_id"] in registry)


def test_police_registration_facts_agree_with_truth(city: City):
    police = _pairs(city, _listed(city, "police"))
    assert _disagree(police, "hukou") == []
    assert _disagree(police, "moves_12m") == []
    migrants = [(f, t) for f, t in police if t["hukou"] == "migrant"]
    assert len(migrants) > 500
    assert _disagree(migrants, "origin_province") == []


def test_residence_months_within_a_month_of_truth(city: City):
    # Truth counts days × 12 // 365; the feature counts calendar months: they may differ by
    # one around a month's end.
    police = _listed(city, "police")
    known = [(f, t) for f, t in _pairs(city) if f["residence_months"] is not None]
    assert {f["person_id"] for f, _ in known} >= police
    far = [
        (f["person_id"], f["residence_months"], t["residence_months"])
        for f, t in known
        if abs(f["residence_months"] - t["residence_months"]) > 1
    ]
    assert far == []


def test_occupation_and_insurance_agree_with_truth_where_a_source_says(city: City):
    pairs = _pairs(city, _listed(city, "police") | _listed(city, "social_security"))
    assert _disagree(pairs, "occupation") == []
    insured = _pairs(city, _listed(city, "social_security") | _listed(city, "insurance"))
    assert _disagree(insured, "insurance", "insurance_type") == []
    # A settlement records where the scheme is held.
    assert _disagree(_pairs(city, _listed(city, "insurance")), "insured_locally") == []


def test_household_out_of_pocket_and_income_equal_truth(city: City):
    truth = _by_person(city.truth)
    households = {h["household_id"]: h for h in city.households.to_pylist()}
    members: dict[str, set[str]] = defaultdict(set)
    for person in truth.values():
        members[person["household_id"]].add(person["person_id"])
    registered = _listed(city, "poverty")
    # Truth sums every member's settlements; the registry must list all of them to match.
    whole = {h for h, who in members.items() if who <= registered}
    checked = 0
    for f in city.features.to_pylist():
        household = truth[f["person_id"]]["household_id"]
        if f["person_id"] in registered and household in whole:
            assert f["oop_12m"] == pytest.approx(households[household]["oop_12m"], abs=0.005)
            assert f["income_12m"] == pytest.approx(households[household]["income_12m"])
            checked += 1
    assert checked > 100


# --- constructed cases ---------------------------------------------------------------------


def features_of(persons: list[dict], as_of: date = AS_OF, **sources: list[dict]) -> dict:
    """Features by person id from plain rows."""
    table = compute_features(
        persons_table(persons),
        {name: source_table(name, rows) for name, rows in sources.items()},
        as_of,
        count_overdue,
    )
    return _by_person(table)


def person(pid: str = "A", **values: Any) -> dict:
    return {"person_id": pid, "sex": "F", "birth_date": date(1980, 5, 1)} | values


def test_the_latest_record_wins_whatever_the_input_order():
    ehr = [
        {"person_id": "A", "record_id": "E2", "last_visit_date": date(2026, 3, 1), "sbp": 120},
        {"person_id": "A", "record_id": "E1", "last_visit_date": date(2025, 1, 1), "sbp": 150},
        {"person_id": "A", "record_id": "E0", "last_visit_date": None, "sbp": 190},
    ]
    survey = [
        {"person_id": "A", "record_id": "S1", "survey_date": date(2026, 2, 1), "phq9": 4},
        {"person_id": "A", "record_id": "S2", "survey_date": date(2025, 12, 1), "phq9": 21},
    ]
    police = [
        {"person_id": "A", "record_id": "P1", "arrival_date": date(2020, 1, 1), "moves_12m": 0},
        {"person_id": "A", "record_id": "P2", "arrival_date": date(2025, 7, 1), "moves_12m": 2},
    ]
    for order in (1, -1):
        got = features_of(
            [person()], ehr=ehr[::order], survey=survey[::order], police=police[::order]
        )["A"]
        assert (got["sbp"], got["phq9"], got["moves_12m"]) == (120, 4, 2)


def test_household_out_of_pocket_sums_members_settlements_of_the_last_12_months():
    def settlement(pid: str, rid: str, day: date, oop: float) -> dict:
        return {
            "person_id": pid,
            "record_id": rid,
            "settlement_date": day,
            "facility_code": "PRV1",
            "visit_type": "outpatient",
            "total_cost": oop * 2,
            "out_of_pocket": oop,
        }

    poverty = [
        {"person_id": p, "record_id": f"V{p}", "household_id": "H1", "household_status": "lifted"}
        for p in ("A", "B")
    ]
    insurance = [
        settlement("A", "I1", AS_OF - timedelta(days=30), 100.0),
        settlement("B", "I2", date(2025, 7, 1), 200.0),  # 12 months less a day: counts
        settlement("B", "I3", date(2025, 6, 30), 1000.0),  # exactly 12 months: does not
        settlement("B", "I4", date(2025, 5, 20), 400.0),  # 13 months old: does not
        settlement("B", "I5", AS_OF + timedelta(days=1), 800.0),  # after the date: does not
        settlement("C", "I6", AS_OF - timedelta(days=3), 50.0),
        settlement("C", "I7", AS_OF - timedelta(days=3), 50.0),  # another visit that day…
    ]
    insurance[-1]["total_cost"] = 60.0  # …with another bill, so not a duplicate
    insurance.append(settlement("A", "I8", AS_OF - timedelta(days=30), 100.0))  # exported twice
    got = features_of([person("A"), person("B"), person("C")], poverty=poverty, insurance=insurance)
    assert got["A"]["oop_12m"] == got["B"]["oop_12m"] == pytest.approx(300.0)
    assert got["C"]["oop_12m"] == pytest.approx(100.0)  # no household: their own
    assert (got["A"]["household_status"], got["C"]["household_status"]) == ("lifted", "general")


def test_conditions_are_the_union_over_ehr_records_plus_pregnancy_and_disability():
    ehr = [
        {
            "person_id": "A",
            "record_id": "E1",
            "last_visit_date": date(2024, 1, 1),
            "conditions": ["hypertension", " copd "],
        },
        {
            "person_id": "A",
            "record_id": "E2",
            "last_visit_date": date(2026, 1, 1),
            "conditions": ["diabetes", "hypertension", ""],
            "is_pregnant": True,
            "disability_level": 2,
        },
        {
            "person_id": "B",
            "record_id": "E3",
            "last_visit_date": date(2024, 1, 1),
            "is_pregnant": True,  # an old pregnancy …
            "disability_level": 1,
        },
        {"person_id": "B", "record_id": "E4", "last_visit_date": date(2026, 1, 1)},  # … is over
    ]
    got = features_of([person("A"), person("B")], ehr=ehr)
    assert got["A"]["conditions"] == ["copd", "diabetes", "disability", "hypertension", "pregnancy"]
    assert (got["A"]["is_pregnant"], got["A"]["disability_level"]) == (True, 2)
    assert got["B"]["conditions"] == []
    assert (got["B"]["is_pregnant"], got["B"]["disability_level"]) == (False, 0)


def test_residence_months_without_a_police_record_is_unknown_unless_local():
    police = [
        {
            "person_id": "M",
            "record_id": "P1",
            "hukou": "migrant",
            "arrival_date": date(2025, 12, 31),
        },
        {"person_id": "L", "record_id": "P2", "hukou": "local"},
    ]
    got = features_of(
        [
            person("M", birth_date=date(1990, 6, 30)),
            person("L", birth_date=date(1990, 6, 30)),
            person("G", birth_date=date(1990, 6, 30), hukou="local"),  # golden record says local
            person("X", birth_date=date(1990, 6, 30), hukou="migrant"),
            person("U", birth_date=date(1990, 6, 30)),
        ],
        police=police,
    )
    assert got["M"]["residence_months"] == 5  # 31 Dec → 30 Jun: the 6th month is not full
    assert got["L"]["residence_months"] == got["G"]["residence_months"] == 36 * 12
    assert got["X"]["residence_months"] is None
    assert got["U"]["residence_months"] is None


def _reference_age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@pytest.mark.parametrize(
    ("born", "on"),
    [
        (date(1980, 6, 30), date(2026, 6, 30)),  # birthday on the day: a year older
        (date(1980, 7, 1), date(2026, 6, 30)),  # birthday tomorrow: not yet
        (date(2004, 2, 29), date(2025, 2, 28)),  # 29 February births, common years …
        (date(2004, 2, 29), date(2025, 3, 1)),  # … older from 1 March
        (date(2004, 2, 29), date(2028, 2, 29)),  # … and on the day in leap years
        (date(2000, 12, 31), date(2026, 1, 1)),
        (date(2026, 6, 30), date(2026, 6, 30)),  # born today: 0
    ],
)
def test_age_counts_whole_years(born: date, on: date):
    got = features_of([person(birth_date=born)], as_of=on)["A"]
    assert got["age"] == _reference_age(born, on)


def test_age_is_unknown_without_a_birth_date_or_for_one_after_the_day():
    got = features_of(
        [person("A", birth_date=None), person("B", birth_date=AS_OF + timedelta(days=1))]
    )
    assert got["A"]["age"] is None
    assert got["B"]["age"] is None


def test_a_person_in_no_source_still_gets_a_row_with_the_defaults():
    got = features_of([person(hukou="local", community_code="449901001001")])
    assert set(got) == {"A"}
    row = got["A"]
    assert set(row) == {"person_id", *FEATURE_COLUMNS, "conditions"}
    assert {k: row[k] for k in ("age", "sex", "hukou", "community")} == {
        "age": 46,
        "sex": "F",
        "hukou": "local",
        "community": "449901001001",
    }
    assert {
        k: row[k]
        for k in (
            "has_residence_permit",
            "moves_12m",
            "insured_locally",
            "household_status",
            "oop_12m",
            "income_12m",
            "is_pregnant",
            "disability_level",
            "lives_alone",
            "signed_family_doctor",
            "doses_overdue",
            "immunization_record",
            "ever_followed_up",
            "conditions",
        )
    } == {
        "has_residence_permit": False,
        "moves_12m": 0,
        "insured_locally": False,
        "household_status": "general",
        "oop_12m": 0.0,
        "income_12m": 0.0,
        "is_pregnant": False,
        "disability_level": 0,
        "lives_alone": False,
        "signed_family_doctor": False,
        "doses_overdue": 0,
        "immunization_record": False,
        "ever_followed_up": False,
        "conditions": [],
    }
    unknown = ("origin_province", "occupation", "insurance", "last_followup", "sbp", "phq9")
    assert all(row[k] is None for k in unknown)


@pytest.mark.parametrize(
    ("hukou", "scheme", "settled", "expected"),
    [
        ("migrant", "employee", None, True),  # an employer here pays it
        ("migrant", "resident", None, False),  # the resident scheme is held where hukou is
        ("local", "resident", None, True),
        ("local", "none", None, False),
        ("migrant", "resident", True, True),  # a settlement says where: it wins
        ("local", "employee", False, False),
    ],
)
def test_insured_locally_follows_the_settlement_else_the_scheme(hukou, scheme, settled, expected):
    insurance = []
    if settled is not None:
        insurance = [
            {
                "person_id": "A",
                "record_id": "I1",
                "settlement_date": date(2026, 1, 1),
                "insured_locally": settled,
            }
        ]
    got = features_of(
        [person()],
        police=[{"person_id": "A", "record_id": "P1", "hukou": hukou}],
        social_security=[{"person_id": "A", "record_id": "S1", "insurance_type": scheme}],
        insurance=insurance,
    )["A"]
    assert got["insured_locally"] is expected


def test_a_callers_connection_is_left_as_it_was():
    con = duckdb.connect()
    con.execute("CREATE TABLE mine AS SELECT 1 AS x")
    compute_features(persons_table([person()]), {}, AS_OF, count_overdue, con=con)
    tables = {row[0] for row in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
    views = {row[0] for row in con.sql("SELECT view_name FROM duckdb_views()").fetchall()}
    assert tables == {"mine"}
    assert "persons" not in views and "features" not in views


# --- online == batch -----------------------------------------------------------------------


def _alone(city: City, ids: list[str]) -> dict[str, dict]:
    persons, sources = inputs_for(city.persons, city.sources, ids)
    return _by_person(compute_features(persons, sources, city.as_of, count_overdue))


@dataclass(frozen=True, repr=False)  # hypothesis prints its arguments: keep them short
class Batch:
    """The city's features by person, and who shares a household with someone who spent."""

    city: City
    rows: dict[str, dict]
    shared: list[str]


@pytest.fixture(scope="module")
def batch(city: City) -> Batch:
    members: dict[str, set[str]] = defaultdict(set)
    for row in city.sources["poverty"].to_pylist():
        members[row["household_id"]].add(row["person_id"])
    year_ago = city.as_of.replace(year=city.as_of.year - 1)
    spent = {
        row["person_id"]
        for row in city.sources["insurance"].to_pylist()
        if year_ago < row["settlement_date"] <= city.as_of and row["out_of_pocket"] > 0
    }
    shared = sorted(
        p for who in members.values() if len(who) > 1 for p in who if (who - {p}) & spent
    )
    return Batch(city, _by_person(city.features), shared)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_features_of_a_few_persons_alone_equal_their_rows_in_the_city(
    batch: Batch, data: st.DataObject
):
    ids = data.draw(
        st.lists(
            st.one_of(st.sampled_from(sorted(batch.rows)), st.sampled_from(batch.shared)),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    alone = _alone(batch.city, ids)
    assert set(alone) == set(ids)
    for pid in ids:
        assert alone[pid] == batch.rows[pid]


def test_a_household_members_page_counts_the_whole_household(batch: Batch):
    # Where another member's settlements count, the person's own records alone would not do.
    city, shared = batch.city, batch.shared
    assert len(shared) >= 10
    for pid in shared[:10]:
        assert _alone(city, [pid])[pid] == batch.rows[pid]
    own_only = {
        name: table.filter(pc.equal(table.column("person_id"), shared[0]))
        for name, table in city.sources.items()
    }
    persons = city.persons.filter(pc.equal(city.persons.column("person_id"), shared[0]))
    narrow = compute_features(persons, own_only, city.as_of, count_overdue).to_pylist()[0]
    assert narrow["oop_12m"] < batch.rows[shared[0]]["oop_12m"]
