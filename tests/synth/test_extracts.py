"""The ingest contract: file set, exact columns, record ids, truth coverage, references."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
import yaml

from tests.synth.support import SOURCES, City, header

# The contract other modules build on (docs/data-dictionary.md documents every column).
COLUMNS = {
    "police": "record_id,name,id_number,sex,birth_date,phone,address,community_code,hukou,"
    "origin_province,arrival_date,has_residence_permit,occupation,moves_12m",
    "ehr": "record_id,name,id_number,sex,birth_date,phone,address,community_code,conditions,sbp,"
    "dbp,glucose,last_visit_date,last_followup_date,signed_family_doctor,is_pregnant,disability_level,"
    "lives_alone",
    "insurance": "record_id,name,id_number,sex,birth_date,phone,settlement_date,facility,"
    "facility_code,visit_type,diagnosis,insurance_type,insured_locally,insured_province,total_cost,"
    "reimbursed,out_of_pocket",
    "social_security": "record_id,name,id_number,sex,birth_date,phone,address,employer,occupation,"
    "insurance_type",
    "immunization": "record_id,name,id_number,sex,birth_date,guardian_name,phone,address,"
    "community_code,doses",
    "poverty": "record_id,name,id_number,sex,birth_date,phone,address,community_code,household_id,"
    "household_status,income_12m",
    "survey": "record_id,name,sex,birth_date,phone,address,community_code,survey_date,phq9,gad7,"
    "needs,community_activity,health_literacy",
    "readings": "record_id,ehr_record_id,measured_at,kind,sbp,dbp,glucose,channel",
    "service_use": "record_id,ehr_record_id,provider_id,service_code,date,rating,comment",
    "van_stops": "provider_id,weekday,start_time,end_time,lat,lon,community_code,site_name",
    "regions": "code,name,name_en,level,parent_code,kind,lat,lon",
    "truth/records": "source,record_id,person_id",
}
PREFIX = {
    "police": "POL",
    "ehr": "EHR",
    "insurance": "INS",
    "social_security": "SOC",
    "immunization": "IMM",
    "poverty": "POV",
    "survey": "SUR",
    "readings": "RDG",
    "service_use": "SVC",
}


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_columns_are_exactly_the_contract(city: City, name: str) -> None:
    assert header(city.root / f"{name}.csv") == COLUMNS[name].split(",")


def test_all_files_are_written(city: City) -> None:
    written = {str(p.relative_to(city.root)) for p in city.root.rglob("*") if p.is_file()}
    expected = {f"{s}.csv" for s in SOURCES} | {
        "readings.csv",
        "service_use.csv",
        "providers.csv",
        "provider_services.csv",
        "van_stops.csv",
        "regions.csv",
        "districts.geojson",
        "services.yaml",
        "policies.yaml",
        "nip_schedule.yaml",
        "truth/records.csv",
        "truth/persons.csv",
        "truth/households.csv",
        "truth/providers.csv",
        "manifest.json",
    }
    assert written == expected


@pytest.mark.parametrize("name", sorted(PREFIX))
def test_record_ids_are_unique_and_prefixed(city: City, name: str) -> None:
    ids = [r["record_id"] for r in city.rows(name)]
    assert ids and len(set(ids)) == len(ids)
    assert all(re.fullmatch(PREFIX[name] + r"\d{7,}", i) for i in ids)


def test_truth_names_the_person_behind_every_record_exactly_once(city: City) -> None:
    truth = Counter((r["source"], r["record_id"]) for r in city.rows("truth/records"))
    assert all(n == 1 for n in truth.values())
    records = {(s, r["record_id"]) for s in SOURCES for r in city.rows(s)}
    assert set(truth) == records
    assert {r["person_id"] for r in city.rows("truth/records")} <= set(city.persons)


def test_manifest_matches_the_files(city: City) -> None:
    manifest = json.loads((city.root / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["as_of"] == "2026-06-30"
    assert manifest["residents"] == 20_000 and manifest["seed"] == 20_260_630
    assert set(manifest["noise"]) == set(SOURCES)
    for name, rows in manifest["files"].items():
        if name.endswith(".csv"):
            assert rows == len(city.rows(name.removesuffix(".csv"))), name
    assert manifest["files"] == city.summary
    assert "time" not in json.dumps(manifest).lower()


def test_coverage_of_each_source(city: City) -> None:
    persons = city.persons.values()
    covered = {s: {city.owner[(s, r["record_id"])] for r in city.rows(s)} for s in SOURCES}
    migrants = [p for p in persons if p["hukou"] == "migrant"]
    locals_ = [p for p in persons if p["hukou"] == "local"]
    assert all(p["person_id"] in covered["police"] for p in locals_)
    unregistered = [p for p in migrants if p["person_id"] not in covered["police"]]
    assert 0.08 <= len(unregistered) / len(migrants) <= 0.12
    assert all(p["police_registered"] == "false" for p in unregistered)
    assert len(covered["ehr"]) / len(city.persons) > 0.8
    children = {p["person_id"] for p in persons if int(p["age"]) <= 14}
    assert covered["immunization"] == children
    poor = {p["person_id"] for p in persons if p["household_status"] != "general"}
    assert covered["poverty"] == poor
    assert all(int(city.persons[p]["age"]) >= 18 for p in covered["survey"])
    assert all(16 <= int(city.persons[p]["age"]) < 65 for p in covered["social_security"])
    insured = {p["person_id"] for p in persons if p["insurance_type"] != "none"}
    assert covered["insurance"] <= insured


def test_values_use_the_documented_codes(city: City) -> None:
    services = {s["code"] for s in yaml.safe_load((city.root / "services.yaml").read_text("utf-8"))}
    occupations = {
        "construction",
        "manufacturing",
        "delivery",
        "ride_hailing",
        "food_service",
        "domestic",
        "agriculture",
        "office",
        "student",
        "child",
        "retired",
        "unemployed",
        "other",
    }
    conditions = {
        "hypertension",
        "diabetes",
        "hyperlipidemia",
        "tb",
        "hepatitis_b",
        "hiv",
        "pneumoconiosis",
        "occupational_noise",
        "depression",
        "anxiety",
        "cancer",
        "stroke",
        "copd",
        "disability",
        "pregnancy",
    }
    statuses = {"extreme_hardship", "min_allowance", "lifted", "monitored", "marginal", "general"}
    assert {r["occupation"] for r in city.rows("police")} <= occupations
    assert {r["hukou"] for r in city.rows("police")} == {"local", "migrant"}
    assert {c for r in city.rows("ehr") for c in r["conditions"].split(";") if c} == conditions
    assert {r["household_status"] for r in city.rows("poverty")} == statuses - {"general"}
    assert {r["insurance_type"] for r in city.rows("insurance")} == {"employee", "resident"}
    assert {r["visit_type"] for r in city.rows("insurance")} == {"outpatient", "inpatient"}
    assert {n for r in city.rows("survey") for n in r["needs"].split(";")} <= services
    assert {r["service_code"] for r in city.rows("service_use")} <= services
    assert {r["kind"] for r in city.rows("readings")} == {"bp", "glucose"}
    assert {r["channel"] for r in city.rows("readings")} == {"clinic", "home_device"}
    ratings = Counter(r["rating"] for r in city.rows("service_use"))
    assert set(ratings) == {"", "1", "2", "3", "4", "5"}


def test_non_source_tables_reference_existing_rows(city: City) -> None:
    ehr_ids = {r["record_id"] for r in city.rows("ehr")}
    providers = {r["provider_id"] for r in city.rows("providers")}
    assert {r["ehr_record_id"] for r in city.rows("readings")} <= ehr_ids
    assert {r["ehr_record_id"] for r in city.rows("service_use")} <= ehr_ids
    assert {r["provider_id"] for r in city.rows("service_use")} <= providers
    codes = {r["facility_code"] for r in city.rows("insurance")} - {""}
    assert codes <= providers
    # Settlements back in the home province have no local facility code.
    remote = [r for r in city.rows("insurance") if r["facility_code"] == ""]
    assert remote and all(r["insured_locally"] == "false" for r in remote)


def test_every_person_with_readings_or_service_use_has_the_condition_or_reason(city: City) -> None:
    owner = {r["record_id"]: city.owner[("ehr", r["record_id"])] for r in city.rows("ehr")}
    for r in city.rows("readings"):
        if r["channel"] == "home_device":
            assert "hypertension" in city.persons[owner[r["ehr_record_id"]]]["conditions"]
    pregnant = [r for r in city.rows("service_use") if r["service_code"] == "prenatal_check"]
    assert pregnant
    assert all(city.persons[owner[r["ehr_record_id"]]]["is_pregnant"] == "true" for r in pregnant)


def test_nothing_happens_before_birth_or_arrival(city: City) -> None:
    def since(person: dict[str, str]) -> str:
        return person["arrival_date"] or person["birth_date"]

    ehr_owner = {r["record_id"]: city.person_of("ehr", r) for r in city.rows("ehr")}
    for r in city.rows("ehr"):
        assert r["last_visit_date"] >= since(ehr_owner[r["record_id"]])
    for r in city.rows("readings"):
        person = ehr_owner[r["ehr_record_id"]]
        # Home monitors may have come along from home; clinic readings happen here.
        if r["channel"] == "clinic":
            assert r["measured_at"][:10] >= since(person), r
    for r in city.rows("service_use"):
        assert r["date"] >= since(ehr_owner[r["ehr_record_id"]])
    for r in city.rows("survey"):
        assert r["survey_date"] >= since(city.person_of("survey", r))
    for r in city.rows("insurance"):
        person = city.person_of("insurance", r)
        assert r["settlement_date"] >= person["birth_date"]
        if r["facility_code"]:
            assert r["settlement_date"] >= since(person)
    for r in city.rows("immunization"):
        birth = city.person_of("immunization", r)["birth_date"]
        assert all(d.rpartition(":")[2] >= birth for d in r["doses"].split("|") if d)
