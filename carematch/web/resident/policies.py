"""The policies I can claim on the resident portal (我能享受的政策).

For me and each registered dependant: the policies that apply, with their benefit in plain
words and a link per service to find and book it near home; the ones that do not apply are
folded below with the facts that decided it. A search box on the page answers a question in
everyday Chinese ("降压药医保能报多少") with the policy, the clause that answers and its
services, the asker's eligible policies first (carematch.policy.search). The verdicts are
the policy domain's (the same rules as ``carematch policy eligible``), from the person's
profile; every read is audited.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from carematch.api.deps import SessionDep
from carematch.booking import service as booking
from carematch.core.errors import CareMatchError
from carematch.identity.models import Person
from carematch.policy import service as policies
from carematch.policy.library import Benefit, feature_dictionary
from carematch.providers.catalogue import service_catalogue
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render

Resident = Annotated[Principal, Depends(require("resident"))]

router = APIRouter(
    prefix="/portal/policies",
    dependencies=[Depends(page_guard("resident"))],
    include_in_schema=False,
)
NO_STORE = {"Cache-Control": "no-store"}
SEARCH_TOP = 5

FREE = N_("Free of charge")
FREE_TIMES = N_("Free of charge, %(n)s times a year")
SHARE_PAID = N_("%(pct)s%% of the cost paid for you")
SUBSIDY_AMOUNT = N_("A subsidy of %(amount)s yuan")
SUBSIDY = N_("A subsidy towards the cost")
REIMBURSED = N_("Settled directly, no need to pay first and claim later")
RELIEF = N_("Relief after a review of your case")
POINTS = N_("You earn health points")
CAP = N_("up to %(cap)s yuan a year")
TIMES = N_("%(n)s services a year")
YES = N_("yes")
NO = N_("no")
UNKNOWN = N_("not on record")


def _yuan(value: float) -> str:
    return f"{value:,.0f}"


def benefit_text(benefit: Benefit, locale: str) -> str:
    """A benefit in plain words, e.g. "70% of the cost paid for you; up to 50,000 yuan a year"."""
    t = i18n.translations(locale).gettext
    parts: list[str] = []
    if benefit.kind == "free_service":
        parts.append(t(FREE_TIMES) % {"n": benefit.quantity} if benefit.quantity else t(FREE))
    elif benefit.kind == "points":
        parts.append(t(POINTS))
    elif benefit.rate is not None:
        parts.append(t(SHARE_PAID) % {"pct": f"{benefit.rate * 100:g}"})
    elif benefit.amount is not None:
        parts.append(t(SUBSIDY_AMOUNT) % {"amount": _yuan(benefit.amount)})
    else:
        parts.append(
            {"reimbursement": t(REIMBURSED), "relief": t(RELIEF)}.get(benefit.kind, t(SUBSIDY))
        )
    if benefit.kind != "free_service" and benefit.quantity:
        parts.append(t(TIMES) % {"n": benefit.quantity})
    if benefit.cap is not None:
        parts.append(t(CAP) % {"cap": _yuan(benefit.cap)})
    return ("；" if locale != "en" else "; ").join(parts)


def why_lines(because: dict[str, Any], locale: str) -> list[str]:
    """The deciding facts in words: "评估日的周岁年龄: 40", "高血压: 否"."""
    t = i18n.translations(locale).gettext
    language = "en" if locale == "en" else "zh"
    dictionary = feature_dictionary()
    lines = []
    for key, value in because.items():
        if key.startswith("has('") and key.endswith("')"):
            code = key[5:-2]
            label = dictionary.conditions.get(code, {}).get(language, code)
        elif key in dictionary:
            text = dictionary[key].description.get(language, key)
            label = text.replace("；", ";").split(";")[0].strip() or key
        else:
            label = key
        if value is None:
            shown = t(UNKNOWN)
        elif isinstance(value, bool):
            shown = t(YES) if value else t(NO)
        elif isinstance(value, date):
            shown = value.isoformat()
        else:
            shown = str(value)
        lines.append(f"{label}: {shown}")
    return lines


def _member(session: Session, principal: Principal, person_id: str, locale: str) -> dict[str, Any]:
    person = session.get(Person, person_id)
    member: dict[str, Any] = {
        "id": person_id,
        "name": (person.name if person else None) or person_id,
        "self": person_id == principal.person_id,
        "eligible": [],
        "other": [],
        "problem": None,
    }
    try:
        found = policies.person_policies(session, principal, person_id)
    except CareMatchError as exc:
        member["problem"] = exc.detail
        return member
    english = locale == "en"
    catalogue = service_catalogue()
    for verdict in found.verdicts:
        policy = verdict.policy
        entry = {
            "id": policy.id,
            "title": policy.title_en if english else policy.title,
            "department": policy.department,
            "benefit": benefit_text(policy.benefit, locale),
            "why": why_lines(verdict.because, locale),
            "services": [
                {
                    "code": code,
                    "name": catalogue[code].name_en if english else catalogue[code].name,
                    "href": "/services/nearby?" + urlencode({"service": code}),
                }
                for code in policy.services
                if code in catalogue
            ],
        }
        member["eligible" if verdict.eligible else "other"].append(entry)
    return member


def _answers(
    session: Session, principal: Principal, q: str, who: str | None, locale: str
) -> dict[str, Any]:
    """The search box's answer: policies for the question, the asker's eligible ones first."""
    english = locale == "en"
    catalogue = service_catalogue()
    try:
        found = policies.search(session, principal, q, SEARCH_TOP, who)
    except CareMatchError as exc:
        return {"problem": exc.detail, "results": []}
    results = []
    for hit in found.hits:
        policy = found.library[hit.id]
        verdict_why = (hit.why or {}).get("because") or {}
        results.append(
            {
                "id": policy.id,
                "title": policy.title_en if english else policy.title,
                "department": policy.department,
                "clause": hit.clause,
                "eligible": hit.eligible,
                "why": why_lines(verdict_why, locale) if hit.eligible is False else [],
                "benefit": benefit_text(policy.benefit, locale),
                "services": [
                    {
                        "code": code,
                        "name": catalogue[code].name_en if english else catalogue[code].name,
                        "href": "/services/nearby?" + urlencode({"service": code}),
                    }
                    for code in policy.services
                    if code in catalogue
                ],
            }
        )
    return {"problem": None, "results": results, "person_id": found.person_id}


@router.get("", response_class=HTMLResponse)
def my_policies(
    request: Request,
    session: SessionDep,
    principal: Resident,
    q: Annotated[str | None, Query(max_length=200)] = None,
    who: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The policies that apply to me and my dependants, with services to book; a search box
    answers a question in everyday Chinese with the clause, for me (or a dependant) first."""
    locale = i18n.negotiate(request)
    own = booking.own_persons(session, principal)
    members = [_member(session, principal, pid, locale) for pid in own]
    question = (q or "").strip()
    asker = who if who in own else (own[0] if own else None)
    answer = _answers(session, principal, question, asker, locale) if question else None
    context = {
        "members": members,
        "linked": principal.person_id is not None,
        "q": question,
        "who": asker,
        "answer": answer,
    }
    response = render(request, "resident/policies.html", context, principal=principal)
    response.headers.update(NO_STORE)
    return response
