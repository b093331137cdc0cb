"""A person's policies under /api/v1; every route declares its authorisation."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from carematch.api.deps import SessionDep
from carematch.policy import service
from carematch.policy.schemas import (
    BenefitPublic,
    PersonPoliciesPublic,
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
