"""Use of care: insurance settlements (医保结算) and past service use with satisfaction ratings.

Settlements drive the out-of-pocket watch of R-PV: an exact 4 % of households pass 5,000 yuan
of medical out-of-pocket spending in the 12 months to AS_OF (a major illness), every other
household stays below the line. Service use feeds collaborative filtering (R-MT-2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carematch.synth.dates import AS_OF_D, add_duration, not_before
from carematch.synth.health import CHRONIC, C, Health, Screens
from carematch.synth.population import OCC, ORIGINS, Population, in_city_since
from carematch.synth.providers import Provider, VanStop, nearest_offering
from carematch.synth.regions import Geography
from carematch.synth.sampling import quota

HIGH_OOP_HOUSEHOLD_SHARE = 0.04
OOP_WARNING_LINE = 5000.0
WINDOW_DAYS = 730
SPRING_FESTIVALS = (np.datetime64("2025-01-29"), np.datetime64("2026-02-17"))
YEAR_START = add_duration(np.array([AS_OF_D]), years=-1)[0] + 1
"""First day of the 12-month window ending on AS_OF (household out-of-pocket is summed over it)."""

VISIT_TYPES = ("outpatient", "inpatient")


def _calendar(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Days of the two-year window and their relative weights for one kind of visit.

    In the city, winter is busier and the Spring Festival week quiet; cross-region patients
    settle more in the fortnight before the festival (R-DM-5); visits back home cluster around
    the festival and the farming seasons (农忙).
    """
    days = AS_OF_D - np.arange(WINDOW_DAYS)[::-1]
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    w = np.ones(days.size)
    w[np.isin(month, [12, 1, 2])] *= 1.2
    for festival in SPRING_FESTIVALS:
        delta = (days - festival).astype(np.int64)
        if kind == "home":
            w = np.where((delta >= -10) & (delta <= 15), w * 8, w)
        elif kind == "remote":
            w = np.where((delta >= -16) & (delta < -2), w * 2.0, w)
        w = np.where((delta >= -1) & (delta <= 6) & (kind != "home"), w * 0.5, w)
    if kind == "home":
        w = np.where(np.isin(month, [5, 6, 9, 10]), w * 3, w * 0.3)
    return days, w / w.sum()


@dataclass
class Settlements:
    """One element per settlement."""

    person: np.ndarray
    date: np.ndarray
    facility: np.ndarray  # index into ``facility_names``
    facility_names: list[str]
    facility_codes: list[str]
    visit_type: np.ndarray
    diagnosis: np.ndarray  # index into DIAGNOSES
    total: np.ndarray
    reimbursed: np.ndarray
    out_of_pocket: np.ndarray
    household_oop_12m: np.ndarray  # per household
    high_oop_households: np.ndarray


DIAGNOSES = (*CHRONIC, "pregnancy", "tb", "general")


def _primary_chronic(health: Health) -> np.ndarray:
    """Index into DIAGNOSES of each resident's first chronic condition (general if none)."""
    cols = health.conditions[:, [C[c] for c in CHRONIC]]
    first = np.argmax(cols, axis=1)
    return np.where(cols.any(axis=1), first, DIAGNOSES.index("general"))


def build_settlements(
    rng: np.random.Generator,
    pop: Population,
    health: Health,
    geo: Geography,
    providers: list[Provider],
    stops: list[VanStop],
) -> Settlements:
    """Outpatient and inpatient settlements of insured residents over two years."""
    insured = np.flatnonzero(pop.insurance > 0)
    age = pop.age[insured]
    chronic = health.chronic[insured]
    pregnant = health.is_pregnant[insured]
    mig = pop.migrant[insured]
    out_rate = np.interp(
        age,
        [0, 6, 7, 17, 18, 44, 45, 59, 60, 100],
        [2.5, 2.5, 1.0, 1.0, 0.9, 0.9, 1.5, 1.5, 3.0, 3.0],
    )
    # Only visits settled through insurance count, about half of all outpatient visits.
    out_rate = 0.5 * (out_rate + 3.0 * chronic + 2.0 * pregnant) * np.where(mig, 0.77, 1.0)
    in_rate = np.interp(
        age, [0, 6, 7, 44, 45, 59, 60, 100], [0.05, 0.05, 0.03, 0.03, 0.06, 0.06, 0.15, 0.2]
    )
    cond = health.conditions[insured]
    in_rate = in_rate + 0.08 * chronic + 0.8 * cond[:, C["cancer"]] + 0.4 * cond[:, C["stroke"]]
    in_rate = (in_rate + 0.3 * cond[:, C["copd"]] + 0.4 * pregnant) * np.where(mig, 0.82, 1.0)
    years = WINDOW_DAYS / 365.25
    n_out = rng.poisson(out_rate * years)
    n_in = rng.poisson(in_rate * years)
    person = np.concatenate([np.repeat(insured, n_out), np.repeat(insured, n_in)])
    visit = np.concatenate(
        [np.zeros(n_out.sum(), dtype=np.int64), np.ones(n_in.sum(), dtype=np.int64)]
    )
    m = person.size

    # Where: near home in the city; migrants insured back home sometimes settle there.
    remote = ~pop.insured_locally[person]
    at_home = remote & (rng.random(m) < 0.2)
    city_days, city_w = _calendar("city")
    remote_days, remote_w = _calendar("remote")
    home_days, home_w = _calendar("home")
    date = city_days[rng.choice(city_days.size, size=m, p=city_w)]
    date = np.where(remote, remote_days[rng.choice(remote_days.size, size=m, p=remote_w)], date)
    date = np.where(at_home, home_days[rng.choice(home_days.size, size=m, p=home_w)], date)
    since = in_city_since(pop)
    date = not_before(rng, date, np.where(at_home, pop.birth[person], since[person]))

    names = [p.name for p in providers]
    codes = [p.provider_id for p in providers]
    for _, province, _, _ in ORIGINS:
        names.append(f"{province}人民医院")
        codes.append("")
    origin_facility = len(providers) + np.maximum(pop.origin[person], 0)
    near = nearest_offering(geo, providers, stops, ["general_outpatient", "emergency_care"], k=3)
    tertiary = np.array([i for i, p in enumerate(providers) if p.kind == "tertiary_hospital"])
    community = pop.community[person]
    slot = rng.choice(3, size=m, p=[0.6, 0.25, 0.15])
    local_out = near[community, 0, slot]
    local_out = np.where(local_out < 0, near[community, 0, 0], local_out)
    local_in = np.where(
        rng.random(m) < 0.7, tertiary[rng.integers(0, tertiary.size, m)], near[community, 1, 0]
    )
    local_in = np.where(local_in < 0, tertiary[0], local_in)
    to_tertiary = rng.random(m) < 0.25
    local_out = np.where(to_tertiary, tertiary[rng.integers(0, tertiary.size, m)], local_out)
    facility = np.where(visit == 1, local_in, local_out)
    facility = np.where(at_home, origin_facility, facility)

    # What for, and what it cost.
    primary = _primary_chronic(health)[person]
    general = DIAGNOSES.index("general")
    diagnosis = np.where(rng.random(m) < 0.6, primary, general)
    cond_p = health.conditions[person]
    inpatient_dx = np.select(
        [
            cond_p[:, C["cancer"]],
            cond_p[:, C["stroke"]],
            health.is_pregnant[person] & (rng.random(m) < 0.7),
        ],
        [DIAGNOSES.index("cancer"), DIAGNOSES.index("stroke"), DIAGNOSES.index("pregnancy")],
        np.where(rng.random(m) < 0.5, primary, general),
    )
    diagnosis = np.where(visit == 1, inpatient_dx, diagnosis)
    diagnosis = np.where(
        cond_p[:, C["tb"]] & (rng.random(m) < 0.5), DIAGNOSES.index("tb"), diagnosis
    )
    out_cost = np.clip(rng.lognormal(np.log(180), 0.8, m), 15, 4000)
    in_cost = np.clip(rng.lognormal(np.log(8000), 0.55, m), 1500, 60000)
    in_cost = np.where(diagnosis == DIAGNOSES.index("cancer"), in_cost * 2.5, in_cost)
    total = np.where(visit == 1, in_cost, out_cost)
    employee = pop.insurance[person] == 1
    rate = np.where(visit == 1, np.where(employee, 0.82, 0.65), np.where(employee, 0.55, 0.45))
    # Cross-region settlement in this city reimburses less than at home.
    rate = np.where(remote & ~at_home, rate - 0.10, rate)
    rate = np.clip(rate + rng.normal(0, 0.04, m), 0.2, 0.95)
    total = np.round(total, 2)
    oop = np.round(total * (1 - rate), 2)

    # Major illness in an exact 4 % of households: one member, one large inpatient bill.
    h = pop.n_households
    has_insured = np.bincount(pop.household[insured], minlength=h) > 0
    risk = (
        1.0
        + 2.0 * (np.bincount(pop.household, weights=health.chronic, minlength=h) > 0)
        + 1.0 * (np.bincount(pop.household, weights=pop.age >= 60, minlength=h) > 0)
        + 1.5 * (pop.hh_status > 0)
    )
    high = quota(
        rng,
        np.flatnonzero(has_insured),
        0.0,
        weights=risk[has_insured],
        count=round(HIGH_OOP_HOUSEHOLD_SHARE * h),
    )
    # The patient: the insured member with the most chronic conditions (random tie-break).
    score = np.where(
        pop.insurance > 0,
        health.conditions[:, [C[c] for c in CHRONIC]].sum(axis=1) + rng.random(pop.n),
        -1.0,
    )
    order = np.lexsort((-score, pop.household))
    first_of = np.full(h, -1, dtype=np.int64)
    first_of[pop.household[order[::-1]]] = order[::-1]
    patient = first_of[high]
    k = patient.size
    big_total = np.round(rng.uniform(40_000, 180_000, k), 2)
    big_oop = np.round(
        np.maximum(
            big_total * rng.uniform(0.12, 0.4, k), OOP_WARNING_LINE + rng.uniform(300, 3000, k)
        ),
        2,
    )
    big_date = AS_OF_D - rng.integers(0, 360, k)
    big_date = not_before(
        rng, big_date, np.where(pop.insured_locally[patient], since[patient], pop.birth[patient])
    )
    big_dx = np.select(
        [health.conditions[patient, C["cancer"]], health.conditions[patient, C["stroke"]]],
        [DIAGNOSES.index("cancer"), DIAGNOSES.index("stroke")],
        _primary_chronic(health)[patient],
    )
    big_facility = np.where(
        pop.insured_locally[patient],
        tertiary[rng.integers(0, tertiary.size, k)],
        origin_facility_of(pop, patient, len(providers)),
    )
    person = np.concatenate([person, patient])
    date = np.concatenate([date, big_date])
    facility = np.concatenate([facility, big_facility])
    visit = np.concatenate([visit, np.ones(k, dtype=np.int64)])
    diagnosis = np.concatenate([diagnosis, big_dx])
    total = np.concatenate([total, big_total])
    oop = np.concatenate([oop, big_oop])

    # Everyone else stays under the warning line: scale down their last-12-month spending.
    in_year = date >= YEAR_START
    hh = pop.household[person]
    hh_oop = np.bincount(hh[in_year], weights=oop[in_year], minlength=h)
    is_high = np.zeros(h, dtype=bool)
    is_high[high] = True
    over = ~is_high & (hh_oop > OOP_WARNING_LINE * 0.98)
    factor = np.where(over, OOP_WARNING_LINE * 0.97 / np.maximum(hh_oop, 1.0), 1.0)
    oop = np.where(in_year, np.round(oop * factor[hh], 2), oop)
    reimbursed = np.round(total - oop, 2)
    hh_oop = np.round(np.bincount(hh[in_year], weights=oop[in_year], minlength=h), 2)

    order = np.lexsort((person, date))
    return Settlements(
        person=person[order],
        date=date[order],
        facility=facility[order],
        facility_names=names,
        facility_codes=codes,
        visit_type=visit[order],
        diagnosis=diagnosis[order],
        total=total[order],
        reimbursed=reimbursed[order],
        out_of_pocket=oop[order],
        household_oop_12m=hh_oop,
        high_oop_households=np.sort(high),
    )


def origin_facility_of(pop: Population, people: np.ndarray, n_providers: int) -> np.ndarray:
    """Index of the home-province hospital of each person in the facility list."""
    return n_providers + np.maximum(pop.origin[people], 0)


# Service-use model: which services residents used, by who they are.
_CAPABILITY_OF = {
    "chronic_followup": "elderly_chronic_care",
    "elderly_checkup": "elderly_chronic_care",
    "vaccination_child": "vaccination",
    "vaccination_adult": "vaccination",
    "prenatal_check": "maternal_child",
    "child_health_check": "maternal_child",
    "mental_counseling": "mental_health",
    "occupational_screening": "occupational_health",
    "tb_screening": "tb",
    "home_rehab": "rehabilitation",
    "rehab_aids": "rehabilitation",
    "hiv_testing": "hiv",
    "family_doctor_signing": "family_doctor",
}
_COMMENTS = {
    1: ("排队太久，态度也不好", "医生说话听不懂", "下班后去已经关门了", "来回跑了三次才办好"),
    2: ("等了一个多小时", "流程太复杂", "没有晚上的号"),
    3: ("一般，还可以", "环境有点拥挤", "预约不太方便"),
    4: ("医生挺耐心的", "离家近，方便", "服务不错"),
    5: (
        "医生很耐心，讲解清楚",
        "晚上也能看，太方便了",
        "非常满意，会推荐给老乡",
        "家庭医生随访很及时",
    ),
}


@dataclass
class ServiceUse:
    """One element per past service use."""

    person: np.ndarray
    provider: np.ndarray
    service: np.ndarray  # index into service_codes
    service_codes: list[str]
    date: np.ndarray
    rating: np.ndarray  # 1-5, 0 when not rated
    comment: np.ndarray  # index into comments, -1 when none
    comments: list[str]


def build_service_use(
    rng: np.random.Generator,
    pop: Population,
    health: Health,
    screens: Screens,
    geo: Geography,
    providers: list[Provider],
    stops: list[VanStop],
) -> ServiceUse:
    """Two years of service use by residents with a health record, each rated 1-5 (some not)."""
    people = np.flatnonzero(health.has_ehr)
    age, occ = pop.age[people], pop.occupation[people]
    cond = health.conditions[people]
    chronic_care = cond[
        :, [C[c] for c in ("hypertension", "diabetes", "hyperlipidemia", "copd", "pneumoconiosis")]
    ].any(axis=1)
    worried = (
        (screens.latest_phq9[people] >= 10)
        | (screens.latest_gad7[people] >= 10)
        | cond[:, C["depression"]]
        | cond[:, C["anxiety"]]
    )
    female = ~pop.male[people]
    level = health.disability_level[people]
    weights = {
        "general_outpatient": np.full(people.size, 1.0),
        "chronic_followup": 3.0 * chronic_care,
        "family_doctor_signing": 0.8 * health.signed_family_doctor[people],
        "elderly_checkup": 1.5 * (age >= 65),
        "vaccination_child": 3.0 * (age <= 6),
        "child_health_check": 1.5 * (age <= 6),
        "prenatal_check": 3.0 * health.is_pregnant[people],
        "health_certificate": 1.0 * np.isin(occ, [OCC["food_service"], OCC["domestic"]]),
        "occupational_screening": 0.8 * np.isin(occ, [OCC["construction"], OCC["manufacturing"]]),
        "mental_counseling": 1.5 * worried,
        "tb_screening": 2.0 * cond[:, C["tb"]],
        "hiv_testing": 0.1 * ((age >= 18) & (age <= 50)),
        "cross_province_settlement": 0.5
        * (~pop.insured_locally[people] & (pop.insurance[people] > 0)),
        "vaccination_adult": 0.3 * (age >= 60),
        "home_rehab": 1.0 * (level >= 3),
        "rehab_aids": 0.5 * (level >= 1),
        "health_education": np.full(people.size, 0.3),
        "cervical_breast_screening": 0.4 * (female & (age >= 35) & (age <= 64)),
        "lifestyle_guidance": 0.3 * chronic_care,
        "online_consultation": 0.3 * ((age >= 18) & (age <= 50)),
        "medical_assistance": 0.8 * (pop.hh_status[pop.household[people]] > 0),
    }
    codes = list(weights)
    w = np.stack([np.asarray(weights[c], dtype=np.float32) for c in codes], axis=1)
    lam = (
        0.6
        + 1.2 * health.chronic[people]
        + 0.8 * (age <= 6)
        + 0.5 * (age >= 65)
        + 0.8 * health.is_pregnant[people]
    )
    lam = lam * np.where(pop.migrant[people], 0.7, 1.0)
    count = rng.poisson(lam)
    row = np.repeat(np.arange(people.size), count)
    cumulative = np.cumsum(w, axis=1)
    service = np.empty(row.size, dtype=np.int64)
    # Chunked so the (uses × services) comparison never needs more than a few MB.
    for start in range(0, row.size, 200_000):
        r = row[start : start + 200_000]
        u = rng.random(r.size) * cumulative[r, -1]
        service[start : start + 200_000] = (cumulative[r] < u[:, None]).sum(axis=1)
    service = np.minimum(service, len(codes) - 1)
    person = people[row]

    near = nearest_offering(geo, providers, stops, codes, k=3)
    slot = rng.choice(3, size=row.size, p=[0.6, 0.25, 0.15])
    community = pop.community[person]
    provider = near[community, service, slot]
    provider = np.where(provider < 0, near[community, service, 0], provider)
    keep = provider >= 0
    person, service, provider = person[keep], service[keep], provider[keep]
    m = person.size
    days, day_w = _calendar("city")
    date = not_before(rng, days[rng.choice(days.size, size=m, p=day_w)], in_city_since(pop)[person])

    # Ratings: provider quality, capability fit, evening hours for workers, language.
    quality = np.array([p.quality for p in providers])
    capable = np.array(
        [[(_CAPABILITY_OF.get(c) in p.capabilities) for c in codes] for p in providers]
    )
    evening = np.array([p.evening_hours for p in providers])
    from carematch.synth.population import LANGUAGES, WORKING

    speaks = np.array([[lang in p.languages for lang in LANGUAGES] for p in providers])
    worker = pop.migrant[person] & np.isin(pop.occupation[person], WORKING)
    score = (
        3.9
        + quality[provider]
        + 0.35 * capable[provider, service]
        - 0.5 * (worker & ~evening[provider])
        - 0.6 * ~speaks[provider, pop.language[person]]
        + rng.normal(0, 0.7, m)
    )
    rating = np.clip(np.round(score), 1, 5).astype(np.int64)
    rated = rng.random(m) < 0.8
    rating = np.where(rated, rating, 0)
    comments = [text for r in sorted(_COMMENTS) for text in _COMMENTS[r]]
    offset = {r: sum(len(_COMMENTS[q]) for q in sorted(_COMMENTS) if q < r) for r in _COMMENTS}
    size = {r: len(v) for r, v in _COMMENTS.items()}
    has_comment = rated & (rng.random(m) < 0.45)
    base = np.array([offset.get(r, 0) for r in range(6)])
    span = np.array([size.get(r, 1) for r in range(6)])
    comment = np.where(
        has_comment, base[rating] + np.floor(rng.random(m) * span[rating]).astype(np.int64), -1
    )
    order = np.lexsort((person, date))
    return ServiceUse(
        person=person[order],
        provider=provider[order],
        service=service[order],
        service_codes=codes,
        date=date[order],
        rating=rating[order],
        comment=comment[order],
        comments=comments,
    )
