"""A person's policies under /api/v1; every route declares its authorisation."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from carematch.api.deps import SessionDep
from carematch.policy import service
from carematch.policy.cases import CASE_READERS
from carematch.policy.schemas import (
    BenefitPublic,
    PersonPoliciesPublic,
    PolicyCasePublic,
    PolicySearchHitPublic,
    PolicySearchPublic,
    PolicyVerdictPublic,
    ServicePublic,
)
from carematch.providers.catalogue import service_catalogue
from carematch.security.authz import Principal, require

router = APIRouter(tags=["policy"])

# The verdicts reveal health and welfare facts (the `because` values): clinicians, officials
# and grid workers of the person's jurisdiction read them; residents for their own family.
PolicyReader = Annotated[
    Principal, Depends(require("official", "doctor", "grid_worker", "resident"))
]


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


@router.get("/persons/{person_id}/policies", response_model=PersonPoliciesPublic)
def person_policies(
    session: SessionDep,
    principal: PolicyReader,
    person_id: str,
    as_of: Annotated[date | None, Query(description="evaluation date (default today)")] = None,
) -> PersonPoliciesPublic:
    """Every policy for a person: eligible or not, why, the benefit and the services (audited)."""
    found = service.person_policies(session, principal, person_id, as_of)
    catalogue = service_catalogue()
    items = []
    for verdict in found.verdicts:
        policy = verdict.policy
        items.append(
            PolicyVerdictPublic(
                id=policy.id,
                title=policy.title,
                title_en=policy.title_en,
                department=policy.department,
                eligible=verdict.eligible,
                because={k: _jsonable(v) for k, v in verdict.because.items()},
                eligibility=policy.eligibility,
                benefit=BenefitPublic(**policy.benefit.as_dict()),
                services=[
                    ServicePublic(code=c, name=catalogue[c].name, name_en=catalogue[c].name_en)
                    for c in policy.services
                    if c in catalogue
                ],
            )
        )
    return PersonPoliciesPublic(
        person_id=found.person_id,
        as_of=found.as_of,
        eligible=sorted(v.policy.id for v in found.verdicts if v.eligible),
        policies=items,
    )


# Searching the library is not a person read; with a person (a resident's own self by default)
# it is, and follows the same access rules as /persons/{id}/policies.
Searcher = Annotated[Principal, Depends(require("official", "doctor", "grid_worker", "resident"))]
CaseReader = Annotated[Principal, Depends(require(*CASE_READERS))]


@router.get("/policy/search", response_model=PolicySearchPublic)
def policy_search(
    session: SessionDep,
    principal: Searcher,
    q: Annotated[str, Query(max_length=500, description="the question, in everyday Chinese")],
    top: Annotated[int, Query(ge=1, le=50)] = 5,
    person_id: Annotated[
        str | None, Query(description="rank for this person (eligible first, why for others)")
    ] = None,
    as_of: Annotated[date | None, Query(description="evaluation date (default today)")] = None,
) -> PolicySearchPublic:
    """The policies answering a question, each with the clause that answers best."""
    found = service.search(session, principal, q, top, person_id, as_of)
    catalogue = service_catalogue()
    results = []
    for hit in found.hits:
        policy = found.library[hit.id]
        results.append(
            PolicySearchHitPublic(
                id=hit.id,
                title=policy.title,
                department=policy.department,
                score=hit.score,
                clause=hit.clause,
                eligible=hit.eligible,
                why=hit.why,
                services=[
                    ServicePublic(code=c, name=catalogue[c].name, name_en=catalogue[c].name_en)
                    for c in policy.services
                    if c in catalogue
                ],
            )
        )
    return PolicySearchPublic(q=q, person_id=found.person_id, results=results)


@router.get("/policy/cases", response_model=list[PolicyCasePublic])
def policy_cases(
    principal: CaseReader,
    q: Annotated[
        str | None, Query(max_length=500, description="a question; all when empty")
    ] = None,
    top: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[PolicyCasePublic]:
    """The case library: every case, or the cases answering ``q`` best first."""
    from carematch.policy.cases import default_cases, search_cases

    cases = default_cases()
    if q is None or not q.strip():
        return [PolicyCasePublic(**c.as_dict()) for c in cases]
    return [
        PolicyCasePublic(**h.case.as_dict(), score=h.score, field=h.field, passage=h.passage)
        for h in search_cases(cases, q, top)
    ]
