"""Recommendations under /api/v1; every route declares its authorisation."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from carematch.api.deps import SessionDep
from carematch.matching import service
from carematch.matching.errors import InvalidWeights
from carematch.providers.catalogue import CAPABILITIES
from carematch.providers.errors import InvalidQuery
from carematch.security.authz import Principal, public, require
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


@router.get("/services/{service_code}/recommendations", dependencies=[Depends(public())])
def service_recommendations(
    request: Request,
    session: SessionDep,
    service_code: Annotated[str, Path(max_length=64)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    need: Annotated[str | None, Query(max_length=64, description="a capability tag (擅长)")] = None,
    language: Annotated[str | None, Query(max_length=16, description="preferred language")] = None,
    weights: Annotated[str | None, Query(max_length=300)] = None,
    at: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 10,
) -> dict[str, Any]:
    """ "离我最近、最擅长我的需求": providers of a service ranked from a point, with reasons.

    Public: the registry holds no personal data and residents ask by scanning a code.
    """
    if at is not None and not 1900 <= at.year <= 9000:
        raise InvalidWeights(f"at {at.isoformat()} is outside the years 1900-9000")
    if need is not None and need not in CAPABILITIES:
        raise InvalidQuery(f"unknown need {need!r}; known: {', '.join(CAPABILITIES)}")
    locale = i18n.negotiate(request)
    result = service.recommend_at(
        session,
        service_code,
        lat,
        lon,
        gettext=i18n.translations(locale).gettext,
        needs=(need,) if need else (),
        languages=(language,) if language else (),
        weights=parse_weights(weights),
        at=at,
        limit=limit,
    )
    return asdict(result)


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
