"""Benefit stacking (一站式结算): what a person pays of a medical bill after every benefit.

The benefits apply in a fixed order, each to what the previous ones left (R-PV-2):

1. basic medical insurance (基本医保),
2. critical-illness insurance (大病保险),
3. medical assistance by the household's tier (医疗救助),
4. temporary relief (临时救助).

At each stage the policies of that stage whose eligibility rule holds for the person are
candidates; benefits of one stage do not add up, so the candidate that pays most is used (a
poor household's critical-illness variant beats the general one). A step pays

    paid = min(cap, rate × max(0, base − deductible)),   rounded to the fen (half up)

where ``base`` is what is left before the step, ``rate`` defaults to 1 (a relief with only a
cap pays everything up to it), a missing deductible is 0 and a missing cap is no cap. Every
figure comes from the library (:func:`carematch.policy.library.benefit_library`), none from
here. The engine is pure: plain values in, plain values out, money as :class:`~decimal.Decimal`
so that steps add up to the fen.

A policy names its stage with ``stage``; the shared library's medical-assistance and
temporary-relief policies cannot carry the field (the file is a verbatim copy), so their
stage is inferred: a ``relief`` benefit with a rate whose services include
``medical_assistance`` is medical assistance; a ``relief`` benefit with a cap and no rate whose
services include ``temporary_relief`` is temporary relief.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from carematch.policy.library import STAGES, Policy, PolicyLibrary

FEN = Decimal("0.01")
RELIEF_STAGES = ("medical_assistance", "temporary_relief")
"""The stages paid by civil affairs from the relief side (what a relief case pays)."""


def money(value: Decimal | float | int | str) -> Decimal:
    """Yuan rounded to the fen (half up), as a Decimal."""
    return Decimal(str(value)).quantize(FEN, rounding=ROUND_HALF_UP)


def stage_of(policy: Policy) -> str | None:
    """The settlement stage a policy pays in (explicit ``stage``, or inferred), or None."""
    if policy.stage is not None:
        return policy.stage
    benefit = policy.benefit
    if benefit.kind != "relief":
        return None
    if benefit.rate is not None and "medical_assistance" in policy.services:
        return "medical_assistance"
    if benefit.rate is None and benefit.cap is not None and "temporary_relief" in policy.services:
        return "temporary_relief"
    return None


def stage_policies(library: Iterable[Policy]) -> dict[str, list[Policy]]:
    """The library's policies of each stage, in library order."""
    out: dict[str, list[Policy]] = {stage: [] for stage in STAGES}
    for policy in library:
        stage = stage_of(policy)
        if stage is not None:
            out[stage].append(policy)
    return out


@dataclass(frozen=True)
class Step:
    """One benefit applied: the policy, what it was applied to and what it paid."""

    stage: str
    policy_id: str
    base: Decimal
    """What was left to pay before this step."""
    deductible: Decimal
    rate: Decimal
    cap: Decimal | None
    paid: Decimal
    remaining: Decimal
    """What is left after this step."""

    def as_dict(self) -> dict[str, Any]:
        """The step as JSON-friendly numbers (yuan as floats rounded to the fen)."""
        return {
            "stage": self.stage,
            "policy_id": self.policy_id,
            "base": float(self.base),
            "deductible": float(self.deductible),
            "rate": float(self.rate),
            "cap": None if self.cap is None else float(self.cap),
            "paid": float(self.paid),
            "remaining": float(self.remaining),
        }


@dataclass(frozen=True)
class Stacking:
    """A bill through every applicable benefit: the steps and what the person still pays."""

    total: Decimal
    steps: tuple[Step, ...]

    @property
    def out_of_pocket(self) -> Decimal:
        """What is left after the last step (the whole bill when nothing applies)."""
        return self.steps[-1].remaining if self.steps else self.total

    @property
    def paid(self) -> Decimal:
        """What the benefits paid together."""
        return self.total - self.out_of_pocket

    def paid_in(self, stages: Iterable[str]) -> Decimal:
        """What the steps of some stages paid (e.g. the relief side's)."""
        wanted = set(stages)
        return sum((s.paid for s in self.steps if s.stage in wanted), Decimal("0.00"))

    def as_dict(self) -> dict[str, Any]:
        """Total, every step and the out-of-pocket, as JSON-friendly numbers."""
        return {
            "total": float(self.total),
            "steps": [s.as_dict() for s in self.steps],
            "out_of_pocket": float(self.out_of_pocket),
        }


def apply_benefit(policy: Policy, stage: str, base: Decimal) -> Step:
    """One policy's step on what is left (``base``): deductible, rate, cap, rounded."""
    benefit = policy.benefit
    deductible = money(benefit.deductible or 0)
    rate = Decimal(str(benefit.rate)) if benefit.rate is not None else Decimal(1)
    cap = None if benefit.cap is None else money(benefit.cap)
    eligible = max(Decimal("0.00"), base - deductible)
    paid = money(eligible * rate)
    if cap is not None:
        paid = min(paid, cap)
    paid = min(paid, base)  # never more than is left (rate ≤ 1 already ensures it)
    return Step(stage, policy.id, base, deductible, rate, cap, paid, base - paid)


def stack(
    policies: Mapping[str, Sequence[Policy]],
    total: Decimal | float | int | str,
    eligible: Iterable[str],
    *,
    stages: Sequence[str] = STAGES,
) -> Stacking:
    """Apply, stage by stage, the best of the eligible policies to what is left of ``total``.

    Args:
        policies: each stage's policies (:func:`stage_policies`).
        total: the bill in yuan (its eligible, in-policy cost), ≥ 0.
        eligible: ids of the policies whose eligibility holds for the person.
        stages: the stages to apply, in settlement order (the relief side alone, say).

    Raises:
        ValueError: a negative total.
    """
    amount = money(total)
    if amount < 0:
        raise ValueError(f"a bill cannot be negative (got {amount})")
    ids = set(eligible)
    steps: list[Step] = []
    left = amount
    for stage in STAGES:
        if stage not in stages:
            continue
        candidates = [apply_benefit(p, stage, left) for p in policies.get(stage, ()) if p.id in ids]
        if not candidates:
            continue
        # The one that pays most; on a tie (say both 0 below the deductibles) the one that
        # would pay most on a bigger bill: lower deductible, then higher rate, then library order.
        best = max(candidates, key=lambda s: (s.paid, -s.deductible, s.rate))
        steps.append(best)
        left = best.remaining
    return Stacking(amount, tuple(steps))


def eligible_ids(
    library: PolicyLibrary,
    features: Mapping[str, Any],
    conditions: Iterable[str] = (),
    *,
    as_of: date | None = None,
) -> set[str]:
    """Ids of the library's stage policies whose rule holds for a person (unknown: no)."""
    from carematch.policy.eligibility import person_verdicts

    staged = PolicyLibrary(p for ps in stage_policies(library.values()).values() for p in ps)
    codes = [c for c in conditions if c]
    verdicts = person_verdicts(staged, features, codes, as_of or date.today())
    return {v.policy.id for v in verdicts if v.eligible}


def stack_for_person(
    library: PolicyLibrary,
    total: Decimal | float | int | str,
    features: Mapping[str, Any],
    conditions: Iterable[str] = (),
    *,
    as_of: date | None = None,
    stages: Sequence[str] = STAGES,
) -> Stacking:
    """A person's bill through every benefit the library gives them (the usual entry point).

    ``features`` by the feature dictionary (``insurance``, ``household_status``, ``oop_12m``,
    ``income_12m`` are the ones the stage policies read); a missing one is unknown, and a
    rule it leaves unknown does not hold.

    Examples:
        >>> from carematch.policy.library import benefit_library
        >>> r = stack_for_person(benefit_library(), 10000, {"insurance": "resident"})
        >>> float(r.out_of_pocket)  # 10000 − 0.6 × (10000 − 600)
        4360.0
    """
    ids = eligible_ids(library, features, conditions, as_of=as_of)
    return stack(stage_policies(library.values()), total, ids, stages=stages)


def service_cost(
    library: PolicyLibrary,
    service: str,
    price: Decimal | float | int | str,
    features: Mapping[str, Any],
    conditions: Iterable[str] = (),
    *,
    as_of: date | None = None,
    free: Iterable[str] | None = None,
) -> Decimal:
    """What a person can expect to pay for one service at a price (matching's cost objective).

    Nothing when a ``free_service`` policy the person is eligible for lists the service (the
    free check-up, vaccines of the programme …); otherwise the price through every benefit the
    person has (:func:`stack_for_person`).

    Args:
        free: the services the person's free-service policies cover, when the caller has
            worked them out already (one person, many options); computed here otherwise.
    """
    if free is None:
        free = free_services(library, features, conditions, as_of=as_of)
    if service in set(free):
        return Decimal("0.00")
    return stack_for_person(library, price, features, conditions, as_of=as_of).out_of_pocket


def free_services(
    library: PolicyLibrary,
    features: Mapping[str, Any],
    conditions: Iterable[str] = (),
    *,
    as_of: date | None = None,
) -> set[str]:
    """The services some free-service policy the person is eligible for carries out."""
    from carematch.policy.eligibility import person_verdicts

    free_policies = PolicyLibrary(p for p in library.values() if p.benefit.kind == "free_service")
    verdicts = person_verdicts(
        free_policies, features, [c for c in conditions if c], as_of or date.today()
    )
    return {code for v in verdicts if v.eligible for code in v.policy.services}
