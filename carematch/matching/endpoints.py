"""Recommendations under /api/v1; every route declares its authorisation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from carematch.api.deps import SessionDep
from carematch.matching import service
from carematch.matching.errors import InvalidWeights
from carematch.security.authz import Principal, require
from carematch.web import i18n

router = APIRouter(tags=["matching"])

Matcher = Annotated[Principal, Depends(require("official", "doctor", "grid_worker", "vaccinator"))]


def parse_weights(text: str | None) -> dict[str, float] | None:
    """``distance:1,wait:0.5`` → weights; None keeps the defaults.

    Raises:
        InvalidWeights: a part that is not ``name:number``.
    """
    if text is None or not text.strip():
        return None
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition(":")
        try:
            if not sep:
                raise ValueError
            weights[name.strip()] = float(value)
        except ValueError:
            raise InvalidWeights(
                f"weights part {part.strip()!r} is not name:number (e.g. distance:1,wait:0.5)"
            ) from None
    return weights


@router.get("/persons/{person_id}/recommendations")
def person_recommendations(
    request: Request,
    session: SessionDep,
    principal: Matcher,
    person_id: str,
    service_code: Annotated[str | None, Query(alias="service", max_length=64)] = None,
    weights: Annotated[
        str | None,
        Query(max_length=300, description="e.g. distance:1,wait:0.5 (others weigh 0)"),
    ] = None,
    at: Annotated[datetime | None, Query(description="when the person asks (default now)")] = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> dict[str, Any]:
    """Ranked providers, Pareto front and a one-line reason each, for the person's open needs.

    404 outside the caller's jurisdiction; the read is audited.
    """
    if at is not None and not 1900 <= at.year <= 9000:
        raise InvalidWeights(f"at {at.isoformat()} is outside the years 1900-9000")
    locale = i18n.negotiate(request)
    result = service.recommend_for_person(
        session,
        principal,
        person_id,
        gettext=i18n.translations(locale).gettext,
        service=service_code,
        weights=parse_weights(weights),
        at=at,
        limit=limit,
    )
    return service.as_json(result)
