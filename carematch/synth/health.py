"""Health of the residents: conditions, control, pregnancy, disability, screens and readings.

The demo city's published figures (requirements: "Figures for the synthetic demo city") are
met with exact quotas inside each group, so they hold at any city size:

- chronic prevalence: migrants 18.7 %, locals 19.2 %;
- chronic control rate: migrants 29 %, locals 51 % (also exactly within the residents who have
  hypertension or diabetes, whose readings show it);
- on the latest PHQ-9 / GAD-7 screen: migrants 32 % depression tendency, 18 % anxiety;
- occupational disease among manufacturing migrants 12.3 %; TB cases 58 % migrants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carematch.synth.dates import AS_OF_D, not_before
from carematch.synth.population import HEAD, OCC, SPOUSE, Population, in_city_since
from carematch.synth.sampling import quota

CONDITIONS = (
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
)
C = {name: i for i, name in enumerate(CONDITIONS)}
CHRONIC = (
    "hypertension",
    "diabetes",
    "hyperlipidemia",
    "copd",
    "stroke",
    "cancer",
    "pneumoconiosis",
)
"""Conditions that make a resident count as chronic (慢性病) for prevalence and control rates."""

CHRONIC_SHARE = {True: 0.187, False: 0.192}
CONTROL_SHARE = {True: 0.29, False: 0.51}
PHQ9_POSITIVE_SHARE = {True: 0.32, False: 0.15}
GAD7_POSITIVE_SHARE = {True: 0.18, False: 0.10}
SURVEY_SHARE = 0.30
OCCUPATIONAL_DISEASE_SHARE = 0.123
TB_RATE = {True: 0.00205, False: 0.0008}

_CHRONIC_PRIMARY = (
    ("hypertension", 0.55),
    ("diabetes", 0.18),
    ("hyperlipidemia", 0.15),
    ("copd", 0.04),
    ("stroke", 0.03),
    ("cancer", 0.03),
    ("pneumoconiosis", 0.02),
)


@dataclass
class Health:
    """Per-resident health truth (arrays aligned with the population)."""

    conditions: np.ndarray  # (n, len(CONDITIONS)) bool
    chronic: np.ndarray
    controlled: np.ndarray  # meaningful for chronic residents only
    bp_ok: np.ndarray
    glucose_ok: np.ndarray
    disability_level: np.ndarray
    is_pregnant: np.ndarray
    signed_family_doctor: np.ndarray
    has_ehr: np.ndarray

    def has(self, name: str) -> np.ndarray:
        """Boolean array: who has the condition."""
        return self.conditions[:, C[name]]


def _chronic_weight(age: np.ndarray) -> np.ndarray:
    """Relative chance of a chronic condition by age (rises steeply after 45)."""
    return np.interp(
        age, [0, 17, 18, 30, 45, 60, 70, 80], [0.003, 0.003, 0.02, 0.06, 0.25, 0.55, 0.7, 0.75]
    )


def assign_health(rng: np.random.Generator, pop: Population) -> Health:
    """Conditions, disability, pregnancy, family-doctor signing, control and EHR coverage."""
    n = pop.n
    cond = np.zeros((n, len(CONDITIONS)), dtype=bool)
    age, mig, occ = pop.age, pop.migrant, pop.occupation
    dusty = (occ == OCC["construction"]) | (occ == OCC["manufacturing"])

    # Chronic residents: an exact share per hukou group, weighted towards older people.
    chronic = np.zeros(n, dtype=bool)
    for migrant, share in CHRONIC_SHARE.items():
        group = np.flatnonzero(mig == migrant)
        weight = _chronic_weight(age[group]) * np.where(dusty[group], 1.2, 1.0)
        chronic[quota(rng, group, share, weights=weight)] = True
    rows = np.flatnonzero(chronic)
    probs = np.array([p for _, p in _CHRONIC_PRIMARY])
    primary = rng.choice(len(probs), size=rows.size, p=probs / probs.sum())
    codes = np.array([C[c] for c, _ in _CHRONIC_PRIMARY])[primary]
    # Pneumoconiosis needs dust exposure at work; otherwise the primary condition is hypertension.
    codes = np.where((codes == C["pneumoconiosis"]) & ~dusty[rows], C["hypertension"], codes)
    cond[rows, codes] = True
    a = age[rows]
    extra = {
        "hypertension": np.where(a >= 50, 0.35, 0.15),
        "diabetes": np.where(a >= 45, 0.20, 0.10),
        "hyperlipidemia": np.full(rows.size, 0.25),
        "stroke": np.where((a >= 60) & cond[rows, C["hypertension"]], 0.06, 0.0),
    }
    for name, p in extra.items():
        cond[rows, C[name]] |= rng.random(rows.size) < p

    # Occupational disease among manufacturing migrants: 12.3 % in all, counting pneumoconiosis.
    for migrant, occupation, share in (
        (True, "manufacturing", OCCUPATIONAL_DISEASE_SHARE),
        (True, "construction", 0.06),
        (False, "manufacturing", 0.03),
    ):
        group = np.flatnonzero((mig == migrant) & (occ == OCC[occupation]))
        target = round(share * group.size)
        already = int(cond[group, C["pneumoconiosis"]].sum())
        free = group[~cond[group, C["pneumoconiosis"]]]
        cond[quota(rng, free, 0.0, count=max(0, target - already)), C["occupational_noise"]] = True

    working_male = (age >= 18) & (age < 60) & pop.male
    for migrant, rate in TB_RATE.items():
        group = np.flatnonzero(mig == migrant)
        cond[quota(rng, group, rate, weights=np.where(working_male[group], 2.0, 1.0)), C["tb"]] = (
            True
        )
    adults = np.flatnonzero(age >= 18)
    cond[quota(rng, adults, 0.06), C["hepatitis_b"]] = True
    young_adults = np.flatnonzero((age >= 18) & (age < 60))
    cond[quota(rng, young_adults, 0.0006), C["hiv"]] = True

    # Disability (残疾): about 6 %, mostly older people and stroke survivors.
    weight = np.interp(age, [0, 40, 60, 80, 100], [0.01, 0.02, 0.06, 0.2, 0.35])
    weight = weight * np.where(cond[:, C["stroke"]], 4.0, 1.0)
    disabled = quota(rng, np.arange(n), 0.06, weights=weight)
    level = np.zeros(n, dtype=np.int64)
    level[disabled] = rng.choice([1, 2, 3, 4], size=disabled.size, p=[0.35, 0.30, 0.20, 0.15])
    cond[:, C["disability"]] = level > 0

    # Pregnancy: some women aged 20-40, mostly married, peaking in the late twenties.
    married = np.isin(pop.role, [HEAD, SPOUSE]) & (pop.hh_size[pop.household] >= 2)
    pregnant = np.zeros(n, dtype=bool)
    for migrant, share in ((True, 0.07), (False, 0.06)):
        group = np.flatnonzero(~pop.male & (age >= 20) & (age <= 40) & (mig == migrant))
        w = np.where(married[group], 3.0, 0.3) * np.where(
            (age[group] >= 25) & (age[group] <= 33), 2.0, 1.0
        )
        pregnant[quota(rng, group, share, weights=w)] = True
    cond[:, C["pregnancy"]] = pregnant

    # Family-doctor signing (家庭医生签约): common for older and chronic locals, rare for migrants.
    p_signed = np.where(
        mig,
        0.08 + 0.22 * chronic + 0.10 * pop.has_residence_permit,
        0.30 + 0.40 * (chronic | (age >= 65)) + 0.15 * (level > 0),
    )
    signed = rng.random(n) < np.minimum(p_signed, 0.95)

    # Control: an exact share per (hukou, has hypertension or diabetes) stratum, so that the
    # rate is the same whether read from the truth flag or from the latest readings.
    measurable = cond[:, C["hypertension"]] | cond[:, C["diabetes"]]
    controlled = np.zeros(n, dtype=bool)
    for migrant, share in CONTROL_SHARE.items():
        for meas in (True, False):
            group = np.flatnonzero(chronic & (mig == migrant) & (measurable == meas))
            controlled[quota(rng, group, share, weights=np.where(signed[group], 2.0, 1.0))] = True
    # Who fails control among those with both conditions: blood pressure, glucose or both.
    both = cond[:, C["hypertension"]] & cond[:, C["diabetes"]]
    fail = rng.choice(3, size=n, p=[0.5, 0.25, 0.25])
    bp_ok = controlled | (cond[:, C["hypertension"]] & ~controlled & both & (fail == 1))
    glucose_ok = controlled | (cond[:, C["diabetes"]] & ~controlled & both & (fail == 0))
    bp_ok = np.where(cond[:, C["hypertension"]], bp_ok, True)
    glucose_ok = np.where(cond[:, C["diabetes"]], glucose_ok, True)

    # Electronic health record coverage: everyone known to the health system for a reason,
    # plus most locals and about two thirds of other migrants (longer stay, more likely).
    months = np.where(
        mig, (AS_OF_D - pop.arrival).astype("timedelta64[D]").astype(np.int64) / 30.44, 999
    )
    p_ehr = np.where(mig, np.where(months >= 12, 0.75, 0.45), 0.95)
    has_ehr = (
        chronic | pregnant | (age <= 14) | (level > 0) | cond[:, C["tb"]] | (rng.random(n) < p_ehr)
    )
    return Health(
        conditions=cond,
        chronic=chronic,
        controlled=controlled & chronic,
        bp_ok=bp_ok,
        glucose_ok=glucose_ok,
        disability_level=level,
        is_pregnant=pregnant,
        signed_family_doctor=signed,
        has_ehr=has_ehr,
    )


@dataclass
class Screens:
    """Mental-health screens from field surveys: one row per screen (PHQ-9 and GAD-7 together)."""

    person: np.ndarray
    date: np.ndarray
    phq9: np.ndarray
    gad7: np.ndarray
    latest: np.ndarray  # True on each person's most recent screen
    latest_phq9: np.ndarray  # per resident, -1 when never screened
    latest_gad7: np.ndarray


def _negative(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    return rng.binomial(9, p, n).astype(np.int64)


def _positive(rng: np.random.Generator, n: int, mean: float, cap: int) -> np.ndarray:
    return np.minimum(10 + np.floor(rng.exponential(mean, n)), cap).astype(np.int64)


def assign_screens(rng: np.random.Generator, pop: Population, health: Health) -> Screens:
    """Survey ~30 % of adults; give exact shares of positive latest PHQ-9 and GAD-7 screens."""
    n = pop.n
    adults = np.flatnonzero(pop.age >= 18)
    # Grid workers reach migrants more (they are the survey's focus).
    surveyed = quota(rng, adults, SURVEY_SHARE, weights=np.where(pop.migrant[adults], 1.3, 1.0))
    occ = pop.occupation
    gig = np.isin(
        occ, [OCC["delivery"], OCC["ride_hailing"], OCC["manufacturing"], OCC["construction"]]
    )
    phq_pos = np.zeros(n, dtype=bool)
    gad_pos = np.zeros(n, dtype=bool)
    for migrant in (True, False):
        group = surveyed[pop.migrant[surveyed] == migrant]
        w = (
            np.where(gig[group] & pop.migrant[group], 1.3, 1.0)
            * np.where(pop.hh_size[pop.household[group]] == 1, 1.5, 1.0)
            * np.where(pop.moves_12m[group] >= 2, 1.3, 1.0)
            * np.where(health.chronic[group], 1.3, 1.0)
        )
        phq_pos[quota(rng, group, PHQ9_POSITIVE_SHARE[migrant], weights=w)] = True
        w_gad = np.where(phq_pos[group], 5.0, 1.0)
        gad_pos[quota(rng, group, GAD7_POSITIVE_SHARE[migrant], weights=w_gad)] = True

    m = surveyed.size
    since = in_city_since(pop)
    latest_date = not_before(rng, AS_OF_D - rng.integers(0, 330, m), since[surveyed])
    phq = np.where(phq_pos[surveyed], _positive(rng, m, 3.5, 27), _negative(rng, m, 0.3))
    gad = np.where(gad_pos[surveyed], _positive(rng, m, 3.0, 21), _negative(rng, m, 0.28))
    # A quarter were screened once before; those earlier scores are free to differ.
    again = rng.random(m) < 0.25
    earlier_date_all = latest_date - rng.integers(180, 450, m)
    # Only screens taken while living here count; an earlier one before arrival never happened.
    again &= earlier_date_all >= since[surveyed]
    earlier = surveyed[again]
    k = earlier.size
    earlier_date = earlier_date_all[again]
    p_earlier = np.where(pop.migrant[earlier], 0.25, 0.12)
    early_pos = rng.random(k) < p_earlier
    early_phq = np.where(early_pos, _positive(rng, k, 3.0, 27), _negative(rng, k, 0.3))
    early_gad = np.where(
        early_pos & (rng.random(k) < 0.5), _positive(rng, k, 2.5, 21), _negative(rng, k, 0.28)
    )

    person = np.concatenate([surveyed, earlier])
    order = np.lexsort((np.concatenate([latest_date, earlier_date]), person))
    latest_flag = np.concatenate([np.ones(m, dtype=bool), np.zeros(k, dtype=bool)])
    latest_phq = np.full(n, -1, dtype=np.int64)
    latest_gad = np.full(n, -1, dtype=np.int64)
    latest_phq[surveyed] = phq
    latest_gad[surveyed] = gad

    # Few people with a positive screen have sought help and carry a diagnosis (9 % per the source).
    pos = np.flatnonzero(latest_phq >= 10)
    health.conditions[quota(rng, pos, 0.09), C["depression"]] = True
    rest = np.flatnonzero((pop.age >= 18) & (latest_phq < 10))
    health.conditions[quota(rng, rest, 0.01), C["depression"]] = True
    pos = np.flatnonzero(latest_gad >= 10)
    health.conditions[quota(rng, pos, 0.06), C["anxiety"]] = True
    rest = np.flatnonzero((pop.age >= 18) & (latest_gad < 10))
    health.conditions[quota(rng, rest, 0.008), C["anxiety"]] = True

    return Screens(
        person=person[order],
        date=np.concatenate([latest_date, earlier_date])[order],
        phq9=np.concatenate([phq, early_phq])[order],
        gad7=np.concatenate([gad, early_gad])[order],
        latest=latest_flag[order],
        latest_phq9=latest_phq,
        latest_gad7=latest_gad,
    )


@dataclass
class Readings:
    """Blood-pressure and glucose readings, sorted by resident then time."""

    person: np.ndarray
    measured_at: np.ndarray  # datetime64[s]
    kind: np.ndarray  # 0 = bp, 1 = glucose
    channel: np.ndarray  # 0 = clinic, 1 = home device
    sbp: np.ndarray  # -1 when not a bp reading
    dbp: np.ndarray
    glucose: np.ndarray  # nan when not a glucose reading


def _series(
    rng: np.random.Generator,
    people: np.ndarray,
    count: np.ndarray,
    latest_gap: np.ndarray,
    since: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows (person, date) of ``count`` readings per person, ~2-4 months apart, newest first.

    Nothing is measured here before ``since`` (birth or arrival): the newest reading moves
    after it, older ones that would predate it are dropped.
    """
    person = np.repeat(people, count)
    gap = rng.integers(60, 125, person.size)
    starts = np.concatenate([[0], np.cumsum(count)[:-1]])
    first = np.zeros(person.size, dtype=bool)
    first[starts[count > 0]] = True
    gap[first] = np.repeat(latest_gap, count)[first]
    total = np.cumsum(gap)
    offset = total - np.repeat(total[starts] - gap[starts], count)
    day = AS_OF_D - offset
    earliest = since[person]
    day = np.where(first, not_before(rng, day, earliest), day)
    keep = first | (day >= earliest)
    return person[keep], day[keep]


def _bp_values(rng: np.random.Generator, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blood pressure consistent with a control flag: ok ⇔ sbp < 140 and dbp < 90."""
    n = ok.size
    sbp_ok, dbp_ok = rng.integers(108, 140, n), rng.integers(62, 90, n)
    diastolic_only = rng.random(n) < 0.15
    sbp_bad = np.where(diastolic_only, rng.integers(125, 140, n), rng.integers(140, 182, n))
    dbp_bad = np.where(diastolic_only, rng.integers(90, 102, n), rng.integers(78, 108, n))
    return np.where(ok, sbp_ok, sbp_bad), np.where(ok, dbp_ok, dbp_bad)


def _glucose_values(rng: np.random.Generator, ok: np.ndarray) -> np.ndarray:
    """Fasting glucose (mmol/L, one decimal) consistent with control: ok ⇔ < 7.0."""
    good = np.round(rng.uniform(4.6, 6.95, ok.size), 1)
    bad = np.round(rng.uniform(7.0, 13.5, ok.size), 1)
    return np.where(ok, np.minimum(good, 6.9), np.maximum(bad, 7.0))


def build_readings(rng: np.random.Generator, pop: Population, health: Health) -> Readings:
    """Clinic follow-up readings, home-device series and one-off check-ups.

    Each resident's latest reading agrees with their control flag; home-device users who are
    not controlled show three high days running (the alert rule of R-MN-1 fires on them).
    """
    mig, signed = pop.migrant, health.signed_family_doctor
    since = in_city_since(pop)
    parts: list[tuple[np.ndarray, ...]] = []

    def clinic(people: np.ndarray, kind: int, ok: np.ndarray) -> None:
        lo = np.where(mig[people], np.where(signed[people], 3, 1), np.where(signed[people], 4, 2))
        hi = np.where(mig[people], np.where(signed[people], 6, 4), np.where(signed[people], 8, 5))
        count = lo + np.floor(rng.random(people.size) * (hi - lo + 1)).astype(np.int64)
        gap_max = np.where(mig[people], 300, np.where(signed[people], 90, 240))
        latest_gap = np.floor(rng.random(people.size) * gap_max).astype(np.int64)
        person, day = _series(rng, people, count, latest_gap, since)
        seconds = rng.integers(8 * 3600, 17 * 3600, person.size)
        parts.append(
            (
                person,
                day,
                seconds,
                np.full(person.size, kind),
                np.zeros(person.size, dtype=np.int64),
            )
        )

    ht = np.flatnonzero(health.has("hypertension") & health.has_ehr)
    dm = np.flatnonzero(health.has("diabetes") & health.has_ehr)
    clinic(ht, 0, health.bp_ok[ht])
    clinic(dm, 1, health.glucose_ok[dm])

    # Home blood-pressure monitors: two weeks of morning readings up to the reference date.
    device_users = ht[pop.own_phone[ht] & (pop.age[ht] < 80) & (rng.random(ht.size) < 0.10)]
    days = 14
    person = np.repeat(device_users, days)
    back = np.tile(np.arange(days - 1, -1, -1), device_users.size)
    seconds = rng.integers(int(6.5 * 3600), int(8.5 * 3600), person.size)
    parts.append(
        (
            person,
            AS_OF_D - back,
            seconds,
            np.zeros(person.size, dtype=np.int64),
            np.ones(person.size, dtype=np.int64),
        )
    )

    # One-off check-ups of people without the condition; a few reveal undiagnosed disease.
    others = np.flatnonzero(health.has_ehr & (pop.age >= 35) & ~health.has("hypertension"))
    checked = others[rng.random(others.size) < 0.30]
    parts.append(
        (
            checked,
            not_before(rng, AS_OF_D - rng.integers(0, 730, checked.size), since[checked]),
            rng.integers(8 * 3600, 17 * 3600, checked.size),
            np.zeros(checked.size, dtype=np.int64),
            np.zeros(checked.size, dtype=np.int64),
        )
    )
    others = np.flatnonzero(health.has_ehr & (pop.age >= 35) & ~health.has("diabetes"))
    checked = others[rng.random(others.size) < 0.20]
    parts.append(
        (
            checked,
            not_before(rng, AS_OF_D - rng.integers(0, 730, checked.size), since[checked]),
            rng.integers(8 * 3600, 17 * 3600, checked.size),
            np.ones(checked.size, dtype=np.int64),
            np.zeros(checked.size, dtype=np.int64),
        )
    )

    person = np.concatenate([p[0] for p in parts])
    day = np.concatenate([p[1] for p in parts])
    seconds = np.concatenate([p[2] for p in parts])
    kind = np.concatenate([p[3] for p in parts])
    channel = np.concatenate([p[4] for p in parts])
    stamp = day.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    order = np.lexsort((stamp, kind, person))
    person, stamp, kind, channel = person[order], stamp[order], kind[order], channel[order]
    m = person.size

    # Values: condition holders scatter around their own level; others are mostly normal.
    ht_flag = health.has("hypertension")[person]
    dm_flag = health.has("diabetes")[person]
    bp_ok_row = np.where(
        ht_flag, health.bp_ok[person] | (rng.random(m) < 0.35), rng.random(m) >= 0.08
    )
    bp_ok_row = np.where(ht_flag & health.bp_ok[person], rng.random(m) >= 0.15, bp_ok_row)
    glu_ok_row = np.where(
        dm_flag, health.glucose_ok[person] | (rng.random(m) < 0.35), rng.random(m) >= 0.05
    )
    glu_ok_row = np.where(dm_flag & health.glucose_ok[person], rng.random(m) >= 0.15, glu_ok_row)

    # The latest reading of each kind, and the last three device days, follow the control flag.
    key = person * 2 + kind
    last = np.concatenate([key[1:] != key[:-1], [True]]) if m else np.zeros(0, dtype=bool)
    recent_device = (channel == 1) & (stamp >= (AS_OF_D - 2).astype("datetime64[s]"))
    forced = (last | recent_device) & (ht_flag | dm_flag)
    bp_ok_row = np.where(forced & ht_flag, health.bp_ok[person], bp_ok_row)
    glu_ok_row = np.where(forced & dm_flag, health.glucose_ok[person], glu_ok_row)

    sbp, dbp = _bp_values(rng, bp_ok_row)
    glucose = _glucose_values(rng, glu_ok_row)
    is_bp = kind == 0
    return Readings(
        person=person,
        measured_at=stamp,
        kind=kind,
        channel=channel,
        sbp=np.where(is_bp, sbp, -1),
        dbp=np.where(is_bp, dbp, -1),
        glucose=np.where(is_bp, np.nan, glucose),
    )
