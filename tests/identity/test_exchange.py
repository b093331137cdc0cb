"""The pure FHIR engine: bundles built here validate, read back the same, and bad ones fail."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.identity.exchange import (
    CONDITION_SYSTEM,
    GLUCOSE_MG_PER_MMOL,
    ICD10,
    LOINC,
    MAX_ENTRIES,
    NODE_SYSTEM,
    PURPOSE_SYSTEM,
    REGION_SYSTEM,
    RESIDENT_ID_SYSTEM,
    BloodPressure,
    ConditionFact,
    ConsentFacts,
    ConsentRequired,
    Dose,
    Glucose,
    InvalidBundle,
    Origin,
    PatientFacts,
    PersonHistory,
    RecordView,
    Settlement,
    build_bundle,
    history_from_records,
    parse_bundle,
    parse_doses,
)
from carematch.identity.exchange_service import check_bundle_consent
from tests.fixtures.factories import make_id

NOW = datetime(2026, 6, 1, 8, 30, tzinfo=UTC)
ORIGIN = Origin("a1b2c3d4e5f60718", "449901", NOW)
PATIENT = PatientFacts(
    name="欧阳娜娜",
    id_number=make_id("449901", date(1990, 1, 5), 22, "F"),
    sex="F",
    birth_date=date(1990, 1, 5),
    phone="13800138000",
    address="江城市白云区幸福路1号3栋502",
    community_code="449901001001",
)
CONSENT = ConsentFacts(
    consent_id="c0ffee",
    purpose="cross_region_continuity",
    status="active",
    grantee_region="440100",
    period_start=NOW - timedelta(days=1),
    period_end=NOW + timedelta(days=90),
    grantee_organization="广州市第一人民医院",
    recorded_at=NOW - timedelta(days=1),
)


def full_history() -> PersonHistory:
    return PersonHistory(
        patient=PATIENT,
        person_ref="P0001",
        conditions=[ConditionFact("hypertension", "ehr/E1"), ConditionFact("tb", "ehr/E1")],
        blood_pressures=[BloodPressure(148, 92, date(2026, 5, 1), "ehr/E1")],
        glucoses=[Glucose(7.8, date(2026, 5, 1), "ehr/E1")],
        doses=[Dose("HepB", date(2025, 1, 10), 1, "immunization/I1")],
        settlements=[
            Settlement(
                settlement_date=date(2026, 3, 1),
                facility="江城市人民医院",
                facility_code="H0001",
                visit_type="inpatient",
                diagnosis="hypertension",
                insurance_type="employee",
                insured_province="44",
                total_cost=5200.0,
                reimbursed=3900.0,
                out_of_pocket=1300.0,
                origin="insurance/S1",
            )
        ],
    )


def resources(bundle: dict, rtype: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


# --- building ----------------------------------------------------------------------------


def test_the_bundle_validates_with_fhir_resources_and_holds_every_resource_type():
    bundle = build_bundle(full_history(), ORIGIN, CONSENT)

    model = Bundle.model_validate(bundle)
    assert model.type == "collection"
    types = [e.resource.__class__.__name__ for e in model.entry]
    assert types == [
        "Patient",
        "Condition",
        "Condition",
        "Observation",
        "Observation",
        "Immunization",
        "ExplanationOfBenefit",
        "Consent",
        "Provenance",
    ]
    assert len({e["fullUrl"] for e in bundle["entry"]}) == len(bundle["entry"])


def test_patient_carries_the_resident_id_name_gender_birth_date_telecom_and_address():
    [patient] = resources(build_bundle(full_history(), ORIGIN, CONSENT), "Patient")
    assert patient["identifier"][0]["system"] == RESIDENT_ID_SYSTEM
    assert patient["identifier"][0]["value"] == PATIENT.id_number
    assert patient["name"][0]["text"] == "欧阳娜娜"
    assert (patient["gender"], patient["birthDate"]) == ("female", "1990-01-05")
    assert patient["telecom"][0] == {"system": "phone", "value": "13800138000", "use": "mobile"}
    assert patient["address"][0]["text"] == PATIENT.address


def test_observations_use_loinc_panels_and_units():
    bp, glucose = resources(build_bundle(full_history(), ORIGIN), "Observation")
    assert bp["code"]["coding"][0] == {
        "system": LOINC,
        "code": "85354-9",
        "display": "Blood pressure panel with all children optional",
    }
    components = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in bp["component"]}
    assert components["8480-6"]["value"] == 148 and components["8462-4"]["value"] == 92
    assert components["8480-6"]["code"] == "mm[Hg]"
    assert glucose["code"]["coding"][0]["code"] == "1558-6"
    assert glucose["valueQuantity"]["code"] == "mg/dL"
    assert glucose["valueQuantity"]["value"] == pytest.approx(7.8 * GLUCOSE_MG_PER_MMOL, abs=0.01)


def test_conditions_immunizations_and_claims_map_to_their_elements():
    bundle = build_bundle(full_history(), ORIGIN)
    hypertension, tb = resources(bundle, "Condition")
    assert hypertension["code"]["coding"] == [
        {"system": CONDITION_SYSTEM, "code": "hypertension", "display": "高血压"},
        {"system": ICD10, "code": "I10"},
    ]
    assert [c["system"] for c in tb["code"]["coding"]] == [CONDITION_SYSTEM], "no ICD-10 guess"
    [imm] = resources(bundle, "Immunization")
    assert imm["vaccineCode"]["text"] == "HepB" and imm["occurrenceDateTime"] == "2025-01-10"
    [eob] = resources(bundle, "ExplanationOfBenefit")
    totals = {t["category"]["coding"][0]["code"]: t["amount"] for t in eob["total"]}
    assert totals == {
        "submitted": {"value": 5200.0, "currency": "CNY"},
        "benefit": {"value": 3900.0, "currency": "CNY"},
        "patient-paid": {"value": 1300.0, "currency": "CNY"},
    }
    assert eob["payment"]["amount"]["value"] == 3900.0
    assert eob["type"]["coding"][0]["code"] == "institutional"


def test_consent_and_provenance_say_who_may_receive_and_where_it_came_from():
    bundle = build_bundle(full_history(), ORIGIN, CONSENT)
    [consent] = resources(bundle, "Consent")
    provision = consent["provision"]
    assert provision["purpose"] == [{"system": PURPOSE_SYSTEM, "code": "cross_region_continuity"}]
    assert provision["actor"][0]["reference"]["identifier"] == {
        "system": REGION_SYSTEM,
        "value": "440100",
    }
    assert consent["status"] == "active"
    [prov] = resources(bundle, "Provenance")
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert [t["reference"] for t in prov["target"]] == urls[:-1]
    consent_url = urls[-2]
    assert prov["policy"] == [consent_url]
    agent = prov["agent"][0]
    assert agent["who"]["identifier"] == {"system": NODE_SYSTEM, "value": ORIGIN.node}
    assert agent["onBehalfOf"]["identifier"]["value"] == "449901"
    assert [e["what"]["identifier"]["value"] for e in prov["entity"]] == [
        "ehr/E1",
        "immunization/I1",
        "insurance/S1",
    ]


def test_resource_ids_depend_on_the_data_not_on_the_bundle():
    one = build_bundle(full_history(), ORIGIN, CONSENT, bundle_id="b1")
    two = build_bundle(full_history(), ORIGIN, CONSENT, bundle_id="b2")
    ids = [[e["resource"]["id"] for e in b["entry"]] for b in (one, two)]
    assert ids[0][:-1] == ids[1][:-1]
    assert ids[0][-1] != ids[1][-1], "each transfer has its own Provenance"


# --- reading back ------------------------------------------------------------------------


def test_parse_reads_back_every_fact_and_the_origin():
    history = full_history()
    parsed = parse_bundle(json.dumps(build_bundle(history, ORIGIN, CONSENT, bundle_id="b1")))
    assert parsed.bundle_id == "b1"
    assert parsed.origin == ORIGIN
    got = parsed.history
    assert got.patient == history.patient
    assert got.conditions == history.conditions
    assert got.blood_pressures == history.blood_pressures
    assert got.glucoses == history.glucoses
    assert got.doses == history.doses
    assert got.settlements == history.settlements
    assert parsed.consents == [CONSENT]
    assert parsed.provenance_records == ["ehr/E1", "immunization/I1", "insurance/S1"]


names = st.text(
    alphabet="王李张刘陈杨黄赵吴周徐孙马朱胡欧阳娜伟芳敏静丽强磊军洋勇艳杰", min_size=1, max_size=6
)
id_numbers = st.builds(
    make_id,
    st.sampled_from(["449901", "110105", "440106", "510104"]),
    st.dates(date(1920, 1, 1), date(2025, 12, 31)),
    st.integers(0, 999),
    st.sampled_from(["M", "F"]),
)
phones = st.one_of(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.from_regex(r"0[0-9]{10}", fullmatch=True),
)
addresses = st.text(alphabet="江城市白云区幸福路号栋单元室0123456789-", min_size=1, max_size=30)
patients = st.builds(
    PatientFacts,
    name=st.none() | names,
    id_number=st.none() | id_numbers,
    sex=st.sampled_from([None, "M", "F"]),
    birth_date=st.none() | st.dates(date(1900, 1, 1), date(2026, 1, 1)),
    phone=st.none() | phones,
    address=st.none() | addresses,
    community_code=st.none() | st.from_regex(r"[0-9]{12}", fullmatch=True),
)


@settings(max_examples=150, deadline=None)
@given(patient=patients)
def test_export_then_parse_round_trips_the_patient(patient):
    history = PersonHistory(patient=patient, person_ref="P1")
    bundle = build_bundle(history, ORIGIN, CONSENT)
    assert parse_bundle(bundle).history.patient == patient


readings = st.builds(
    BloodPressure,
    systolic=st.integers(60, 260),
    diastolic=st.integers(30, 160),
    effective=st.none() | st.dates(date(2000, 1, 1), date(2026, 1, 1)),
    origin=st.just("ehr/E1"),
)
glucoses = st.builds(
    Glucose,
    mmol_per_l=st.integers(5, 400).map(lambda tenths: tenths / 10),
    effective=st.none() | st.dates(date(2000, 1, 1), date(2026, 1, 1)),
    origin=st.just("ehr/E2"),
)
money = st.integers(0, 10_000_000).map(lambda cents: cents / 100)
settlements = st.builds(
    Settlement,
    settlement_date=st.none() | st.dates(date(2020, 1, 1), date(2026, 1, 1)),
    facility=st.none() | st.sampled_from(["江城市人民医院", "四川省人民医院"]),
    facility_code=st.none() | st.sampled_from(["H0001", "H0002"]),
    visit_type=st.none() | st.sampled_from(["outpatient", "inpatient"]),
    diagnosis=st.none() | st.sampled_from(["hypertension", "general", "pregnancy"]),
    insurance_type=st.none() | st.sampled_from(["employee", "resident"]),
    insured_province=st.none() | st.sampled_from(["44", "51"]),
    total_cost=st.none() | money,
    reimbursed=st.none() | money,
    out_of_pocket=st.none() | money,
    origin=st.sampled_from(["insurance/S1", "insurance/S2"]),
)


@settings(max_examples=60, deadline=None)
@given(
    bps=st.lists(readings, max_size=3),
    gls=st.lists(glucoses, max_size=3),
    claims=st.lists(settlements, max_size=3, unique_by=lambda s: (s.origin, s.settlement_date)),
)
def test_export_then_parse_round_trips_readings_and_claims(bps, gls, claims):
    history = PersonHistory(PATIENT, "P1", blood_pressures=bps, glucoses=gls, settlements=claims)
    got = parse_bundle(build_bundle(history, ORIGIN)).history
    assert got.blood_pressures == bps
    assert got.glucoses == gls
    assert got.settlements == claims


# --- history from departmental records --------------------------------------------------


def test_history_takes_health_records_only_and_counts_doses_per_series():
    records = [
        RecordView("police", "P1", {"hukou": "migrant"}, {}),
        RecordView("poverty", "V1", {}, {"household_status": "monitored"}),
        RecordView("exchange", "X1", {}, {"conditions": ["hiv"]}),
        RecordView("ehr", "E1", {"last_visit_date": "2026-05-01"}, {"conditions": ["copd"]}),
        RecordView("ehr", "E2", {}, {"conditions": ["copd", "stroke"], "sbp": 130, "dbp": 80}),
        RecordView(
            "immunization",
            "I1",
            {},
            {"doses": "HepB:2025-01-10|BCG:2025-01-10|HepB:2025-02-10|nonsense"},
        ),
    ]
    history = history_from_records(PATIENT, "P1", records)
    assert history.conditions == [
        ConditionFact("copd", "ehr/E1"),
        ConditionFact("stroke", "ehr/E2"),
    ]
    assert history.blood_pressures == [BloodPressure(130, 80, None, "ehr/E2")]
    assert [(d.series, d.dose_number) for d in history.doses] == [
        ("HepB", 1),
        ("BCG", 1),
        ("HepB", 2),
    ]
    assert history.origin_records == ["ehr/E1", "ehr/E2", "immunization/I1"]


def test_parse_doses_skips_pieces_it_cannot_read():
    assert parse_doses("HepB:2021-03-04| BCG : 2021-03-05 |X:2021-02-30|junk") == [
        ("HepB", date(2021, 3, 4)),
        ("BCG", date(2021, 3, 5)),
    ]


# --- refusals ----------------------------------------------------------------------------


def good_bundle() -> dict:
    return build_bundle(full_history(), ORIGIN, CONSENT)


def without(bundle: dict, rtype: str) -> dict:
    out = copy.deepcopy(bundle)
    out["entry"] = [e for e in out["entry"] if e["resource"]["resourceType"] != rtype]
    return out


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        ({"resourceType": "Patient"}, '"Bundle"'),
        ([1, 2], '"Bundle"'),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {"resourceType": "NoSuchThing"}}],
            },
            "not a valid FHIR R4B Bundle",
        ),
        (
            {"resourceType": "Bundle", "type": "collection", "timestamp": "yesterday"},
            "not a valid FHIR R4B Bundle",
        ),
        (
            {"resourceType": "Bundle", "type": "collection", "entry": [{}] * (MAX_ENTRIES + 1)},
            "at most",
        ),
    ],
)
def test_malformed_payloads_are_invalid_bundles(payload, message):
    with pytest.raises(InvalidBundle, match=message) as refused:
        parse_bundle(payload)
    assert refused.value.status == 422
    assert refused.value.problem()["type"] == "/problems/invalid-bundle"


def test_a_transaction_bundle_is_refused():
    bundle = good_bundle()
    bundle["type"] = "transaction"
    with pytest.raises(InvalidBundle, match="collection"):
        parse_bundle(bundle)


def test_a_bundle_needs_exactly_one_patient_and_a_provenance():
    with pytest.raises(InvalidBundle, match="exactly one Patient, found 0"):
        parse_bundle(without(good_bundle(), "Patient"))
    doubled = good_bundle()
    doubled["entry"].append(copy.deepcopy(doubled["entry"][0]))
    doubled["entry"][-1]["fullUrl"] = "urn:uuid:00000000-0000-0000-0000-000000000001"
    with pytest.raises(InvalidBundle, match="found 2"):
        parse_bundle(doubled)
    with pytest.raises(InvalidBundle, match="no Provenance"):
        parse_bundle(without(good_bundle(), "Provenance"))


def test_a_resource_about_someone_else_is_refused():
    bundle = good_bundle()
    condition = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition")
    condition["resource"]["subject"] = {
        "reference": "urn:uuid:11111111-1111-1111-1111-111111111111"
    }
    with pytest.raises(InvalidBundle, match="not the bundle's Patient"):
        parse_bundle(bundle)


def test_glucose_in_mmol_per_litre_is_read_and_an_unknown_unit_refused():
    bundle = good_bundle()
    glucose = resources(bundle, "Observation")[1]
    glucose["code"]["coding"][0]["code"] = "14771-0"
    glucose["valueQuantity"] = {"value": 6.1, "unit": "mmol/L", "code": "mmol/L"}
    assert parse_bundle(bundle).history.glucoses[0].mmol_per_l == 6.1
    glucose["valueQuantity"] = {"value": 6.1, "unit": "furlongs", "code": "furlongs"}
    with pytest.raises(InvalidBundle, match="unknown unit"):
        parse_bundle(bundle)


def test_other_resource_types_are_ignored_and_reported():
    bundle = good_bundle()
    patient_url = bundle["entry"][0]["fullUrl"]
    bundle["entry"].insert(
        1,
        {
            "fullUrl": "urn:uuid:22222222-2222-2222-2222-222222222222",
            "resource": {
                "resourceType": "Encounter",
                "id": "enc1",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": patient_url},
            },
        },
    )
    parsed = parse_bundle(bundle)
    assert parsed.ignored == ["Encounter/enc1"]
    assert "Encounter" not in {r.resource_type for r in parsed.resources}


# --- the bundle's consent, as the receiver checks it ------------------------------------


def consent_changed(**changes) -> dict:
    terms = {**CONSENT.__dict__, **changes}
    return build_bundle(full_history(), ORIGIN, ConsentFacts(**terms))


def test_a_valid_bundle_consent_is_accepted_inside_its_grantee_and_period():
    parsed = parse_bundle(good_bundle())
    assert check_bundle_consent(parsed, region="440106", at=NOW).consent_id == "c0ffee"
    assert check_bundle_consent(parsed, region=None, at=NOW).consent_id == "c0ffee"


@pytest.mark.parametrize(
    ("bundle", "region", "at", "reason"),
    [
        (build_bundle(full_history(), ORIGIN), None, NOW, "no Consent resource"),
        (consent_changed(status="inactive"), None, NOW, "is inactive"),
        (consent_changed(purpose="research"), None, NOW, "not 'cross_region_continuity'"),
        (consent_changed(), "450100", NOW, "does not cover 450100"),
        (consent_changed(), None, NOW - timedelta(days=2), "starts on"),
        (consent_changed(), None, NOW + timedelta(days=91), "ended on"),
        (consent_changed(period_end=None), None, NOW, "no period"),
        (consent_changed(grantee_region=None), None, NOW, "no grantee region"),
    ],
)
def test_the_receiver_refuses_a_bundle_consent_that_does_not_permit_the_import(
    bundle, region, at, reason
):
    with pytest.raises(ConsentRequired, match=reason) as refused:
        check_bundle_consent(parse_bundle(bundle), region=region, at=at)
    assert refused.value.problem()["status"] == 403


def test_a_consent_ending_on_a_date_holds_through_that_day():
    bundle = good_bundle()
    consent = resources(bundle, "Consent")[0]
    consent["provision"]["period"] = {"start": "2026-05-01", "end": "2026-06-01"}
    parsed = parse_bundle(bundle)
    assert check_bundle_consent(parsed, at=datetime(2026, 6, 1, 23, 59, tzinfo=UTC))
    with pytest.raises(ConsentRequired, match="ended"):
        check_bundle_consent(parsed, at=datetime(2026, 6, 2, 0, 0, 1, tzinfo=UTC))


def test_a_consent_without_a_patient_binds_no_one():
    bundle = good_bundle()
    del resources(bundle, "Consent")[0]["patient"]
    with pytest.raises(ConsentRequired, match="names no patient"):
        check_bundle_consent(parse_bundle(bundle), at=NOW)


def test_a_consent_that_denies_is_not_a_permit():
    bundle = good_bundle()
    resources(bundle, "Consent")[0]["provision"]["type"] = "deny"
    with pytest.raises(ConsentRequired, match="provision type deny"):
        check_bundle_consent(parse_bundle(bundle), at=NOW)
