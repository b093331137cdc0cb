"""Cross-region exchange in FHIR R4B: build a person's Bundle and read one back (跨区域交换).

Pure: plain dataclasses in, a JSON-ready ``dict`` out, and the reverse; no database, no web
framework. Every bundle built here is validated by ``fhir.resources`` before it is returned,
and every bundle read is validated before anything is taken from it. See docs/exchange.md for
the mapping of each field and the consent rules.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, unquote

from fhir.resources.R4B.bundle import Bundle

from carematch.core.errors import Forbidden, InvalidInput

# --- systems: ours are URNs under urn:carematch, so no one else's namespace is claimed -----
RESIDENT_ID_SYSTEM = "urn:carematch:identifier:prc-resident-id"  # 居民身份证号 (GB 11643)
REGION_SYSTEM = "urn:carematch:identifier:region"  # statistical division code (区划代码)
NODE_SYSTEM = "urn:carematch:identifier:node"
BUNDLE_SYSTEM = "urn:carematch:identifier:bundle"
CONSENT_SYSTEM = "urn:carematch:identifier:consent"
PROVIDER_SYSTEM = "urn:carematch:identifier:provider"
INSURANCE_TYPE_SYSTEM = "urn:carematch:identifier:insurance-type"
RECORD_SOURCE_PREFIX = "urn:carematch:record:"  # meta.source of a resource
RECORD_SYSTEM = "urn:carematch:identifier:source-record"  # "source/record_id"
CONDITION_SYSTEM = "urn:carematch:codesystem:condition"
VACCINE_SERIES_SYSTEM = "urn:carematch:codesystem:vaccine-series"
VISIT_TYPE_SYSTEM = "urn:carematch:codesystem:visit-type"
PURPOSE_SYSTEM = "urn:carematch:codesystem:consent-purpose"
ADJUDICATION_SYSTEM = "urn:carematch:codesystem:adjudication"
EXT_COMMUNITY = "urn:carematch:extension:community-code"
EXT_INSURED_PROVINCE = "urn:carematch:extension:insured-province"

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
HL7_ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PROVENANCE_AGENT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"

BP_PANEL, SYSTOLIC, DIASTOLIC = "85354-9", "8480-6", "8462-4"
GLUCOSE_MASS = "1558-6"  # Fasting glucose [Mass/volume] in Serum or Plasma, mg/dL
GLUCOSE_MOLES = "14771-0"  # Fasting glucose [Moles/volume] in Serum or Plasma, mmol/L
# mg/dL per mmol/L of glucose (molar mass 180.156 g/mol): we keep mmol/L, LOINC 1558-6 is mg/dL.
GLUCOSE_MG_PER_MMOL = 18.0156
CURRENCY = "CNY"
MAX_ENTRIES = 5_000

CONDITIONS: dict[str, tuple[str, str | None]] = {
    # our code: (Chinese label, ICD-10 code where one code says the same thing)
    "hypertension": ("高血压", "I10"),
    "diabetes": ("糖尿病", "E14"),
    "hyperlipidemia": ("高脂血症", "E78.5"),
    "tb": ("肺结核", None),
    "hepatitis_b": ("慢性乙型肝炎", "B18.1"),
    "hiv": ("艾滋病", "B24"),
    "pneumoconiosis": ("尘肺病", "J64"),
    "occupational_noise": ("职业性噪声聋", "H83.3"),
    "depression": ("抑郁症", "F32"),
    "anxiety": ("焦虑障碍", "F41"),
    "cancer": ("恶性肿瘤", "C80"),
    "stroke": ("脑卒中", "I64"),
    "copd": ("慢性阻塞性肺疾病", "J44"),
    "disability": ("残疾", None),
    "pregnancy": ("妊娠", "Z33"),
}
_ICD_TO_CONDITION = {icd: code for code, (_, icd) in CONDITIONS.items() if icd}
_GENDER = {"M": "male", "F": "female"}
_SEX = {"male": "M", "female": "F"}
_DOSE_PIECE = re.compile(r"^\s*([^:|]+?)\s*:\s*(\d{4}-\d{2}-\d{2})\s*$")


class InvalidBundle(InvalidInput):
    """The payload is not a FHIR R4B Bundle this node can read (malformed payload: 422)."""

    status = 422
    type = "/problems/invalid-bundle"
    title = "Invalid FHIR bundle"


class ConsentRequired(Forbidden):
    """No valid consent permits this transfer (export or import)."""

    type = "/problems/consent-required"
    title = "Consent required"


# --- what goes in ------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientFacts:
    """The golden record's identity fields, as the Patient resource carries them."""

    name: str | None = None
    id_number: str | None = None
    sex: str | None = None
    birth_date: date | None = None
    phone: str | None = None
    address: str | None = None
    community_code: str | None = None


@dataclass(frozen=True)
class ConditionFact:
    """A diagnosed condition (诊断) by our condition code; ``origin`` is "source/record_id"."""

    code: str
    origin: str | None = None


@dataclass(frozen=True)
class BloodPressure:
    """The latest blood pressure of a record, mmHg."""

    systolic: int
    diastolic: int
    effective: date | None = None
    origin: str | None = None


@dataclass(frozen=True)
class Glucose:
    """The latest fasting glucose of a record, mmol/L."""

    mmol_per_l: float
    effective: date | None = None
    origin: str | None = None


@dataclass(frozen=True)
class Dose:
    """One vaccine dose given (接种记录): the series code, the day and its place in the series."""

    series: str
    given: date | None
    dose_number: int = 1
    origin: str | None = None


@dataclass(frozen=True)
class Settlement:
    """One medical-insurance settlement (医保结算): amounts in yuan."""

    settlement_date: date | None = None
    facility: str | None = None
    facility_code: str | None = None
    visit_type: str | None = None
    diagnosis: str | None = None
    insurance_type: str | None = None
    insured_province: str | None = None
    total_cost: float | None = None
    reimbursed: float | None = None
    out_of_pocket: float | None = None
    origin: str | None = None


@dataclass(frozen=True)
class ConsentFacts:
    """A consent as the bundle carries it; periods are aware UTC datetimes."""

    consent_id: str
    purpose: str
    status: str
    grantee_region: str | None
    period_start: datetime | None
    period_end: datetime | None
    grantee_organization: str | None = None
    recorded_at: datetime | None = None
    for_bundle_patient: bool = True


@dataclass(frozen=True)
class Origin:
    """Where and when a bundle was made: the exporting node, its region, the export time."""

    node: str
    region: str | None
    exported_at: datetime


@dataclass
class PersonHistory:
    """A person's identity and the history that travels with it."""

    patient: PatientFacts
    person_ref: str
    conditions: list[ConditionFact] = field(default_factory=list)
    blood_pressures: list[BloodPressure] = field(default_factory=list)
    glucoses: list[Glucose] = field(default_factory=list)
    doses: list[Dose] = field(default_factory=list)
    settlements: list[Settlement] = field(default_factory=list)

    @property
    def origin_records(self) -> list[str]:
        """Every source record the history came from, once each, in order."""
        seen: dict[str, None] = {}
        items: Iterable[Any] = (
            *self.conditions,
            *self.blood_pressures,
            *self.glucoses,
            *self.doses,
            *self.settlements,
        )
        for item in items:
            if item.origin:
                seen.setdefault(item.origin, None)
        return list(seen)


@dataclass(frozen=True)
class RecordView:
    """A source record as the exporter reads it: its source, id and parsed JSON columns."""

    source: str
    record_id: str
    attributes: Mapping[str, Any]
    sensitive: Mapping[str, Any]


# --- from source records to a history ----------------------------------------------------


def history_from_records(
    patient: PatientFacts, person_ref: str, records: Iterable[RecordView]
) -> PersonHistory:
    """Gather what crosses regions from a person's departmental records.

    Only health data serves continuity of care: EHR conditions and latest readings,
    immunization doses and insurance settlements. Police, social-security, poverty and survey
    records stay home (minimum necessary), and so do records that came in by exchange: their
    own origin, not this node, must send them on.
    """
    history = PersonHistory(patient=patient, person_ref=person_ref)
    conditions_seen: set[str] = set()
    settlements_seen: set[tuple[Any, ...]] = set()
    series_count: dict[str, int] = {}
    for record in records:
        origin = f"{record.source}/{record.record_id}"
        attrs, sens = record.attributes, record.sensitive
        if record.source == "ehr":
            for code in sens.get("conditions") or []:
                if code not in conditions_seen:
                    conditions_seen.add(code)
                    history.conditions.append(ConditionFact(code, origin))
            visit = _date(attrs.get("last_visit_date"))
            if sens.get("sbp") is not None and sens.get("dbp") is not None:
                history.blood_pressures.append(
                    BloodPressure(int(sens["sbp"]), int(sens["dbp"]), visit, origin)
                )
            if sens.get("glucose") is not None:
                history.glucoses.append(Glucose(float(sens["glucose"]), visit, origin))
        elif record.source == "immunization":
            for series, given in parse_doses(sens.get("doses") or ""):
                series_count[series] = series_count.get(series, 0) + 1
                history.doses.append(Dose(series, given, series_count[series], origin))
        elif record.source == "insurance":
            settlement = Settlement(
                settlement_date=_date(attrs.get("settlement_date")),
                facility=attrs.get("facility"),
                facility_code=attrs.get("facility_code"),
                visit_type=attrs.get("visit_type"),
                diagnosis=sens.get("diagnosis"),
                insurance_type=attrs.get("insurance_type"),
                insured_province=attrs.get("insured_province"),
                total_cost=_float(sens.get("total_cost")),
                reimbursed=_float(sens.get("reimbursed")),
                out_of_pocket=_float(sens.get("out_of_pocket")),
                origin=origin,
            )
            # Insurers double-submit settlements under a new record_id (see the data
            # dictionary); sending both would double the person's spending at the destination.
            key = (
                settlement.settlement_date,
                settlement.facility,
                settlement.total_cost,
                settlement.reimbursed,
                settlement.out_of_pocket,
                settlement.diagnosis,
            )
            if key not in settlements_seen:
                settlements_seen.add(key)
                history.settlements.append(settlement)
    return history


def parse_doses(text: str) -> list[tuple[str, date]]:
    """``HepB:2021-03-04|BCG:2021-03-04`` → [("HepB", date), ("BCG", date)]; bad pieces skipped."""
    doses = []
    for piece in text.split("|"):
        match = _DOSE_PIECE.match(piece)
        if not match:
            continue
        given = _date(match.group(2))
        if given is not None:
            doses.append((match.group(1), given))
    return doses


# --- building a bundle -------------------------------------------------------------------


def build_bundle(
    history: PersonHistory,
    origin: Origin,
    consent: ConsentFacts | None = None,
    *,
    bundle_id: str | None = None,
) -> dict[str, Any]:
    """A FHIR R4B ``collection`` Bundle of the person's history, validated, as a JSON dict.

    Resource ids are derived from the origin node and the source records, so exporting the
    same data twice yields the same resources and the receiver stores them once. The Consent
    (when given) is the one that authorised this export; the Provenance names the origin node
    and region, the time and every source record, and points at that Consent as its policy.
    """
    bundle_id = bundle_id or uuid.uuid4().hex
    builder = _Builder(origin)
    patient_url = builder.add("Patient", _rid("pat", history.person_ref), _patient(history))
    for condition in history.conditions:
        builder.add(
            "Condition",
            _rid("cond", condition.origin or "", condition.code),
            _condition(condition, patient_url),
            condition.origin,
        )
    for bp in history.blood_pressures:
        builder.add(
            "Observation",
            _rid("bp", bp.origin or "", str(bp.effective)),
            _blood_pressure(bp, patient_url),
            bp.origin,
        )
    for glucose in history.glucoses:
        builder.add(
            "Observation",
            _rid("glu", glucose.origin or "", str(glucose.effective)),
            _glucose(glucose, patient_url),
            glucose.origin,
        )
    for dose in history.doses:
        builder.add(
            "Immunization",
            _rid("imm", dose.origin or "", dose.series, str(dose.given), str(dose.dose_number)),
            _immunization(dose, patient_url),
            dose.origin,
        )
    for settlement in history.settlements:
        builder.add(
            "ExplanationOfBenefit",
            _rid("eob", settlement.origin or "", str(settlement.settlement_date)),
            _explanation_of_benefit(settlement, patient_url, origin),
            settlement.origin,
        )
    consent_url = None
    if consent is not None:
        consent_url = builder.add(
            "Consent", "consent-" + _safe_id(consent.consent_id), _consent(consent, patient_url)
        )
    builder.add(
        "Provenance",
        "prov-" + _safe_id(bundle_id),
        _provenance(builder.urls(), origin, history.origin_records, consent_url),
    )
    stamp = _instant(origin.exported_at)
    bundle = {
        "resourceType": "Bundle",
        "id": _safe_id(bundle_id),
        "meta": {"lastUpdated": stamp},
        "identifier": {"system": BUNDLE_SYSTEM, "value": bundle_id},
        "type": "collection",
        "timestamp": stamp,
        "entry": builder.entries,
    }
    # Validate what we send: a bundle the receiver cannot read is worse than an error here.
    return _validated(bundle)


class _Builder:
    """Collects entries, giving each resource a stable urn:uuid full URL."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.entries: list[dict[str, Any]] = []

    def add(self, rtype: str, rid: str, resource: dict[str, Any], origin: str | None = None) -> str:
        url = "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.origin.node}/{rtype}/{rid}"))
        body: dict[str, Any] = {"resourceType": rtype, "id": rid}
        if origin:
            # meta.source says where a resource comes from: here, the departmental record.
            body["meta"] = {"source": RECORD_SOURCE_PREFIX + _quote_record(origin)}
        body.update(resource)
        self.entries.append({"fullUrl": url, "resource": body})
        return url

    def urls(self) -> list[str]:
        return [e["fullUrl"] for e in self.entries]


def _patient(history: PersonHistory) -> dict[str, Any]:
    p = history.patient
    out: dict[str, Any] = {}
    if p.id_number:
        out["identifier"] = [
            {
                "use": "official",
                "type": {
                    "coding": [
                        {
                            "system": V2_IDENTIFIER_TYPE,
                            "code": "NI",
                            "display": "National unique individual identifier",
                        }
                    ],
                    "text": "居民身份证号",
                },
                "system": RESIDENT_ID_SYSTEM,
                "value": p.id_number,
            }
        ]
    if p.name:
        out["name"] = [{"use": "official", "text": p.name}]
    if p.phone:
        use = "mobile" if re.fullmatch(r"1\d{10}", p.phone) else "home"
        out["telecom"] = [{"system": "phone", "value": p.phone, "use": use}]
    if p.sex in _GENDER:
        out["gender"] = _GENDER[p.sex]
    if p.birth_date:
        out["birthDate"] = p.birth_date.isoformat()
    if p.address or p.community_code:
        address: dict[str, Any] = {"use": "home"}
        if p.address:
            address["text"] = p.address
        if p.community_code:
            address["extension"] = [{"url": EXT_COMMUNITY, "valueString": p.community_code}]
        out["address"] = [address]
    return out


def _codeable(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _condition(condition: ConditionFact, patient_url: str) -> dict[str, Any]:
    label, icd = CONDITIONS.get(condition.code, (None, None))
    codings: list[dict[str, Any]] = [{"system": CONDITION_SYSTEM, "code": condition.code}]
    if label:
        codings[0]["display"] = label
    if icd:
        codings.append({"system": ICD10, "code": icd})
    return {
        "clinicalStatus": _codeable(CONDITION_CLINICAL, "active"),
        "verificationStatus": _codeable(CONDITION_VERIFICATION, "confirmed"),
        "category": [_codeable(CONDITION_CATEGORY, "problem-list-item")],
        "code": {"coding": codings, "text": label or condition.code},
        "subject": {"reference": patient_url},
    }


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _blood_pressure(bp: BloodPressure, patient_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": "final",
        "category": [_codeable(OBSERVATION_CATEGORY, "vital-signs")],
        "code": {
            "coding": [
                {
                    "system": LOINC,
                    "code": BP_PANEL,
                    "display": "Blood pressure panel with all children optional",
                }
            ],
            "text": "血压",
        },
        "subject": {"reference": patient_url},
        "component": [
            {
                "code": _codeable(LOINC, SYSTOLIC, "Systolic blood pressure"),
                "valueQuantity": _quantity(bp.systolic, "mmHg", "mm[Hg]"),
            },
            {
                "code": _codeable(LOINC, DIASTOLIC, "Diastolic blood pressure"),
                "valueQuantity": _quantity(bp.diastolic, "mmHg", "mm[Hg]"),
            },
        ],
    }
    if bp.effective:
        out["effectiveDateTime"] = bp.effective.isoformat()
    return out


def _glucose(glucose: Glucose, patient_url: str) -> dict[str, Any]:
    # LOINC 1558-6 is a mass concentration: convert, with enough decimals to come back exact.
    mg_per_dl = round(glucose.mmol_per_l * GLUCOSE_MG_PER_MMOL, 2)
    out: dict[str, Any] = {
        "status": "final",
        "category": [_codeable(OBSERVATION_CATEGORY, "laboratory")],
        "code": {
            "coding": [
                {
                    "system": LOINC,
                    "code": GLUCOSE_MASS,
                    "display": "Fasting glucose [Mass/volume] in Serum or Plasma",
                }
            ],
            "text": "空腹血糖",
        },
        "subject": {"reference": patient_url},
        "valueQuantity": _quantity(mg_per_dl, "mg/dL", "mg/dL"),
    }
    if glucose.effective:
        out["effectiveDateTime"] = glucose.effective.isoformat()
    return out


def _immunization(dose: Dose, patient_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": "completed",
        "vaccineCode": {
            "coding": [{"system": VACCINE_SERIES_SYSTEM, "code": dose.series}],
            "text": dose.series,
        },
        "patient": {"reference": patient_url},
        "protocolApplied": [{"series": dose.series, "doseNumberPositiveInt": dose.dose_number}],
    }
    if dose.given:
        out["occurrenceDateTime"] = dose.given.isoformat()
    else:
        out["occurrenceString"] = "unknown"
    return out


def _money(value: float) -> dict[str, Any]:
    return {"value": value, "currency": CURRENCY}


def _explanation_of_benefit(s: Settlement, patient_url: str, origin: Origin) -> dict[str, Any]:
    claim_type = "institutional" if s.visit_type == "inpatient" else "professional"
    # ``created`` is required: without a settlement date, the export time stands in for it and
    # billablePeriod (absent) says the date is unknown.
    created = s.settlement_date.isoformat() if s.settlement_date else _instant(origin.exported_at)
    provider: dict[str, Any] = {"display": s.facility or "unknown"}
    if s.facility_code:
        provider["identifier"] = {"system": PROVIDER_SYSTEM, "value": s.facility_code}
    coverage: dict[str, Any] = {"display": s.insurance_type or "unknown"}
    if s.insurance_type:
        coverage["identifier"] = {"system": INSURANCE_TYPE_SYSTEM, "value": s.insurance_type}
    out: dict[str, Any] = {
        "status": "active",
        "type": _codeable(CLAIM_TYPE, claim_type),
        "use": "claim",
        "patient": {"reference": patient_url},
        "created": created,
        "insurer": {"display": "医保基金 (medical insurance fund)"},
        "provider": provider,
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": coverage}],
    }
    if s.insured_province:
        out["extension"] = [{"url": EXT_INSURED_PROVINCE, "valueString": s.insured_province}]
    if s.visit_type:
        out["subType"] = _codeable(VISIT_TYPE_SYSTEM, s.visit_type)
    if s.settlement_date:
        day = s.settlement_date.isoformat()
        out["billablePeriod"] = {"start": day, "end": day}
    if s.diagnosis:
        out["diagnosis"] = [
            {
                "sequence": 1,
                "diagnosisCodeableConcept": {
                    "coding": [{"system": CONDITION_SYSTEM, "code": s.diagnosis}],
                    "text": CONDITIONS.get(s.diagnosis, (s.diagnosis, None))[0],
                },
            }
        ]
    totals = []
    if s.total_cost is not None:
        totals.append(
            {"category": _codeable(HL7_ADJUDICATION, "submitted"), "amount": _money(s.total_cost)}
        )
    if s.reimbursed is not None:
        totals.append(
            {"category": _codeable(HL7_ADJUDICATION, "benefit"), "amount": _money(s.reimbursed)}
        )
    if s.out_of_pocket is not None:
        # R4B has no "paid by patient" adjudication code (R5 added one): ours, with the text.
        totals.append(
            {
                "category": {
                    **_codeable(ADJUDICATION_SYSTEM, "patient-paid", "个人自付"),
                    "text": "paid by the patient",
                },
                "amount": _money(s.out_of_pocket),
            }
        )
    if totals:
        out["total"] = totals
    if s.reimbursed is not None:
        out["payment"] = {"amount": _money(s.reimbursed)}
    return out


def _consent(c: ConsentFacts, patient_url: str) -> dict[str, Any]:
    actor_ref: dict[str, Any] = {}
    if c.grantee_region:
        actor_ref["identifier"] = {"system": REGION_SYSTEM, "value": c.grantee_region}
    if c.grantee_organization:
        actor_ref["display"] = c.grantee_organization
    provision: dict[str, Any] = {
        "type": "permit",
        "purpose": [{"system": PURPOSE_SYSTEM, "code": c.purpose}],
    }
    period: dict[str, str] = {}
    if c.period_start:
        period["start"] = _instant(c.period_start)
    if c.period_end:
        period["end"] = _instant(c.period_end)
    if period:
        provision["period"] = period
    if actor_ref:
        provision["actor"] = [
            {
                "role": _codeable(PARTICIPATION_TYPE, "IRCP", "information recipient"),
                "reference": actor_ref,
            }
        ]
    out: dict[str, Any] = {
        "identifier": [{"system": CONSENT_SYSTEM, "value": c.consent_id}],
        "status": c.status,
        "scope": _codeable(CONSENT_SCOPE, "patient-privacy"),
        "category": [_codeable(LOINC, "59284-0", "Patient Consent")],
        "patient": {"reference": patient_url},
        "policyRule": _codeable(ACT_CODE, "OPTIN"),
        "provision": provision,
    }
    if c.recorded_at:
        out["dateTime"] = _instant(c.recorded_at)
    return out


def _provenance(
    targets: list[str], origin: Origin, records: list[str], consent_url: str | None
) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": _codeable(PROVENANCE_AGENT_TYPE, "author"),
        "who": {"identifier": {"system": NODE_SYSTEM, "value": origin.node}},
    }
    if origin.region:
        agent["onBehalfOf"] = {"identifier": {"system": REGION_SYSTEM, "value": origin.region}}
    out: dict[str, Any] = {
        "target": [{"reference": url} for url in targets],
        "recorded": _instant(origin.exported_at),
        "agent": [agent],
    }
    if records:
        out["entity"] = [
            {"role": "source", "what": {"identifier": {"system": RECORD_SYSTEM, "value": record}}}
            for record in records
        ]
    if consent_url:
        out["policy"] = [consent_url]
    return out


# --- reading a bundle --------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedResource:
    """One resource of a bundle, ready to be stored as a source record.

    ``attributes`` are plain facts kept in clear (kind, origin, dates); ``sensitive`` holds the
    health data (encrypted at rest), under the column names the departmental sources use.
    """

    kind: str
    resource_type: str
    resource_id: str
    resource: dict[str, Any]
    origin_record: str | None
    attributes: dict[str, Any]
    sensitive: dict[str, Any]


@dataclass
class ParsedBundle:
    """What a bundle says: its id, origin, patient, history, consents and stored resources."""

    bundle_id: str
    origin: Origin
    history: PersonHistory
    consents: list[ConsentFacts]
    resources: list[ImportedResource]
    provenance_records: list[str]
    ignored: list[str]


def parse_bundle(payload: Any) -> ParsedBundle:
    """Validate a FHIR R4B Bundle (dict, JSON text or bytes) and read the person's history.

    Raises InvalidBundle for anything this node cannot trust to be one person's record:
    malformed JSON or FHIR, another bundle type, no or several Patients, no Provenance naming
    the origin node, or a resource about someone else. Consent is checked by the caller.
    """
    data = _load(payload)
    bundle = _validated(data)
    btype = bundle.get("type")
    if btype not in ("collection", "document"):
        raise InvalidBundle(f"bundle type {btype!r} is not accepted: send a collection")
    bundle_id = (bundle.get("identifier") or {}).get("value") or bundle.get("id")
    if not bundle_id:
        raise InvalidBundle("the bundle has neither an id nor an identifier")
    entries = bundle.get("entry") or []
    by_type: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for index, entry in enumerate(entries):
        resource = entry.get("resource")
        if not resource:
            raise InvalidBundle(f"entry {index} has no resource")
        url = entry.get("fullUrl") or f"{resource['resourceType']}/{resource.get('id', index)}"
        by_type.setdefault(resource["resourceType"], []).append((url, resource))
    patients = by_type.get("Patient", [])
    if len(patients) != 1:
        raise InvalidBundle(f"a bundle must carry exactly one Patient, found {len(patients)}")
    patient_url, patient = patients[0]
    patient_refs = {patient_url}
    if patient.get("id"):
        patient_refs.add(f"Patient/{patient['id']}")
    origin, provenance_records = _origin(by_type.get("Provenance", []))
    history = PersonHistory(patient=_patient_facts(patient), person_ref=patient.get("id") or "")
    common = {
        "origin_node": origin.node,
        "origin_region": origin.region,
        "bundle_id": bundle_id,
        "exported_at": _instant(origin.exported_at),
    }
    resources = [_imported("patient", patient, common, {}, {})]
    consents: list[ConsentFacts] = []
    ignored: list[str] = []
    for rtype, items in by_type.items():
        for _url, resource in items:
            if rtype == "Patient":
                continue
            subject = _subject(resource)
            if rtype != "Provenance" and subject is not None and subject not in patient_refs:
                raise InvalidBundle(
                    f"{rtype}/{resource.get('id')} is about {subject}, not the bundle's Patient"
                )
            reader = _READERS.get(rtype)
            if reader is None:
                ignored.append(f"{rtype}/{resource.get('id', '?')}")
                continue
            resources.extend(reader(resource, history, consents, common, subject is not None))
    return ParsedBundle(
        bundle_id=bundle_id,
        origin=origin,
        history=history,
        consents=consents,
        resources=resources,
        provenance_records=provenance_records,
        ignored=ignored,
    )


def _load(payload: Any) -> dict[str, Any]:
    if isinstance(payload, bytes | bytearray):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidBundle("the bundle is not UTF-8 text") from None
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise InvalidBundle(f"the bundle is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(payload, dict) or payload.get("resourceType") != "Bundle":
        raise InvalidBundle('expected a FHIR resource with "resourceType": "Bundle"')
    entries = payload.get("entry")
    if isinstance(entries, list) and len(entries) > MAX_ENTRIES:
        raise InvalidBundle(f"the bundle has {len(entries)} entries; at most {MAX_ENTRIES}")
    return payload


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    """Validate with fhir.resources (R4B); return the normalised JSON form."""
    try:
        model = Bundle.model_validate(data)
    # fhir.resources raises pydantic's ValidationError for bad fields but KeyError, TypeError
    # or ValueError for some shapes (an unknown resourceType): every one means "not valid".
    except Exception as exc:
        raise InvalidBundle(f"not a valid FHIR R4B Bundle: {_first_line(exc)}") from None
    result: dict[str, Any] = json.loads(model.model_dump_json())
    return result


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    if hasattr(exc, "errors"):
        try:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            return f"{where}: {first.get('msg', '')}"[:300]
        except Exception:
            pass
    if isinstance(exc, KeyError):
        return f"unknown element {text}"
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _subject(resource: dict[str, Any]) -> str | None:
    for key in ("subject", "patient"):
        ref = resource.get(key)
        if isinstance(ref, dict):
            return str(ref.get("reference") or "")
    return None


def _origin(provenances: list[tuple[str, dict[str, Any]]]) -> tuple[Origin, list[str]]:
    for _url, prov in provenances:
        for agent in prov.get("agent") or []:
            node = _identifier(agent.get("who"), NODE_SYSTEM)
            if node:
                region = _identifier(agent.get("onBehalfOf"), REGION_SYSTEM)
                recorded = _moment(prov.get("recorded"))
                if recorded is None:
                    raise InvalidBundle("the Provenance has no recorded time")
                records = [
                    value
                    for e in prov.get("entity") or []
                    if (value := _identifier(e.get("what"), RECORD_SYSTEM))
                ]
                return Origin(node, region, recorded), records
    raise InvalidBundle("the bundle has no Provenance naming its origin node")


def _identifier(ref: Any, system: str) -> str | None:
    if not isinstance(ref, dict):
        return None
    ident = ref.get("identifier")
    if isinstance(ident, dict) and ident.get("system") == system and ident.get("value"):
        return str(ident["value"])
    return None


def _patient_facts(patient: dict[str, Any]) -> PatientFacts:
    id_number = next(
        (
            i["value"]
            for i in patient.get("identifier") or []
            if i.get("system") == RESIDENT_ID_SYSTEM and i.get("value")
        ),
        None,
    )
    name = next((n.get("text") for n in patient.get("name") or [] if n.get("text")), None)
    if name is None:
        for n in patient.get("name") or []:
            parts = [n.get("family") or "", *(n.get("given") or [])]
            if any(parts):
                name = "".join(parts)
                break
    phone = next(
        (t["value"] for t in patient.get("telecom") or [] if t.get("system") == "phone"), None
    )
    address = None
    community = None
    for a in patient.get("address") or []:
        address = a.get("text")
        for ext in a.get("extension") or []:
            if ext.get("url") == EXT_COMMUNITY:
                community = ext.get("valueString")
        break
    return PatientFacts(
        name=name,
        id_number=id_number,
        sex=_SEX.get(patient.get("gender") or ""),
        birth_date=_date(patient.get("birthDate")),
        phone=phone,
        address=address,
        community_code=community,
    )


def _imported(
    kind: str,
    resource: dict[str, Any],
    common: dict[str, Any],
    attributes: dict[str, Any],
    sensitive: dict[str, Any],
) -> ImportedResource:
    origin_record = _origin_record(resource)
    attrs = {
        "kind": kind,
        "resource_type": resource["resourceType"],
        "resource_id": resource.get("id"),
        "origin_record": origin_record,
        **common,
        **attributes,
    }
    return ImportedResource(
        kind=kind,
        resource_type=resource["resourceType"],
        resource_id=str(resource.get("id") or _content_id(resource)),
        resource=resource,
        origin_record=origin_record,
        attributes={k: v for k, v in attrs.items() if v is not None},
        sensitive={k: v for k, v in sensitive.items() if v is not None},
    )


def _origin_record(resource: dict[str, Any]) -> str | None:
    """The departmental record ("source/record_id") a resource says it comes from."""
    source = (resource.get("meta") or {}).get("source") or ""
    if not source.startswith(RECORD_SOURCE_PREFIX):
        return None
    return unquote(source[len(RECORD_SOURCE_PREFIX) :])


# (resource, history to extend, consents found, provenance common to all, has a subject)
Reader = Callable[
    [dict[str, Any], PersonHistory, list[ConsentFacts], dict[str, Any], bool],
    list[ImportedResource],
]


def _read_condition(
    r: dict[str, Any], h: PersonHistory, c: list[ConsentFacts], common: dict[str, Any], _: bool
) -> list[ImportedResource]:
    code = _code_in(r.get("code"), CONDITION_SYSTEM)
    if code is None:
        icd = _code_in(r.get("code"), ICD10)
        code = _ICD_TO_CONDITION.get(icd or "") or icd or (r.get("code") or {}).get("text")
    if not code:
        raise InvalidBundle(f"Condition/{r.get('id')} has no code")
    item = _imported("condition", r, common, {}, {"conditions": [code]})
    h.conditions.append(ConditionFact(code, item.origin_record))
    return [item]


def _read_observation(
    r: dict[str, Any], h: PersonHistory, c: list[ConsentFacts], common: dict[str, Any], _: bool
) -> list[ImportedResource]:
    effective = _date(r.get("effectiveDateTime"))
    attrs = {"effective_date": effective.isoformat() if effective else None}
    if _code_in(r.get("code"), LOINC) == BP_PANEL:
        values = {
            _code_in(comp.get("code"), LOINC): (comp.get("valueQuantity") or {}).get("value")
            for comp in r.get("component") or []
        }
        sbp, dbp = values.get(SYSTOLIC), values.get(DIASTOLIC)
        if sbp is None or dbp is None:
            raise InvalidBundle(f"Observation/{r.get('id')} lacks a systolic or diastolic value")
        item = _imported("blood_pressure", r, common, attrs, {"sbp": round(sbp), "dbp": round(dbp)})
        h.blood_pressures.append(
            BloodPressure(round(sbp), round(dbp), effective, item.origin_record)
        )
        return [item]
    code = _code_in(r.get("code"), LOINC)
    quantity = r.get("valueQuantity") or {}
    if code in (GLUCOSE_MASS, GLUCOSE_MOLES) and quantity.get("value") is not None:
        unit = quantity.get("code") or quantity.get("unit")
        value = float(quantity["value"])
        if unit == "mg/dL":
            mmol = round(value / GLUCOSE_MG_PER_MMOL, 2)
        elif unit in ("mmol/L", "mmol/l"):
            mmol = round(value, 2)
        else:
            raise InvalidBundle(f"Observation/{r.get('id')}: glucose in unknown unit {unit!r}")
        item = _imported("glucose", r, common, attrs, {"glucose": mmol})
        h.glucoses.append(Glucose(mmol, effective, item.origin_record))
        return [item]
    # Another observation: kept verbatim (it is the origin's history) but not interpreted.
    return [_imported("observation", r, common, attrs, {"resource": r})]


def _read_immunization(
    r: dict[str, Any], h: PersonHistory, c: list[ConsentFacts], common: dict[str, Any], _: bool
) -> list[ImportedResource]:
    vaccine = r.get("vaccineCode") or {}
    series = _code_in(vaccine, VACCINE_SERIES_SYSTEM) or vaccine.get("text")
    if not series:
        raise InvalidBundle(f"Immunization/{r.get('id')} has no vaccine code")
    given = _date(r.get("occurrenceDateTime"))
    protocol = (r.get("protocolApplied") or [{}])[0]
    number = protocol.get("doseNumberPositiveInt") or 1
    doses = f"{series}:{given.isoformat()}" if given else None
    item = _imported(
        "immunization",
        r,
        common,
        {},
        {"series": series, "doses": doses, "dose_number": number, "date": _iso(given)},
    )
    h.doses.append(Dose(series, given, int(number), item.origin_record))
    return [item]


def _read_eob(
    r: dict[str, Any], h: PersonHistory, c: list[ConsentFacts], common: dict[str, Any], _: bool
) -> list[ImportedResource]:
    totals: dict[str, float] = {}
    for total in r.get("total") or []:
        category = total.get("category")
        code = _code_in(category, HL7_ADJUDICATION) or _code_in(category, ADJUDICATION_SYSTEM)
        amount = (total.get("amount") or {}).get("value")
        if code and amount is not None:
            totals[code] = float(amount)
    payment = ((r.get("payment") or {}).get("amount") or {}).get("value")
    provider = r.get("provider") or {}
    coverage = ((r.get("insurance") or [{}])[0]).get("coverage") or {}
    diagnosis = None
    for d in r.get("diagnosis") or []:
        concept = d.get("diagnosisCodeableConcept")
        diagnosis = _code_in(concept, CONDITION_SYSTEM) or (concept or {}).get("text")
        break
    province = next(
        (
            e.get("valueString")
            for e in r.get("extension") or []
            if e.get("url") == EXT_INSURED_PROVINCE
        ),
        None,
    )
    settlement = Settlement(
        settlement_date=_date((r.get("billablePeriod") or {}).get("start")),
        facility=provider.get("display") if provider.get("display") != "unknown" else None,
        facility_code=_identifier(provider, PROVIDER_SYSTEM),
        visit_type=_code_in(r.get("subType"), VISIT_TYPE_SYSTEM),
        diagnosis=diagnosis,
        insurance_type=_identifier(coverage, INSURANCE_TYPE_SYSTEM),
        insured_province=province,
        total_cost=totals.get("submitted"),
        reimbursed=totals.get("benefit", float(payment) if payment is not None else None),
        out_of_pocket=totals.get("patient-paid"),
        origin=_origin_record(r),
    )
    item = _imported(
        "claim",
        r,
        common,
        {
            "settlement_date": _iso(settlement.settlement_date),
            "facility": settlement.facility,
            "facility_code": settlement.facility_code,
            "visit_type": settlement.visit_type,
            "insurance_type": settlement.insurance_type,
            "insured_province": settlement.insured_province,
        },
        {
            "diagnosis": settlement.diagnosis,
            "total_cost": settlement.total_cost,
            "reimbursed": settlement.reimbursed,
            "out_of_pocket": settlement.out_of_pocket,
        },
    )
    h.settlements.append(settlement)
    return [item]


def _read_consent(
    r: dict[str, Any],
    h: PersonHistory,
    c: list[ConsentFacts],
    common: dict[str, Any],
    has_subject: bool,
) -> list[ImportedResource]:
    provision = r.get("provision") or {}
    purposes = [
        p.get("code") for p in provision.get("purpose") or [] if p.get("system") == PURPOSE_SYSTEM
    ]
    region = organization = None
    for actor in provision.get("actor") or []:
        if _code_in(actor.get("role"), PARTICIPATION_TYPE) == "IRCP":
            region = _identifier(actor.get("reference"), REGION_SYSTEM)
            organization = (actor.get("reference") or {}).get("display")
            break
    period = provision.get("period") or {}
    consent_id = next(
        (
            i["value"]
            for i in r.get("identifier") or []
            if i.get("system") == CONSENT_SYSTEM and i.get("value")
        ),
        str(r.get("id") or ""),
    )
    # A consent must say whom it is about: one without a patient binds no one.
    status = r.get("status") or ""
    if provision.get("type", "permit") != "permit":
        status = f"{status} (provision type {provision.get('type')})"
    facts = ConsentFacts(
        consent_id=consent_id,
        purpose=purposes[0] if purposes else "",
        status=status,
        grantee_region=region,
        period_start=_moment(period.get("start")),
        period_end=_moment(period.get("end"), end_of_day=True),
        grantee_organization=organization,
        recorded_at=_moment(r.get("dateTime")),
        for_bundle_patient=has_subject,
    )
    c.append(facts)
    item = _imported(
        "consent",
        r,
        common,
        {
            "consent_id": facts.consent_id,
            "purpose": facts.purpose,
            "status": facts.status,
            "grantee_region": facts.grantee_region,
            "grantee_organization": facts.grantee_organization,
            "period_start": _instant(facts.period_start) if facts.period_start else None,
            "period_end": _instant(facts.period_end) if facts.period_end else None,
        },
        {},
    )
    return [item]


def _read_provenance(
    r: dict[str, Any], h: PersonHistory, c: list[ConsentFacts], common: dict[str, Any], _: bool
) -> list[ImportedResource]:
    records = [
        value for e in r.get("entity") or [] if (value := _identifier(e.get("what"), RECORD_SYSTEM))
    ]
    attrs = {"recorded": r.get("recorded"), "origin_records": records}
    return [_imported("provenance", r, common, attrs, {})]


_READERS: dict[str, Reader] = {
    "Condition": _read_condition,
    "Observation": _read_observation,
    "Immunization": _read_immunization,
    "ExplanationOfBenefit": _read_eob,
    "Consent": _read_consent,
    "Provenance": _read_provenance,
}


# --- small helpers -----------------------------------------------------------------------


def _code_in(concept: Any, system: str) -> str | None:
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or []:
        if coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return None


def _date(value: Any) -> date | None:
    """A full date from ``YYYY-MM-DD`` or a dateTime; None for partial or missing dates."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _moment(value: Any, *, end_of_day: bool = False) -> datetime | None:
    """An aware UTC datetime from a FHIR date or dateTime; a bare date ending a period means
    the end of that day (a consent "until 2026-12-31" holds on the 31st)."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 10:
        day = _date(value)
        if day is None:
            return None
        moment = datetime.combine(day, time.min, tzinfo=UTC)
        return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _rid(kind: str, *parts: str) -> str:
    """A FHIR id (≤ 64 of [A-Za-z0-9-.]) derived from what the resource is about."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]
    return f"{kind}-{digest}"


def _safe_id(value: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9\-.]", "-", value)[:64]
    return cleaned or _rid("x", value)


def _content_id(resource: dict[str, Any]) -> str:
    return _rid("content", json.dumps(resource, sort_keys=True, ensure_ascii=False))


def _quote_record(origin: str) -> str:
    return quote(origin, safe="/")
