"""The policy sandbox's engine (政策沙盒, R-PL-6): a draft policy against a pilot community.

Pure: plain values in (who is eligible under the draft and under each current policy, the
unit prices), a :class:`SandboxReport` out, with its Markdown and CSV renderings. The
database side (the pilot community's features, the compiled rules) is
:mod:`carematch.policy.sandbox_service`.

**How cost is estimated.** Per eligible person and year:

- ``points`` benefits cost no yuan (0);
- a fixed ``amount`` is paid once a year;
- otherwise ``uses × unit price × share``: ``uses`` is the benefit's ``quantity`` (1 when
  not given), the unit price that of the policy's first service with a price, ``share`` the
  benefit's ``rate`` (1 when not given: a free service, or full reimbursement);
- the result is limited to the benefit's ``cap``.

The total assumes every eligible person takes the benefit up (an upper bound: uptake is not
known before the pilot). A policy whose services have no price and no fixed amount (a relief
paid against each person's own medical bills) is reported as not priced rather than as 0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PricedPolicy:
    """What the estimate needs of a policy: its id, title, benefit and services."""

    id: str
    title: str
    benefit: Mapping[str, Any]
    services: tuple[str, ...]


@dataclass(frozen=True)
class Estimate:
    """A policy's yearly cost per eligible person, and how it was reached."""

    per_person: float
    priced: bool
    basis: str


def estimate(policy: PricedPolicy, prices: Mapping[str, float]) -> Estimate:
    """The yearly cost of one eligible person (see the module's rules)."""
    benefit = policy.benefit
    kind = benefit.get("kind")
    cap = benefit.get("cap")
    if kind == "points":
        return Estimate(0.0, True, "points: no yuan paid")
    if benefit.get("amount") is not None:
        value = float(benefit["amount"])
        basis = f"fixed amount {value:g}"
    else:
        priced = [(code, prices[code]) for code in policy.services if prices.get(code, 0) > 0]
        if not priced:
            if cap is not None:
                return Estimate(0.0, False, f"not priced (depends on costs; cap {cap:g})")
            return Estimate(0.0, False, "not priced (no service with a price)")
        code, price = priced[0]
        uses = int(benefit["quantity"]) if benefit.get("quantity") is not None else 1
        share = float(benefit["rate"]) if benefit.get("rate") is not None else 1.0
        value = uses * price * share
        basis = f"{uses} × {price:g} ({code}) × {share:g}"
    if cap is not None and value > float(cap):
        value = float(cap)
        basis += f", capped at {float(cap):g}"
    return Estimate(round(value, 2), True, basis)


@dataclass(frozen=True)
class Comparison:
    """A current policy sharing a service with the draft, in the same pilot community."""

    id: str
    title: str
    shared_services: list[str]
    eligible: int
    also_draft: int
    """Persons eligible for both this policy and the draft."""
    per_person: float
    cost: float
    priced: bool


@dataclass(frozen=True)
class SandboxReport:
    """The draft's outcome in the pilot community, compared with the current policies."""

    draft_id: str
    title: str
    region: str
    as_of: str
    population: int
    eligible: int
    new: int
    """Eligible under the draft and under no current policy carrying any of its services."""
    already_covered: int
    per_person: float
    cost: float
    priced: bool
    basis: str
    prices: dict[str, tuple[float, str]]
    comparisons: list[Comparison]
    replaces: str | None = None
    """The current policy of the same id the draft would replace, if any."""
    gained: int = 0
    lost: int = 0
    current_cost: float | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "draft": self.draft_id,
            "title": self.title,
            "region": self.region,
            "as_of": self.as_of,
            "population": self.population,
            "eligible": self.eligible,
            "new": self.new,
            "already_covered": self.already_covered,
            "per_person": self.per_person,
            "cost": self.cost,
            "priced": self.priced,
            "basis": self.basis,
            "prices": {k: {"price": p, "source": s} for k, (p, s) in self.prices.items()},
            "replaces": self.replaces,
            "gained": self.gained,
            "lost": self.lost,
            "current_cost": self.current_cost,
            "comparisons": [c.__dict__ for c in self.comparisons],
            "notes": list(self.notes),
        }


def compare(
    draft: PricedPolicy,
    draft_eligible: set[str],
    current: Sequence[tuple[PricedPolicy, set[str]]],
    *,
    population: int,
    prices: Mapping[str, float],
    price_sources: Mapping[str, str],
    region: str,
    as_of: str,
) -> SandboxReport:
    """Compare a draft with the current policies in a pilot community.

    Args:
        draft: the draft policy.
        draft_eligible: ids of the community's persons eligible under the draft.
        current: every current policy with its eligible persons in the community (the one
            with the draft's id, if any, is the policy it would replace).
        population: persons in the community.
        prices: unit price per service; ``price_sources`` says where each came from.
    """
    services = set(draft.services)
    covering: set[str] = set()
    comparisons = []
    replaced: tuple[PricedPolicy, set[str]] | None = None
    for policy, eligible in current:
        if policy.id == draft.id:
            replaced = (policy, eligible)
            continue
        shared = sorted(services & set(policy.services))
        if not shared:
            continue
        covering |= eligible
        cost = estimate(policy, prices)
        comparisons.append(
            Comparison(
                id=policy.id,
                title=policy.title,
                shared_services=shared,
                eligible=len(eligible),
                also_draft=len(eligible & draft_eligible),
                per_person=cost.per_person,
                cost=round(cost.per_person * len(eligible), 2),
                priced=cost.priced,
            )
        )
    comparisons.sort(key=lambda c: (-c.also_draft, c.id))
    own = estimate(draft, prices)
    covered = draft_eligible & covering
    notes = ["cost assumes every eligible person takes the benefit up (an upper bound)"]
    if not own.priced:
        notes.append("the draft is not priced: " + own.basis)
    report = SandboxReport(
        draft_id=draft.id,
        title=draft.title,
        region=region,
        as_of=as_of,
        population=population,
        eligible=len(draft_eligible),
        new=len(draft_eligible - covering),
        already_covered=len(covered),
        per_person=own.per_person,
        cost=round(own.per_person * len(draft_eligible), 2),
        priced=own.priced,
        basis=own.basis,
        prices={
            code: (float(prices.get(code, 0.0)), price_sources.get(code, "none"))
            for code in draft.services
        },
        comparisons=comparisons,
        notes=notes,
    )
    if replaced is None:
        return report
    policy, eligible = replaced
    before = estimate(policy, prices)
    return SandboxReport(
        **{
            **report.__dict__,
            "replaces": policy.id,
            "gained": len(draft_eligible - eligible),
            "lost": len(eligible - draft_eligible),
            "current_cost": round(before.per_person * len(eligible), 2),
        }
    )


def to_markdown(report: SandboxReport) -> str:
    """The report as a Markdown document (the downloadable report)."""
    lines = [
        f"# Policy sandbox: {report.title} ({report.draft_id})",
        "",
        f"Pilot community {report.region}, evaluated on {report.as_of}.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| persons in the community | {report.population} |",
        f"| eligible under the draft | {report.eligible} |",
        f"| new (no current policy for these services) | {report.new} |",
        f"| already covered by a current policy | {report.already_covered} |",
        f"| yearly cost per person (yuan) | {report.per_person:,.2f} ({report.basis}) |",
        f"| estimated yearly cost (yuan) | {report.cost:,.2f} |",
    ]
    if report.replaces:
        lines += [
            f"| replaces | {report.replaces} |",
            f"| gained / lost against it | {report.gained} / {report.lost} |",
            f"| its current yearly cost (yuan) | {report.current_cost or 0:,.2f} |",
        ]
    lines += ["", "## Current policies for the same services", ""]
    if report.comparisons:
        lines += [
            "| policy | shared services | eligible | also eligible under the draft | cost (yuan) |",
            "|---|---|---|---|---|",
        ]
        for c in report.comparisons:
            cost = f"{c.cost:,.2f}" if c.priced else "not priced"
            lines.append(
                f"| {c.id} {c.title} | {', '.join(c.shared_services)} | {c.eligible} | "
                f"{c.also_draft} | {cost} |"
            )
    else:
        lines.append("No current policy carries these services.")
    lines += ["", "## Unit prices", "", "| service | yuan | source |", "|---|---|---|"]
    for code, (price, source) in report.prices.items():
        lines.append(f"| {code} | {price:g} | {source} |")
    lines += ["", *(f"- {note}" for note in report.notes), ""]
    return "\n".join(lines)


def to_csv(report: SandboxReport) -> str:
    """The report as CSV: the draft's row, then one row per current policy compared."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["policy", "role", "region", "eligible", "new", "also_draft", "per_person", "cost"]
    )
    writer.writerow(
        [
            report.draft_id,
            "draft",
            report.region,
            report.eligible,
            report.new,
            report.eligible,
            f"{report.per_person:.2f}",
            f"{report.cost:.2f}" if report.priced else "",
        ]
    )
    for c in report.comparisons:
        writer.writerow(
            [
                c.id,
                "current",
                report.region,
                c.eligible,
                "",
                c.also_draft,
                f"{c.per_person:.2f}",
                f"{c.cost:.2f}" if c.priced else "",
            ]
        )
    return out.getvalue()
