"""Departmental extracts (the ingest contract), the non-source tables, and the truth files.

Each source is built the same way: choose the residents it covers, add duplicate registrations,
render identity columns through the source's noise, add its own columns, shuffle the rows (so
nothing can be linked by position) and number them ``POL0000001`` …. The person behind every
row goes to ``truth/records.csv``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from carematch.synth import names, strings
from carematch.synth.dates import AS_OF_D, not_before
from carematch.synth.health import CONDITIONS, Health, Readings, Screens
from carematch.synth.idcard import fixed_width_strings
from carematch.synth.noise import SOURCE_NOISE, Identity, canonical_addresses, render_identity
from carematch.synth.population import (
    CHILD,
    GRANDPARENT,
    HOUSEHOLD_STATUSES,
    INSURANCE_TYPES,
    LANGUAGES,
    OCC,
    OCCUPATIONS,
    ORIGINS,
    ROLE_NAMES,
    WORKING,
    Population,
    in_city_since,
)
from carematch.synth.providers import Provider, VanStop
from carematch.synth.regions import Geography
from carematch.synth.sampling import quota
from carematch.synth.utilisation import DIAGNOSES, VISIT_TYPES, ServiceUse, Settlements
from carematch.synth.vaccination import Histories, Schedule

IDENTITY = ("name", "id_number", "sex", "birth_date", "phone", "address")

SOURCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "police": (
        "record_id",
        "name",
        "id_number",
        "sex",
        "birth_date",
        "phone",
        "address",
        "community_code",
        "hukou",
        "origin_province",
        "arrival_date",
        "has_residence_permit",
        "occupation",
        "moves_12m",
    ),
    "ehr": (
        "record_id",
        "name",
        "id_number",
        "sex",
        "birth_date",
        "phone",
        "address",
        "community_code",
        "conditions",
        "sbp",
        "dbp",
        "glucose",
        "last_visit_date",
        "last_followup_date",
        "signed_family_doctor",
        "is_pregnant",
        "disability_level",
        "lives_alone",
    ),
    "insurance": (
        "record_id",
        "name",
        "id_number",
        "sex",
        "birth_date",
        "phone",
        "settlement_date",
        "facility",
        "facility_code",
        "visit_type",
        "diagnosis",
        "insurance_type",
        "insured_locally",
        "insured_province",
        "total_cost",
        "reimbursed",
        "out_of_pocket",
    ),
    "social_security": (
        "record_id",
        "name",
        "id_number",
        "sex",
        "birth_date",
        "phone",
        "address",
        "employer",
        "occupation",
        "insurance_type",
    ),
    "immunization": (
        "record_id",
        "name",
        "id_number",
        "sex",
        "birth_date",
        "guardian_name",
        "phone",
        "address",
        "community_code",
        "doses",
    ),
    "poverty": (
        "record_id",
        "name",
        "id_number",
        "sex",
        "birth_date",
        "phone",
        "address",
        "community_code",
        "household_id",
        "household_status",
        "income_12m",
    ),
    "survey": (
        "record_id",
        "name",
        "sex",
        "birth_date",
        "phone",
        "address",
        "community_code",
        "survey_date",
        "phq9",
        "gad7",
        "needs",
        "community_activity",
        "health_literacy",
    ),
}
SOURCES = tuple(SOURCE_COLUMNS)
PREFIX = {
    "police": "POL",
    "ehr": "EHR",
    "insurance": "INS",
    "social_security": "SOC",
    "immunization": "IMM",
    "poverty": "POV",
    "survey": "SUR",
}


@dataclass
class Extract:
    """One source's table and the resident behind each row."""

    name: str
    table: pa.Table
    people: np.ndarray
    first_record: np.ndarray | None = None  # record_id of each covered resident's original row


def _codes(values: tuple[str, ...], index: np.ndarray) -> pa.Array:
    return strings.pick(values, index)


def community_codes(geo: Geography, index: np.ndarray) -> pa.Array:
    """Community code strings for community indices."""
    return strings.pick([c.code for c in geo.communities], index)


def _assemble(
    rng: np.random.Generator,
    source: str,
    pop: Population,
    geo: Geography,
    people: np.ndarray,
    extra: Callable[[np.ndarray, np.ndarray, Identity], dict[str, pa.Array]],
    phone_of: np.ndarray | None = None,
) -> Extract:
    """Duplicates, noisy identity, source columns, shuffle, record ids.

    ``extra(rows, base_index, identity)`` returns the source's own columns, where ``rows`` is
    the resident of each row and ``base_index`` the position in ``people`` it repeats.
    """
    spec = SOURCE_NOISE[source]
    columns = SOURCE_COLUMNS[source]
    base = people.size
    dup_of = quota(rng, np.arange(base), spec.duplicate)
    base_index = np.concatenate([np.arange(base), dup_of])
    rows = people[base_index]
    phone_rows = None if phone_of is None else np.concatenate([phone_of, phone_of[dup_of]])
    fields = tuple(c for c in columns if c in IDENTITY)
    identity = render_identity(rng, pop, geo, rows, spec, fields, phone_rows)
    data = dict(identity.columns)
    data.update(extra(rows, base_index, identity))
    # Half the duplicates (by default) repeat the original row verbatim, the others were typed
    # again and carry their own noise.
    source_row = np.arange(rows.size)
    exact = rng.random(dup_of.size) < spec.duplicate_exact
    source_row[base + np.flatnonzero(exact)] = dup_of[exact]
    order = rng.permutation(rows.size)
    take = pa.array(source_row[order])
    ids = strings.prefixed_ids(PREFIX[source], rows.size)
    table = pa.table({"record_id": ids, **{c: data[c].take(take) for c in columns[1:]}})
    position = np.empty(rows.size, dtype=np.int64)
    position[order] = np.arange(rows.size)
    first_record = ids.take(pa.array(position[:base]))
    return Extract(source, table, rows[order], first_record.to_numpy(zero_copy_only=False))


def _bools(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=bool))


def _origin_codes(pop: Population, rows: np.ndarray) -> pa.Array:
    codes = tuple(o[0] for o in ORIGINS)
    return strings.pick(codes, np.where(pop.migrant[rows], pop.origin[rows], -1))


def police(rng: np.random.Generator, pop: Population, geo: Geography) -> Extract:
    """Residence registration (户籍 and 流动人口登记): locals and registered migrants."""
    people = np.flatnonzero(pop.police_registered)

    def extra(rows: np.ndarray, base: np.ndarray, ident: Identity) -> dict[str, pa.Array]:
        return {
            "community_code": community_codes(geo, ident.community),
            "hukou": strings.where(pop.migrant[rows], "migrant", "local"),
            "origin_province": _origin_codes(pop, rows),
            "arrival_date": strings.dates(pop.arrival[rows]),
            "has_residence_permit": _bools(pop.has_residence_permit[rows]),
            "occupation": _codes(OCCUPATIONS, pop.occupation[rows]),
            "moves_12m": pa.array(pop.moves_12m[rows]),
        }

    return _assemble(rng, "police", pop, geo, people, extra)


def conditions_text(health: Health, rows: np.ndarray) -> pa.Array:
    """Each resident's conditions as ``;``-separated codes in CONDITIONS order."""
    person_row, col = np.nonzero(health.conditions[rows])
    return strings.join_lists(person_row, strings.pick(CONDITIONS, col), rows.size, ";")


def latest_readings(pop: Population, readings: Readings) -> dict[str, np.ndarray]:
    """Per resident: latest sbp, dbp, glucose (-1 / nan if none) and last clinic reading date."""
    n = pop.n
    out = {
        "sbp": np.full(n, -1, dtype=np.int64),
        "dbp": np.full(n, -1, dtype=np.int64),
        "glucose": np.full(n, np.nan),
        "last_clinic": np.full(n, np.datetime64("NaT"), dtype="datetime64[D]"),
    }
    # Rows are sorted by (person, kind, time): the last row of a (person, kind) run is the latest.
    key = readings.person * 2 + readings.kind
    last = np.concatenate([key[1:] != key[:-1], [True]]) if key.size else np.zeros(0, dtype=bool)
    bp = last & (readings.kind == 0)
    out["sbp"][readings.person[bp]] = readings.sbp[bp]
    out["dbp"][readings.person[bp]] = readings.dbp[bp]
    glu = last & (readings.kind == 1)
    out["glucose"][readings.person[glu]] = readings.glucose[glu]
    clinic = readings.channel == 0
    day = readings.measured_at.astype("datetime64[D]")
    latest = np.full(n, np.datetime64("1900-01-01"), dtype="datetime64[D]")
    np.maximum.at(latest, readings.person[clinic], day[clinic])
    out["last_clinic"] = np.where(
        latest > np.datetime64("1900-01-01"), latest, np.datetime64("NaT")
    )
    return out


def ehr(
    rng: np.random.Generator,
    pop: Population,
    geo: Geography,
    health: Health,
    readings: Readings,
    last_use: np.ndarray,
) -> Extract:
    """Electronic health records (健康档案): conditions, latest observations, visits."""
    people = np.flatnonzero(health.has_ehr)
    latest = latest_readings(pop, readings)
    fallback = not_before(rng, AS_OF_D - rng.integers(30, 1100, pop.n), in_city_since(pop))
    last_visit = np.maximum(
        np.where(np.isnat(latest["last_clinic"]), fallback, latest["last_clinic"]),
        np.where(np.isnat(last_use), fallback, last_use),
    )
    followup = np.where(health.chronic, latest["last_clinic"], np.datetime64("NaT"))

    def extra(rows: np.ndarray, base: np.ndarray, ident: Identity) -> dict[str, pa.Array]:
        sbp = latest["sbp"][rows]
        glucose = latest["glucose"][rows]
        return {
            "community_code": community_codes(geo, ident.community),
            "conditions": conditions_text(health, rows),
            "sbp": strings.nullable_int(sbp, sbp < 0),
            "dbp": strings.nullable_int(latest["dbp"][rows], sbp < 0),
            "glucose": strings.decimal(glucose, 1, np.isnan(glucose)),
            "last_visit_date": strings.dates(last_visit[rows]),
            "last_followup_date": strings.dates(followup[rows]),
            "signed_family_doctor": _bools(health.signed_family_doctor[rows]),
            "is_pregnant": _bools(health.is_pregnant[rows]),
            "disability_level": pa.array(health.disability_level[rows]),
            "lives_alone": _bools(pop.hh_size[pop.household[rows]] == 1),
        }

    return _assemble(rng, "ehr", pop, geo, people, extra)


def insurance(
    rng: np.random.Generator, pop: Population, geo: Geography, settlements: Settlements
) -> Extract:
    """Medical-insurance settlements (医保结算), one row per settlement, in date order.

    The insurer holds one identity per insured person, so every settlement of a person carries
    the same (possibly noisy) identity; duplicates are the same settlement submitted twice.
    """
    spec = SOURCE_NOISE["insurance"]
    people, slot = np.unique(settlements.person, return_inverse=True)
    identity = render_identity(
        rng, pop, geo, people, spec, ("name", "id_number", "sex", "birth_date", "phone")
    )
    m = settlements.person.size
    dup = quota(rng, np.arange(m), spec.duplicate)
    # Keep date order with each double submission right after its original.
    rows = np.sort(np.concatenate([np.arange(m), dup]), kind="stable")
    take = pa.array(slot[rows])
    codes = tuple(o[0] for o in ORIGINS)
    person = settlements.person[rows]
    remote_province = strings.pick(
        codes, np.where(pop.insured_locally[person], -1, np.maximum(pop.origin[person], 0))
    )
    province = pc.if_else(pa.array(pop.insured_locally[person]), pa.scalar("44"), remote_province)
    # Locals have no origin; anyone insured here is insured in Guangdong (44).
    province = pc.if_else(
        pa.array(~pop.migrant[person] & ~pop.insured_locally[person]), pa.scalar("44"), province
    )
    table = pa.table(
        {
            "record_id": strings.prefixed_ids("INS", rows.size),
            **{k: v.take(take) for k, v in identity.columns.items()},
            "settlement_date": strings.dates(settlements.date[rows]),
            "facility": strings.pick(settlements.facility_names, settlements.facility[rows]),
            "facility_code": pc.if_else(
                pa.array(
                    np.array([c == "" for c in settlements.facility_codes])[
                        settlements.facility[rows]
                    ]
                ),
                pa.nulls(rows.size, pa.string()),
                strings.pick(settlements.facility_codes, settlements.facility[rows]),
            ),
            "visit_type": strings.pick(VISIT_TYPES, settlements.visit_type[rows]),
            "diagnosis": strings.pick(DIAGNOSES, settlements.diagnosis[rows]),
            "insurance_type": strings.pick(INSURANCE_TYPES, pop.insurance[person]),
            "insured_locally": _bools(pop.insured_locally[person]),
            "insured_province": province,
            "total_cost": strings.decimal(settlements.total[rows], 2),
            "reimbursed": strings.decimal(settlements.reimbursed[rows], 2),
            "out_of_pocket": strings.decimal(settlements.out_of_pocket[rows], 2),
        }
    )
    return Extract("insurance", table.select(list(SOURCE_COLUMNS["insurance"])), person)


def social_security(
    rng: np.random.Generator, pop: Population, geo: Geography, employers: list[tuple[str, str, int]]
) -> Extract:
    """Human resources and social security (人社): working adults with an employer or a scheme."""
    working = np.isin(pop.occupation, WORKING) & (pop.age >= 16) & (pop.age < 65)
    people = np.flatnonzero(working & ((pop.employer >= 0) | (pop.insurance == 1)))
    employer_names = [e[0] for e in employers]

    def extra(rows: np.ndarray, base: np.ndarray, ident: Identity) -> dict[str, pa.Array]:
        return {
            "employer": strings.pick(employer_names, pop.employer[rows]),
            "occupation": _codes(OCCUPATIONS, pop.occupation[rows]),
            "insurance_type": strings.pick(INSURANCE_TYPES, pop.insurance[rows]),
        }

    return _assemble(rng, "social_security", pop, geo, people, extra)


def guardians(pop: Population) -> np.ndarray:
    """Each resident's guardian: the mother if at home, else the father, else a grandparent."""
    adult = pop.role != CHILD
    score = np.where(adult, 1 + 2 * ~pop.male + np.where(pop.role == GRANDPARENT, 0, 4), 0)
    order = np.lexsort((-score, pop.household))
    best = np.full(pop.n_households, -1, dtype=np.int64)
    best[pop.household[order[::-1]]] = order[::-1]
    return best[pop.household]


def doses_text(schedule: Schedule, histories: Histories, children: int) -> pa.Array:
    """``HepB:2021-03-04|BCG:2021-03-04|…`` per child, in date order."""
    items = strings.concat(
        strings.pick(schedule.codes, histories.series), strings.dates(histories.date), sep=":"
    )
    return strings.join_lists(histories.child, items, children, "|")


def immunization(
    rng: np.random.Generator,
    pop: Population,
    geo: Geography,
    children: np.ndarray,
    schedule: Schedule,
    histories: Histories,
) -> Extract:
    """The immunization registry (免疫规划信息系统): every child up to 14 with the doses given."""
    guardian_of = guardians(pop)
    slot = np.full(pop.n, -1, dtype=np.int64)
    slot[children] = np.arange(children.size)
    doses = doses_text(schedule, histories, children.size)
    spec = SOURCE_NOISE["immunization"]

    def extra(rows: np.ndarray, base: np.ndarray, ident: Identity) -> dict[str, pa.Array]:
        g = guardian_of[rows]
        s, g1, g2 = names.homophone_swap(
            rng,
            pop.surname[g],
            pop.given1[g],
            pop.given2[g],
            np.flatnonzero(rng.random(rows.size) < spec.name_homophone),
        )
        return {
            "guardian_name": names.render(s, g1, g2),
            "community_code": community_codes(geo, ident.community),
            "doses": doses.take(pa.array(slot[rows])),
        }

    return _assemble(rng, "immunization", pop, geo, children, extra, phone_of=guardian_of[children])


def household_ids(pop: Population) -> pa.Array:
    """Household identifiers ``H0000001`` …."""
    return strings.prefixed_ids("H", pop.n_households)


def poverty(rng: np.random.Generator, pop: Population, geo: Geography) -> Extract:
    """The civil-affairs / rural-revitalisation registry: every member of a registered household."""
    people = np.flatnonzero(pop.hh_status[pop.household] > 0)
    ids = household_ids(pop)

    def extra(rows: np.ndarray, base: np.ndarray, ident: Identity) -> dict[str, pa.Array]:
        hh = pop.household[rows]
        return {
            "community_code": community_codes(geo, ident.community),
            "household_id": ids.take(pa.array(hh)),
            "household_status": strings.pick(HOUSEHOLD_STATUSES, pop.hh_status[hh]),
            "income_12m": strings.decimal(pop.hh_income[hh], 2),
        }

    return _assemble(rng, "poverty", pop, geo, people, extra)


def survey_needs(
    rng: np.random.Generator,
    pop: Population,
    health: Health,
    rows: np.ndarray,
    scores: tuple[np.ndarray, np.ndarray],
) -> pa.Array:
    """Self-reported needs (service codes, ``;``-separated) for each survey row."""
    phq, gad = scores
    hh = pop.household[rows]
    small_children = np.bincount(pop.household, weights=pop.age <= 6, minlength=pop.n_households)
    occ = pop.occupation[rows]
    candidates = [
        ("chronic_followup", health.chronic[rows], 0.7),
        ("mental_counseling", (phq >= 10) | (gad >= 10), 0.5),
        ("vaccination_child", small_children[hh] > 0, 0.6),
        ("prenatal_check", health.is_pregnant[rows], 0.8),
        ("elderly_checkup", pop.age[rows] >= 65, 0.6),
        ("cross_province_settlement", ~pop.insured_locally[rows] & (pop.insurance[rows] > 0), 0.5),
        ("health_certificate", np.isin(occ, [OCC["food_service"], OCC["domestic"]]), 0.5),
        ("occupational_screening", np.isin(occ, [OCC["construction"], OCC["manufacturing"]]), 0.4),
        (
            "family_doctor_signing",
            ~health.signed_family_doctor[rows] & (health.chronic[rows] | (pop.age[rows] >= 60)),
            0.5,
        ),
        ("medical_assistance", pop.hh_status[hh] > 0, 0.6),
        ("rehab_aids", health.disability_level[rows] > 0, 0.5),
        ("general_outpatient", np.ones(rows.size, dtype=bool), 0.2),
        ("health_education", np.ones(rows.size, dtype=bool), 0.15),
        ("fitness_support", pop.age[rows] < 60, 0.1),
    ]
    chosen = np.stack(
        [applies & (rng.random(rows.size) < p) for _, applies, p in candidates], axis=1
    )
    chosen[~chosen.any(axis=1), [c[0] for c in candidates].index("general_outpatient")] = True
    row, col = np.nonzero(chosen)
    return strings.join_lists(row, strings.pick([c[0] for c in candidates], col), rows.size, ";")


def survey(
    rng: np.random.Generator,
    pop: Population,
    geo: Geography,
    health: Health,
    screens: Screens,
    social: dict[str, np.ndarray],
) -> Extract:
    """Field surveys by grid workers and online questionnaires (one row per survey taken)."""

    def extra(rows: np.ndarray, base: np.ndarray, ident: Identity) -> dict[str, pa.Array]:
        phq, gad = screens.phq9[base], screens.gad7[base]
        return {
            "community_code": community_codes(geo, ident.community),
            "survey_date": strings.dates(screens.date[base]),
            "phq9": pa.array(phq),
            "gad7": pa.array(gad),
            "needs": survey_needs(rng, pop, health, rows, (phq, gad)),
            "community_activity": _bools(social["community_activity"][rows]),
            "health_literacy": _bools(social["health_literacy"][rows]),
        }

    return _assemble(rng, "survey", pop, geo, screens.person, extra)


def social_attributes(rng: np.random.Generator, pop: Population) -> dict[str, np.ndarray]:
    """Community participation (社区活动) and basic health literacy (健康素养) of adults."""
    n = pop.n
    activity = np.zeros(n, dtype=bool)
    literacy = np.zeros(n, dtype=bool)
    office = pop.occupation == OCC["office"]
    for migrant, (p_act, p_lit) in ((True, (0.35, 0.20)), (False, (0.45, 0.30))):
        adults = np.flatnonzero((pop.age >= 18) & (pop.migrant == migrant))
        activity[quota(rng, adults, p_act, weights=np.where(pop.age[adults] >= 60, 1.5, 1.0))] = (
            True
        )
        w = np.where(office[adults], 2.5, 1.0) * np.where(pop.age[adults] < 50, 1.5, 1.0)
        literacy[quota(rng, adults, p_lit, weights=w)] = True
    return {"community_activity": activity, "health_literacy": literacy}


# --- non-source tables --------------------------------------------------------------------


def readings_table(readings: Readings, ehr_record: np.ndarray) -> pa.Table:
    """readings.csv: every blood-pressure and glucose reading, keyed by EHR record id."""
    is_bp = readings.kind == 0
    stamp = np.datetime_as_string(readings.measured_at, unit="s")
    return pa.table(
        {
            "record_id": strings.prefixed_ids("RDG", readings.person.size),
            "ehr_record_id": pa.array(ehr_record[readings.person], type=pa.string()),
            "measured_at": pa.array(stamp, type=pa.string()),
            "kind": strings.where(is_bp, "bp", "glucose"),
            "sbp": strings.nullable_int(readings.sbp, ~is_bp),
            "dbp": strings.nullable_int(readings.dbp, ~is_bp),
            "glucose": strings.decimal(readings.glucose, 1, is_bp),
            "channel": strings.where(readings.channel == 1, "home_device", "clinic"),
        }
    )


def service_use_table(
    use: ServiceUse, ehr_record: np.ndarray, providers: list[Provider]
) -> pa.Table:
    """service_use.csv: past services with satisfaction ratings (1-5, empty when not rated)."""
    return pa.table(
        {
            "record_id": strings.prefixed_ids("SVC", use.person.size),
            "ehr_record_id": pa.array(ehr_record[use.person], type=pa.string()),
            "provider_id": strings.pick([p.provider_id for p in providers], use.provider),
            "service_code": strings.pick(use.service_codes, use.service),
            "date": strings.dates(use.date),
            "rating": strings.nullable_int(use.rating, use.rating == 0),
            "comment": strings.pick(use.comments, use.comment),
        }
    )


def providers_table(providers: list[Provider]) -> pa.Table:
    """providers.csv: the provider registry."""
    return pa.table(
        {
            "provider_id": [p.provider_id for p in providers],
            "name": [p.name for p in providers],
            "name_en": [p.name_en for p in providers],
            "kind": [p.kind for p in providers],
            "ownership": [p.ownership for p in providers],
            "district_code": [p.community.code[:6] for p in providers],
            "street_code": [p.community.code[:9] for p in providers],
            "community_code": [p.community.code for p in providers],
            "lat": [p.lat for p in providers],
            "lon": [p.lon for p in providers],
            "phone": [p.phone for p in providers],
            "opening_hours": [p.opening_hours for p in providers],
            "evening_hours": [p.evening_hours for p in providers],
            "weekend_hours": [p.weekend_hours for p in providers],
            "languages": [";".join(p.languages) for p in providers],
            "capabilities": [";".join(p.capabilities) for p in providers],
            "parent_id": pa.array([p.parent_id or None for p in providers], type=pa.string()),
        }
    )


def provider_services_table(providers: list[Provider]) -> pa.Table:
    """provider_services.csv: one row per provider and service, with capacity and price."""
    rows = [(p.provider_id, *s) for p in providers for s in p.services]
    return pa.table(
        {
            "provider_id": [r[0] for r in rows],
            "service_code": [r[1] for r in rows],
            "daily_capacity": [r[2] for r in rows],
            "price": strings.decimal(np.array([r[3] for r in rows]), 2),
            "insured_share": strings.decimal(np.array([r[4] for r in rows]), 2),
        }
    )


def van_stops_table(stops: list[VanStop]) -> pa.Table:
    """van_stops.csv: weekly stops of the mobile service vans."""
    return pa.table(
        {
            "provider_id": [s.provider_id for s in stops],
            "weekday": [s.weekday for s in stops],
            "start_time": [s.start for s in stops],
            "end_time": [s.end for s in stops],
            "lat": [s.lat for s in stops],
            "lon": [s.lon for s in stops],
            "community_code": [s.community_code for s in stops],
            "site_name": [s.site_name for s in stops],
        }
    )


def regions_table(geo: Geography) -> pa.Table:
    """regions.csv: province, city, districts, streets and communities."""
    r = geo.regions
    return pa.table(
        {
            "code": [x.code for x in r],
            "name": [x.name for x in r],
            "name_en": [x.name_en for x in r],
            "level": [x.level for x in r],
            "parent_code": pa.array([x.parent_code or None for x in r], type=pa.string()),
            "kind": pa.array([x.kind or None for x in r], type=pa.string()),
            "lat": [x.lat for x in r],
            "lon": [x.lon for x in r],
        }
    )


# --- truth --------------------------------------------------------------------------------


def person_ids(n: int) -> pa.Array:
    """Person identifiers ``P0000001`` …."""
    return strings.prefixed_ids("P", n)


def records_table(extracts: list[Extract], pids: pa.Array) -> pa.Table:
    """truth/records.csv: the resident behind every record of every source."""
    parts = []
    for e in extracts:
        parts.append(
            pa.table(
                {
                    "source": pa.array([e.name] * e.table.num_rows, type=pa.string()),
                    "record_id": e.table.column("record_id").combine_chunks(),
                    "person_id": pids.take(pa.array(e.people)),
                }
            )
        )
    return pa.concat_tables(parts)


def persons_table(
    pop: Population,
    geo: Geography,
    health: Health,
    screens: Screens,
    social: dict[str, np.ndarray],
    children: np.ndarray,
    histories: Histories,
    employers: list[tuple[str, str, int]],
) -> pa.Table:
    """truth/persons.csv: every resident's true attributes."""
    n = pop.n
    everyone = np.arange(n)
    address = canonical_addresses(pop, geo).take(pa.array(pop.household))
    child_missed = np.zeros(n, dtype=bool)
    child_missed[children] = histories.missed
    overdue = np.zeros(n, dtype=np.int64)
    overdue[children] = histories.doses_overdue
    is_child = np.zeros(n, dtype=bool)
    is_child[children] = True
    months = np.where(
        pop.migrant,
        (AS_OF_D - pop.arrival).astype("timedelta64[D]").astype(np.int64) * 12 // 365,
        (AS_OF_D - pop.birth).astype(np.int64) * 12 // 365,
    )
    adult = pop.age >= 18
    return pa.table(
        {
            "person_id": person_ids(n),
            "name": names.render(pop.surname, pop.given1, pop.given2),
            "name_pinyin": names.render_pinyin(
                pop.surname, pop.given1, pop.given2, np.zeros(n, dtype=bool)
            ),
            "id_number": fixed_width_strings(pop.id_chars),
            "sex": strings.where(pop.male, "M", "F"),
            "birth_date": strings.dates(pop.birth),
            "age": pa.array(pop.age),
            "phone": strings.int_str(pop.phone),
            "own_phone": _bools(pop.own_phone),
            "old_phone": pc.if_else(
                pa.array(pop.old_phone > 0),
                strings.int_str(pop.old_phone),
                pa.nulls(n, pa.string()),
            ),
            "address": address,
            "community_code": community_codes(geo, pop.community),
            "lat": pa.array(pop.hh_lat[pop.household]),
            "lon": pa.array(pop.hh_lon[pop.household]),
            "household_id": household_ids(pop).take(pa.array(pop.household)),
            "household_role": strings.pick(ROLE_NAMES, pop.role),
            "household_status": strings.pick(HOUSEHOLD_STATUSES, pop.hh_status[pop.household]),
            "hukou": strings.where(pop.migrant, "migrant", "local"),
            "origin_province": _origin_codes(pop, everyone),
            "arrival_date": strings.dates(pop.arrival),
            "residence_months": pa.array(months),
            "police_registered": _bools(pop.police_registered),
            "has_residence_permit": _bools(pop.has_residence_permit),
            "moves_12m": pa.array(pop.moves_12m),
            "occupation": _codes(OCCUPATIONS, pop.occupation),
            "employer": strings.pick([e[0] for e in employers], pop.employer),
            "insurance_type": strings.pick(INSURANCE_TYPES, pop.insurance),
            "insured_locally": _bools(pop.insured_locally),
            "preferred_language": strings.pick(LANGUAGES, pop.language),
            "conditions": conditions_text(health, everyone),
            "chronic": _bools(health.chronic),
            "chronic_controlled": pc.if_else(
                pa.array(health.chronic), _bools(health.controlled), pa.nulls(n, pa.bool_())
            ),
            "is_pregnant": _bools(health.is_pregnant),
            "disability_level": pa.array(health.disability_level),
            "lives_alone": _bools(pop.hh_size[pop.household] == 1),
            "signed_family_doctor": _bools(health.signed_family_doctor),
            "has_ehr": _bools(health.has_ehr),
            "phq9": strings.nullable_int(screens.latest_phq9, screens.latest_phq9 < 0),
            "gad7": strings.nullable_int(screens.latest_gad7, screens.latest_gad7 < 0),
            "community_activity": pc.if_else(
                pa.array(adult), _bools(social["community_activity"]), pa.nulls(n, pa.bool_())
            ),
            "health_literacy": pc.if_else(
                pa.array(adult), _bools(social["health_literacy"]), pa.nulls(n, pa.bool_())
            ),
            "vaccination_missed": pc.if_else(
                pa.array(is_child), _bools(child_missed), pa.nulls(n, pa.bool_())
            ),
            "doses_overdue": strings.nullable_int(overdue, ~is_child),
        }
    )


def households_table(pop: Population, geo: Geography, settlements: Settlements) -> pa.Table:
    """truth/households.csv: every household with status, income and 12-month out-of-pocket."""
    h = pop.n_households
    high = np.zeros(h, dtype=bool)
    high[settlements.high_oop_households] = True
    return pa.table(
        {
            "household_id": household_ids(pop),
            "community_code": community_codes(geo, pop.hh_community),
            "address": canonical_addresses(pop, geo),
            "previous_address": pc.if_else(
                pa.array(pop.hh_moves > 0),
                canonical_addresses(pop, geo, previous=True),
                pa.nulls(h, pa.string()),
            ),
            "hukou": strings.where(pop.hh_migrant, "migrant", "local"),
            "size": pa.array(pop.hh_size),
            "household_phone": strings.int_str(pop.household_phone),
            "household_status": strings.pick(HOUSEHOLD_STATUSES, pop.hh_status),
            "income_12m": strings.decimal(pop.hh_income, 2),
            "oop_12m": strings.decimal(settlements.household_oop_12m, 2),
            "major_illness_12m": _bools(high),
        }
    )
