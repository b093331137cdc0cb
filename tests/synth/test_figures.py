"""The requirements' figures for the demo city, measured from the generated files.

Each figure is computed from the files a user of the city would read — the truth and, where
the figure is observable, the departmental extracts — never taken from the generator's
parameters. Tolerance: ±2 percentage points at 20,000 residents.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from carematch.synth import AS_OF
from tests.synth.nip_eval import Evaluator, parse_doses
from tests.synth.support import CHRONIC, City

TOLERANCE = 0.02


def share(flags: list[bool]) -> float:
    assert flags, "empty group"
    return sum(flags) / len(flags)


def is_chronic(conditions: str) -> bool:
    return any(c in CHRONIC for c in conditions.split(";") if c)


def by_hukou(city: City) -> dict[str, list[dict[str, str]]]:
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for p in city.persons.values():
        groups[p["hukou"]].append(p)
    return groups


@pytest.mark.parametrize(("hukou", "target"), [("migrant", 0.187), ("local", 0.192)])
def test_chronic_prevalence_in_truth_and_health_records(
    city: City, hukou: str, target: float
) -> None:
    people = by_hukou(city)[hukou]
    truth = share([is_chronic(p["conditions"]) for p in people])
    assert truth == pytest.approx(target, abs=TOLERANCE)

    # The health records show the same people as chronic.
    chronic_in_ehr = {
        city.owner[("ehr", r["record_id"])] for r in city.rows("ehr") if is_chronic(r["conditions"])
    }
    observed = share([p["person_id"] in chronic_in_ehr for p in people])
    assert observed == pytest.approx(target, abs=TOLERANCE)


def latest_readings(city: City) -> dict[str, dict[str, dict[str, str]]]:
    """person_id → kind → latest reading row."""
    latest: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    ehr_owner = {r["record_id"]: city.owner[("ehr", r["record_id"])] for r in city.rows("ehr")}
    for r in city.rows("readings"):
        person = ehr_owner[r["ehr_record_id"]]
        current = latest[person].get(r["kind"])
        if current is None or r["measured_at"] > current["measured_at"]:
            latest[person][r["kind"]] = r
    return latest


@pytest.mark.parametrize(("hukou", "target"), [("migrant", 0.29), ("local", 0.51)])
def test_chronic_control_rate_from_readings(city: City, hukou: str, target: float) -> None:
    latest = latest_readings(city)
    chronic = [p for p in by_hukou(city)[hukou] if p["chronic"] == "true"]
    assert share([p["chronic_controlled"] == "true" for p in chronic]) == pytest.approx(
        target, abs=TOLERANCE
    )

    measured = []
    for p in chronic:
        conditions = set(p["conditions"].split(";"))
        if not conditions & {"hypertension", "diabetes"}:
            continue
        ok = True
        if "hypertension" in conditions:
            bp = latest[p["person_id"]]["bp"]
            ok &= int(bp["sbp"]) < 140 and int(bp["dbp"]) < 90
        if "diabetes" in conditions:
            ok &= float(latest[p["person_id"]]["glucose"]["glucose"]) < 7.0
        # Readings and the truth flag agree for every single person, not just on average.
        assert ok == (p["chronic_controlled"] == "true"), p["person_id"]
        measured.append(ok)
    assert share(measured) == pytest.approx(target, abs=TOLERANCE)


def test_ehr_latest_values_are_the_latest_readings(city: City) -> None:
    latest = latest_readings(city)
    checked = 0
    for r in city.rows("ehr"):
        person = city.owner[("ehr", r["record_id"])]
        bp = latest.get(person, {}).get("bp")
        if bp is None:
            assert r["sbp"] == ""
            continue
        assert (r["sbp"], r["dbp"]) == (bp["sbp"], bp["dbp"])
        checked += 1
    assert checked > 1000


@pytest.fixture(scope="module")
def overdue_by_child(city: City) -> dict[str, list[str]]:
    """person_id → overdue series, evaluated from immunization.csv with the schedule file."""
    evaluator = Evaluator.from_text((city.root / "nip_schedule.yaml").read_text(encoding="utf-8"))
    result = {}
    for r in city.rows("immunization"):
        person = city.person_of("immunization", r)
        dob = dt.date.fromisoformat(person["birth_date"])
        result[person["person_id"]] = evaluator.overdue_series(dob, parse_doses(r["doses"]), AS_OF)
    return result


@pytest.mark.parametrize(
    ("hukou", "low", "high", "target"),
    [
        ("migrant", 0, 14, 0.15),
        ("migrant", 0, 6, 0.15),
        ("local", 0, 14, 0.05),
        ("local", 0, 6, 0.05),
    ],
)
def test_child_vaccination_miss_rate(
    city: City,
    overdue_by_child: dict[str, list[str]],
    hukou: str,
    low: int,
    high: int,
    target: float,
) -> None:
    children = [p for p in by_hukou(city)[hukou] if low <= int(p["age"]) <= high]
    # Every child up to 14 is in the registry.
    assert all(p["person_id"] in overdue_by_child for p in children)
    missed = [bool(overdue_by_child[p["person_id"]]) for p in children]
    assert share(missed) == pytest.approx(target, abs=TOLERANCE)


def test_vaccination_truth_matches_the_schedule_evaluation(
    city: City, overdue_by_child: dict[str, list[str]]
) -> None:
    children = [p for p in city.persons.values() if p["vaccination_missed"] != ""]
    assert len(children) == len(overdue_by_child)
    for p in children:
        overdue = overdue_by_child[p["person_id"]]
        assert (p["vaccination_missed"] == "true") == bool(overdue), p["person_id"]
        assert int(p["doses_overdue"]) == len(overdue), p["person_id"]


def latest_screens(city: City) -> dict[str, dict[str, str]]:
    latest: dict[str, dict[str, str]] = {}
    for r in city.rows("survey"):
        person = city.owner[("survey", r["record_id"])]
        if person not in latest or r["survey_date"] > latest[person]["survey_date"]:
            latest[person] = r
    return latest


@pytest.mark.parametrize(
    ("hukou", "column", "target"),
    [
        ("migrant", "phq9", 0.32),
        ("migrant", "gad7", 0.18),
        ("local", "phq9", 0.15),
        ("local", "gad7", 0.10),
    ],
)
def test_depression_and_anxiety_on_latest_screen(
    city: City, hukou: str, column: str, target: float
) -> None:
    latest = latest_screens(city)
    screened = [latest[p["person_id"]] for p in by_hukou(city)[hukou] if p["person_id"] in latest]
    assert len(screened) > 500
    assert share([int(r[column]) >= 10 for r in screened]) == pytest.approx(target, abs=TOLERANCE)
    # The truth's phq9 / gad7 are exactly the latest screen's scores.
    for r in screened[:500]:
        assert city.person_of("survey", r)[column] == r[column]


def test_survey_reaches_about_thirty_percent_of_adults(city: City) -> None:
    adults = [p for p in city.persons.values() if int(p["age"]) >= 18]
    surveyed = set(latest_screens(city))
    assert share([p["person_id"] in surveyed for p in adults]) == pytest.approx(0.30, abs=TOLERANCE)
    assert all(int(city.persons[pid]["age"]) >= 18 for pid in surveyed)


def household_oop(city: City) -> dict[str, float]:
    """Household out-of-pocket over the 12 months to AS_OF, from insurance.csv.

    A settlement submitted twice is counted once (same person, date, facility and amounts).
    """
    start = dt.date(AS_OF.year - 1, AS_OF.month, AS_OF.day) + dt.timedelta(days=1)
    seen = set()
    totals: dict[str, float] = defaultdict(float)
    for r in city.rows("insurance"):
        if dt.date.fromisoformat(r["settlement_date"]) < start:
            continue
        person = city.person_of("insurance", r)
        key = (
            person["person_id"],
            r["settlement_date"],
            r["facility"],
            r["total_cost"],
            r["out_of_pocket"],
        )
        if key in seen:
            continue
        seen.add(key)
        totals[person["household_id"]] += float(r["out_of_pocket"])
    return totals


def test_some_households_pass_the_out_of_pocket_warning_line(city: City) -> None:
    totals = household_oop(city)
    households = city.rows("truth/households")
    over = {h for h, v in totals.items() if v > 5000}
    assert 0.03 <= len(over) / len(households) <= 0.05
    # The truth's oop_12m agrees with the settlements.
    for h in households:
        assert float(h["oop_12m"]) == pytest.approx(totals.get(h["household_id"], 0.0), abs=0.05)
    # Some of them spend 30 % or more of their income (the temporary-relief rule).
    poor = [
        h
        for h in households
        if h["household_id"] in over and float(h["oop_12m"]) >= 0.3 * float(h["income_12m"])
    ]
    assert poor


def test_tb_cases_are_mostly_migrants(city: City) -> None:
    cases = [p for p in city.persons.values() if "tb" in p["conditions"].split(";")]
    assert cases
    assert share([p["hukou"] == "migrant" for p in cases]) == pytest.approx(0.58, abs=0.15)


def test_occupational_disease_among_manufacturing_migrants(city: City) -> None:
    workers = [p for p in by_hukou(city)["migrant"] if p["occupation"] == "manufacturing"]
    sick = [
        bool({"pneumoconiosis", "occupational_noise"} & set(p["conditions"].split(";")))
        for p in workers
    ]
    assert share(sick) == pytest.approx(0.123, abs=TOLERANCE)
