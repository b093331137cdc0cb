"""Run a draft policy in the sandbox against a pilot community of the database (R-PL-6).

Reads the community's features view, evaluates the draft and every policy in force today in
one compiled query each (:mod:`carematch.policy.population`), prices them from the provider
registry (else the reference table) and hands plain values to the pure engine
(:mod:`carematch.policy.sandbox`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import yaml
from sqlalchemy.orm import Session

from carematch.core.clock import city_today
from carematch.core.models import Region
from carematch.policy.governance_errors import SandboxInputRejected
from carematch.policy.hearings import checked_draft
from carematch.policy.library import Policy, PolicyLibrary
from carematch.policy.population import eligible_sets, features_in, unit_prices
from carematch.policy.sandbox import PricedPolicy, SandboxReport, compare
from carematch.security import audit
from carematch.security.authz import Principal

MAX_DRAFT_CHARS = 100_000


def parse_draft(text: str) -> dict[str, Any]:
    """A draft policy from pasted YAML or JSON: one policy, or a one-policy list.

    Raises:
        SandboxInputRejected: empty, too long, not YAML/JSON, or not exactly one policy.
    """
    if not text or not text.strip():
        raise SandboxInputRejected("paste a draft policy (YAML or JSON) or pick one")
    if len(text) > MAX_DRAFT_CHARS:
        raise SandboxInputRejected(f"the draft is longer than {MAX_DRAFT_CHARS} characters")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SandboxInputRejected(f"the draft is not valid YAML or JSON{where}") from None
    except RecursionError:
        raise SandboxInputRejected("the draft is nested too deeply") from None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, Mapping):
        raise SandboxInputRejected("the draft must be one policy (a mapping with id, title, …)")
    return dict(data)


def priced(policy: Policy) -> PricedPolicy:
    """The plain values the engine needs of a policy."""
    return PricedPolicy(policy.id, policy.title, policy.benefit.as_dict(), policy.services)


def check_region(session: Session, principal: Principal, region: str) -> str:
    """A pilot area that exists and lies inside the caller's jurisdiction."""
    code = (region or "").strip()
    if not code.isdigit() or session.get(Region, code) is None:
        raise SandboxInputRejected(f"no region {code!r}: give a community or district code")
    if not principal.can_see(code):
        raise SandboxInputRejected("the pilot community must lie inside your jurisdiction")
    return code


def run_sandbox(
    session: Session,
    principal: Principal,
    definition: Mapping[str, Any],
    region: str,
    *,
    as_of: date | None = None,
    library: PolicyLibrary | None = None,
) -> SandboxReport:
    """The draft's outcome in the pilot area, compared with the policies in force (audited).

    Raises:
        PolicyLibraryError: the draft is not a valid policy (names the policy and field).
        SandboxInputRejected: the area is unknown or outside the jurisdiction.
    """
    from carematch.policy.service import library_on

    draft = checked_draft(definition)
    code = check_region(session, principal, region)
    day = as_of or city_today()
    current = library if library is not None else library_on(session, day)
    features = features_in(session, day, code)
    everyone = eligible_sets(features, current, day)
    draft_eligible = eligible_sets(features, PolicyLibrary([draft]), day)[draft.id]
    prices, sources = unit_prices(session)
    report = compare(
        priced(draft),
        draft_eligible,
        [(priced(p), everyone.get(p.id, set())) for p in current.values()],
        population=features.num_rows,
        prices=prices,
        price_sources=sources,
        region=code,
        as_of=day.isoformat(),
    )
    audit.record(
        session,
        actor=principal.username,
        action="policy_sandbox_run",
        entity="policy",
        entity_id=draft.id,
        detail={"region": code, "eligible": report.eligible, "cost": report.cost},
    )
    return report
