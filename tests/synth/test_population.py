"""The residents: hukou mix, ages, occupations, households, IDs and health attributes."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from carematch.synth.idcard import is_valid_id
from tests.synth.support import City

WORKING_AGE = range(15, 60)


@pytest.fixture(scope="module")
def people(city: City) -> list[dict[str, str]]:
    return list(city.persons.values())


def test_about_a_third_are_migrants_mostly_of_working_age(people: list[dict[str, str]]) -> None:
    migrants = [p for p in people if p["hukou"] == "migrant"]
    assert len(migrants) / len(people) == pytest.approx(0.35, abs=0.01)
    working = sum(int(p["age"]) in WORKING_AGE for p in migrants)
    assert working / len(migrants) > 0.70
    children = [p for p in migrants if int(p["age"]) <= 14]
    assert 0.1 < len(children) / len(migrants) < 0.3
    assert sum(int(p["age"]) >= 60 for p in migrants) > 0


def test_local_age_pyramid_is_plausible_for_a_chinese_city(people: list[dict[str, str]]) -> None:
    locals_ = [int(p["age"]) for p in people if p["hukou"] == "local"]
    share = lambda lo, hi: sum(lo <= a <= hi for a in locals_) / len(locals_)  # noqa: E731
    assert 0.12 < share(0, 14) < 0.22
    assert 0.55 < share(15, 59) < 0.70
    assert 0.15 < share(60, 120) < 0.28
    assert max(locals_) >= 90 and min(locals_) == 0


def test_migrants_come_from_real_provinces_weighted_to_the_usual_ones(
    people: list[dict[str, str]],
) -> None:
    origins = Counter(p["origin_province"] for p in people if p["hukou"] == "migrant")
    assert "" not in origins
    for code in ("43", "45", "36", "51", "52", "42", "41"):
        assert origins[code] > 0
    assert origins.most_common(3)[0][0] in {"44", "43"}
    assert all(
        p["origin_province"] == "" and p["arrival_date"] == ""
        for p in people
        if p["hukou"] == "local"
    )


def test_arrivals_are_after_birth_and_before_as_of(people: list[dict[str, str]]) -> None:
    for p in people:
        if p["hukou"] == "migrant":
            assert p["birth_date"] <= p["arrival_date"] <= "2026-06-30"
    long_term = [p for p in people if p["hukou"] == "migrant" and int(p["residence_months"]) >= 60]
    recent = [p for p in people if p["hukou"] == "migrant" and int(p["residence_months"]) < 12]
    assert long_term and recent


def test_occupations_fit_ages(people: list[dict[str, str]]) -> None:
    for p in people:
        age, occupation = int(p["age"]), p["occupation"]
        if age <= 5:
            assert occupation == "child"
        elif age <= 15:
            assert occupation == "student"
        else:
            assert occupation != "child"
        if occupation == "retired":
            assert age >= 55
    workers = Counter(p["occupation"] for p in people if p["hukou"] == "migrant")
    assert workers["manufacturing"] > workers["office"]
    assert workers["delivery"] > 0 and workers["ride_hailing"] > 0 and workers["domestic"] > 0


def test_ids_are_valid_and_say_birth_date_sex_and_origin(people: list[dict[str, str]]) -> None:
    assert len({p["id_number"] for p in people}) == len(people)
    for p in people:
        number = p["id_number"]
        assert is_valid_id(number)
        assert number[6:14] == p["birth_date"].replace("-", "")
        assert int(number[16]) % 2 == (1 if p["sex"] == "M" else 0)
        if p["hukou"] == "local":
            assert number[:6] == p["community_code"][:6]
        else:
            assert number[:2] == p["origin_province"]


def test_households_share_an_address_and_have_one_head(
    city: City, people: list[dict[str, str]]
) -> None:
    members = defaultdict(list)
    for p in people:
        members[p["household_id"]].append(p)
    households = {h["household_id"]: h for h in city.rows("truth/households")}
    assert set(members) == set(households)
    for hid, group in members.items():
        assert len(group) == int(households[hid]["size"])
        assert {p["address"] for p in group} == {households[hid]["address"]}
        assert {p["hukou"] for p in group} == {households[hid]["hukou"]}
        assert {p["household_status"] for p in group} == {households[hid]["household_status"]}
        assert all((p["lives_alone"] == "true") == (len(group) == 1) for p in group)
    sizes = Counter(int(h["size"]) for h in households.values())
    assert sizes[1] > 0 and sizes[4] > 0


def test_children_without_their_own_phone_use_the_household_number(
    city: City, people: list[dict[str, str]]
) -> None:
    households = {h["household_id"]: h for h in city.rows("truth/households")}
    young = [p for p in people if int(p["age"]) < 12]
    assert young and all(p["own_phone"] == "false" for p in young)
    assert all(p["phone"] == households[p["household_id"]]["household_phone"] for p in young)


def test_health_attributes_are_consistent(people: list[dict[str, str]]) -> None:
    for p in people:
        conditions = set(p["conditions"].split(";")) - {""}
        assert (p["is_pregnant"] == "true") == ("pregnancy" in conditions)
        if p["is_pregnant"] == "true":
            assert p["sex"] == "F" and 20 <= int(p["age"]) <= 40
        assert (int(p["disability_level"]) > 0) == ("disability" in conditions)
        assert 0 <= int(p["disability_level"]) <= 4
        if "pneumoconiosis" in conditions:
            assert p["occupation"] in ("construction", "manufacturing")
        assert (p["chronic_controlled"] != "") == (p["chronic"] == "true")
    pregnant = [p for p in people if p["is_pregnant"] == "true"]
    assert pregnant
    signed = Counter((p["hukou"], p["signed_family_doctor"]) for p in people)
    local_rate = signed[("local", "true")] / (
        signed[("local", "true")] + signed[("local", "false")]
    )
    migrant_rate = signed[("migrant", "true")] / (
        signed[("migrant", "true")] + signed[("migrant", "false")]
    )
    assert local_rate > migrant_rate


def test_insurance_and_permits(people: list[dict[str, str]]) -> None:
    types = Counter((p["hukou"], p["insurance_type"], p["insured_locally"]) for p in people)
    assert types[("migrant", "resident", "false")] > 0  # insured back home: 异地就医
    assert types[("migrant", "none", "false")] > 0
    assert all(p["insured_locally"] == "false" for p in people if p["insurance_type"] == "none")
    permits = [p for p in people if p["has_residence_permit"] == "true"]
    assert permits and all(
        p["hukou"] == "migrant" and int(p["residence_months"]) >= 6 for p in permits
    )
