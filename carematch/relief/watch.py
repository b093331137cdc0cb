"""The out-of-pocket watch (因病返贫监测), pure: a household's rolling 12-month out-of-pocket,
which trigger policies hold, and the cause of the hardship.

Plain values in, plain values out: no database, no web. The service feeds it the registered
households' members, their settlements and health records.

- **Out-of-pocket**: the sum of the members' settlements' ``out_of_pocket`` dated in
  ``(as_of − 12 months, as_of]``, a settlement exported twice (same person, date, facility,
  visit type and amounts under another record id) counted once — the same rule as the
  features view's ``oop_12m``, so the watch and eligibility agree.
- **Triggers** come from the library: :data:`TRIGGER_POLICIES` are evaluated with the
  household's ``household_status``, ``oop_12m`` and ``income_12m`` (P-ANTI-RETURN: lifted,
  monitored or marginal and over 5,000 yuan; P-TEMP-RELIEF: over 5,000 and at least 30 % of the
  income). No threshold is written here.
- **Cause** (R-PV-2), the first that applies:

  1. *major illness* (大病): a member has a major-illness condition (:data:`MAJOR_CONDITIONS`)
     or an in-patient settlement in the window costing at least :data:`MAJOR_BILL` yuan;
  2. *loss of working capacity* (丧失劳动能力): a working-age member (16–59) with a disability
     level of 3 or 4 (severe; the Barthel-based scale of the feature dictionary);
  3. *chronic disease* (慢性病): otherwise — the spending built up from out-patient care.

  Each class carries its intervention (:data:`INTERVENTIONS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from carematch.policy.library import PolicyLibrary
from carematch.policy.stacking import money

TRIGGER_POLICIES = ("P-ANTI-RETURN", "P-TEMP-RELIEF")
"""The library's policies whose eligibility opens a relief case."""
MAJOR_CONDITIONS = frozenset({"cancer", "stroke", "pneumoconiosis", "hiv", "tb"})
MAJOR_BILL = Decimal("10000")
WORKING_AGE = (16, 59)
SEVERE_DISABILITY = 3
CAUSES = ("major_illness", "loss_of_working_capacity", "chronic_disease")
INTERVENTIONS = {
    "major_illness": "one-stop settlement: basic insurance, critical illness, assistance, relief",
    "loss_of_working_capacity": "minimum living allowance or extreme-hardship support",
    "chronic_disease": "family-doctor signing and out-patient chronic-disease reimbursement",
}


@dataclass(frozen=True)
class Settlement:
    """One insurance settlement (医保结算) of a member."""

    person_id: str
    settlement_date: date
    facility_code: str | None
    visit_type: str | None
    total_cost: Decimal
    out_of_pocket: Decimal


@dataclass(frozen=True)
class Member:
    """A member of a registered household, with what the cause classification reads."""

    person_id: str
    age: int | None = None
    disability_level: int = 0
    conditions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Household:
    """A registered household: its status and income from the registry, its members."""

    household_id: str
    status: str
    income_12m: Decimal
    region_code: str | None
    members: tuple[Member, ...] = field(default_factory=tuple)


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (the month's last day when it has no such day)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - every month has a 28th


def in_window(settlements: Iterable[Settlement], as_of: date) -> list[Settlement]:
    """The settlements of the 12 months up to ``as_of``, each counted once."""
    start = months_before(as_of, 12)
    seen: set[tuple[Any, ...]] = set()
    out = []
    for s in settlements:
        if not start < s.settlement_date <= as_of:
            continue
        key = (
            s.person_id,
            s.settlement_date,
            s.facility_code,
            s.visit_type,
            s.total_cost,
            s.out_of_pocket,
        )
        if key in seen:
            continue
        seen.add(key)
        out.append(s)
    return out


def out_of_pocket_12m(settlements: Iterable[Settlement], as_of: date) -> Decimal:
    """The household's out-of-pocket over the 12 months up to ``as_of``, in yuan."""
    return money(sum((s.out_of_pocket for s in in_window(settlements, as_of)), Decimal(0)))


def household_features(status: str, oop_12m: Decimal, income_12m: Decimal) -> dict[str, Any]:
    """The features the trigger and tier policies read, by the feature dictionary's names."""
    return {
        "household_status": status,
        "oop_12m": float(oop_12m),
        "income_12m": float(income_12m),
    }


def triggers(
    library: PolicyLibrary, status: str, oop_12m: Decimal, income_12m: Decimal
) -> tuple[str, ...]:
    """The trigger policies whose eligibility holds for the household, in library order."""
    values = household_features(status, oop_12m, income_12m)
    held = []
    for policy_id in TRIGGER_POLICIES:
        policy = library.get(policy_id)
        if policy is None:
            continue
        known = {name: values.get(name) for name in policy.rule.features}
        if policy.rule.evaluate(known):
            held.append(policy_id)
    return tuple(held)


@dataclass(frozen=True)
class Cause:
    """The class of a household's hardship, why, and what to do about it."""

    cause: str
    evidence: tuple[str, ...]

    @property
    def intervention(self) -> str:
        return INTERVENTIONS[self.cause]


def classify_cause(
    members: Sequence[Member], settlements: Iterable[Settlement], as_of: date
) -> Cause:
    """Major illness, loss of working capacity or chronic disease (rule in the module's doc)."""
    evidence: list[str] = []
    for m in members:
        for code in sorted(m.conditions & MAJOR_CONDITIONS):
            evidence.append(f"condition:{code}")
    for s in in_window(settlements, as_of):
        if s.visit_type == "inpatient" and s.total_cost >= MAJOR_BILL:
            evidence.append(f"inpatient:{s.settlement_date.isoformat()}:{s.total_cost}")
    if evidence:
        return Cause("major_illness", tuple(evidence))
    low, high = WORKING_AGE
    for m in members:
        if m.age is not None and low <= m.age <= high and m.disability_level >= SEVERE_DISABILITY:
            evidence.append(f"disability_level:{m.disability_level}:age:{m.age}")
    if evidence:
        return Cause("loss_of_working_capacity", tuple(evidence))
    chronic = sorted({c for m in members for c in m.conditions})
    return Cause("chronic_disease", tuple(f"condition:{c}" for c in chronic))


@dataclass(frozen=True)
class Watched:
    """What the watch says about one household on one day."""

    household: Household
    oop_12m: Decimal
    triggers: tuple[str, ...]

    @property
    def at_risk(self) -> bool:
        return bool(self.triggers)


def watch(
    library: PolicyLibrary,
    household: Household,
    settlements: Iterable[Settlement],
    as_of: date,
) -> Watched:
    """One household's 12-month out-of-pocket and the triggers it crosses."""
    oop = out_of_pocket_12m(settlements, as_of)
    return Watched(household, oop, triggers(library, household.status, oop, household.income_12m))


def by_household(
    settlements: Iterable[Settlement], household_of: Mapping[str, str]
) -> dict[str, list[Settlement]]:
    """Settlements grouped by the household of their person (others dropped)."""
    out: dict[str, list[Settlement]] = {}
    for s in settlements:
        household = household_of.get(s.person_id)
        if household is not None:
            out.setdefault(household, []).append(s)
    return out
