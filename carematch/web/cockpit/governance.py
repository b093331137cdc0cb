"""The cockpit's policy pages (政策治理): the version editor, hearings, proposals, the sandbox.

- ``/cockpit/policies`` lists the library in force today with each policy's stored versions;
  ``/cockpit/policies/{id}/edit`` edits a policy field by field and stores a new version
  (:func:`carematch.policy.service.add_version`); the library's own messages (policy and
  field) are shown beside the fields they concern, and old versions stay listed.
- ``/cockpit/hearings`` opens hearings on drafts and works through their opinions: adopted,
  or not adopted with a reason (refused without one), then closed and published.
- ``/cockpit/proposals`` is the proposal list; ``/cockpit/sandbox`` runs a draft against a
  pilot area, with the report to download.

Officials only (the page guard, then ``require`` on each route), scoped to their
jurisdiction; every form post carries this session's CSRF token and answers with a redirect,
so a reload never repeats a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import quote

import yaml
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from carematch.api.deps import SessionDep
from carematch.core.clock import city_today
from carematch.core.errors import CareMatchError
from carematch.core.models import Region
from carematch.policy import hearings, sandbox
from carematch.policy import service as policy_service
from carematch.policy.errors import PolicyLibraryError, PolicyVersionConflict
from carematch.policy.execution import execution_indicators, set_budget
from carematch.policy.governance_errors import (
    HearingClosed,
    NotConsulted,
    OpinionAlreadyGiven,
    ReasonRequired,
    UnansweredOpinions,
)
from carematch.policy.hearing_models import OPINION_CHANNELS
from carematch.policy.library import BENEFIT_KINDS, DEMAND_TYPES, Policy
from carematch.policy.proposals import proposals as compute_proposals
from carematch.policy.sandbox_service import parse_draft, run_sandbox
from carematch.providers.catalogue import service_catalogue
from carematch.security.authz import Principal, require
from carematch.security.jurisdiction import region_prefix, within
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench.csrf import check_csrf, token_for
from carematch.web.workbench.records import region_namer

OFFICIALS = ("official",)
Official = Annotated[Principal, Depends(require(*OFFICIALS))]
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(
    prefix="/cockpit",
    dependencies=[Depends(page_guard(*OFFICIALS))],
    include_in_schema=False,
)

# What a page says for each refusal (the English detail is kept for anything else).
MESSAGES: dict[type[CareMatchError], str] = {
    ReasonRequired: N_("Give the reason why this opinion is not adopted."),
    UnansweredOpinions: N_("Answer every opinion before closing the hearing."),
    HearingClosed: N_("The hearing is closed: its opinions and decisions are final."),
    OpinionAlreadyGiven: N_("You have already given your opinion on this hearing."),
    NotConsulted: N_("This hearing consults the residents of another area."),
}
CHANNEL_LABELS = {
    "portal": N_("Portal"),
    "meeting": N_("Meeting"),
    "phone": N_("Phone"),
    "letter": N_("Letter"),
    "visit": N_("Home visit"),
}
DECISION_LABELS = {"adopted": N_("Adopted"), "not_adopted": N_("Not adopted")}
GAP_LABELS = {
    "no_policy": N_("No policy carries the service"),
    "not_eligible": N_("A policy carries it, but its eligibility leaves them out"),
}


def message(locale: str, exc: CareMatchError) -> str:
    """A refusal in the page's language."""
    for kind, text in MESSAGES.items():
        if isinstance(exc, kind):
            return i18n.gettext(locale, text)
    return exc.detail


def not_found() -> HTTPException:
    return HTTPException(status_code=404)


def _service_names(locale: str) -> dict[str, str]:
    return {
        code: (info.name_en if locale == "en" else info.name)
        for code, info in service_catalogue().items()
    }


def areas(session: Session, principal: Principal, locale: str) -> list[tuple[str, str]]:
    """Districts, streets and communities inside the official's jurisdiction, by code."""
    stmt = select(Region).where(Region.level.in_(("district", "street", "community")))
    if principal.jurisdiction is not None:
        stmt = stmt.where(Region.code.startswith(region_prefix(principal.jurisdiction)))
    return [
        (r.code, f"{r.code} {i18n.localized_name(r.name, r.name_en, locale)}")
        for r in session.scalars(stmt.order_by(Region.code))
    ]


def policy_yaml(definition: Mapping[str, Any]) -> str:
    """A policy in the library's YAML, for a textarea."""
    return yaml.safe_dump(dict(definition), allow_unicode=True, sort_keys=False, width=90)


# ---------------------------------------------------------------- the library and its editor


@router.get("/policies", response_class=HTMLResponse)
def policies_page(request: Request, session: SessionDep, principal: Official) -> HTMLResponse:
    """The library in force today, each policy with its stored versions."""
    locale = i18n.negotiate(request)
    library = policy_service.library_on(session, city_today())
    rows = []
    for policy in library.values():
        rows.append({"policy": policy, "versions": policy_service.versions(session, policy.id)})
    context = {"rows": rows, "services": _service_names(locale), "locale": locale}
    return render(request, "cockpit/policies.html", context, principal=principal)


def _form_of(policy: Policy) -> dict[str, Any]:
    benefit = policy.benefit
    return {
        "title": policy.title,
        "title_en": policy.title_en,
        "department": policy.department,
        "eligibility": policy.eligibility,
        "kind": benefit.kind,
        "rate": "" if benefit.rate is None else f"{benefit.rate:g}",
        "amount": "" if benefit.amount is None else f"{benefit.amount:g}",
        "cap": "" if benefit.cap is None else f"{benefit.cap:g}",
        "quantity": "" if benefit.quantity is None else str(benefit.quantity),
        "services": list(policy.services),
        "demand_types": list(policy.demand_types),
        "clauses": "\n".join(policy.clauses),
        "effective_from": (city_today() + timedelta(days=1)).isoformat(),
        "note": "",
    }


def _number(text: str) -> Any:
    """A form number as the library reads it; text that is no number is passed on as it is,
    so the library's own check names the field."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def definition_from(policy_id: str, form: Mapping[str, Any]) -> dict[str, Any]:
    """The policy in the library's format from the editor's fields."""
    benefit: dict[str, Any] = {"kind": form["kind"]}
    for name in ("rate", "amount", "cap", "quantity"):
        value = _number(form[name])
        if value is not None:
            benefit[name] = value
    definition: dict[str, Any] = {
        "id": policy_id,
        "title": form["title"],
        "department": form["department"],
        "demand_types": list(form["demand_types"]),
        "eligibility": form["eligibility"],
        "benefit": benefit,
        "services": list(form["services"]),
        "clauses": [line.strip() for line in form["clauses"].splitlines() if line.strip()],
    }
    if form["title_en"].strip():
        definition["title_en"] = form["title_en"]
    return definition


def _editor(
    request: Request,
    session: Session,
    principal: Principal,
    policy_id: str,
    form: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    *,
    status_code: int = 200,
    saved: int | None = None,
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    context = {
        "policy_id": policy_id,
        "form": form,
        "errors": errors or {},
        "kinds": BENEFIT_KINDS,
        "demand_types": DEMAND_TYPES,
        "services": _service_names(locale),
        "versions": policy_service.versions(session, policy_id),
        "saved": saved,
        "csrf_token": token_for(request),
    }
    return render(
        request, "cockpit/policy_edit.html", context, principal=principal, status_code=status_code
    )


@router.get("/policies/{policy_id}/edit", response_class=HTMLResponse)
def edit_page(
    request: Request,
    session: SessionDep,
    principal: Official,
    policy_id: str,
    saved: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> HTMLResponse:
    """The editing form, filled with the version in force today, and every stored version."""
    library = policy_service.library_on(session, city_today())
    if policy_id not in library:
        raise not_found()
    return _editor(
        request, session, principal, policy_id, _form_of(library[policy_id]), saved=saved
    )


@router.post("/policies/{policy_id}/edit", dependencies=[Depends(check_csrf)])
def save_version(
    request: Request,
    session: SessionDep,
    principal: Official,
    policy_id: str,
    title: Annotated[str, Form(max_length=200)] = "",
    title_en: Annotated[str, Form(max_length=200)] = "",
    department: Annotated[str, Form(max_length=100)] = "",
    eligibility: Annotated[str, Form(max_length=4000)] = "",
    kind: Annotated[str, Form(max_length=32)] = "",
    rate: Annotated[str, Form(max_length=32)] = "",
    amount: Annotated[str, Form(max_length=32)] = "",
    cap: Annotated[str, Form(max_length=32)] = "",
    quantity: Annotated[str, Form(max_length=32)] = "",
    services: Annotated[list[str] | None, Form()] = None,
    demand_types: Annotated[list[str] | None, Form()] = None,
    clauses: Annotated[str, Form(max_length=20_000)] = "",
    effective_from: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Store the edited policy as a new version from its start day; errors shown inline."""
    if policy_id not in policy_service.library_on(session, city_today()):
        raise not_found()
    form = {
        "title": title,
        "title_en": title_en,
        "department": department,
        "eligibility": eligibility,
        "kind": kind,
        "rate": rate,
        "amount": amount,
        "cap": cap,
        "quantity": quantity,
        "services": [s[:64] for s in (services or [])][:100],
        "demand_types": [d[:32] for d in (demand_types or [])][:10],
        "clauses": clauses,
        "effective_from": effective_from,
        "note": note,
    }
    errors: dict[str, list[str]] = {}
    try:
        start = date.fromisoformat(effective_from)
    except ValueError:
        errors["effective_from"] = ["a day YYYY-MM-DD"]
    if not errors:
        try:
            row = policy_service.add_version(
                session,
                definition_from(policy_id, form),
                start,
                principal.username,
                note=hearings.clean_text(note, "the note", 500, required=False) or None,
            )
        except PolicyLibraryError as exc:
            for problem in exc.problems:
                errors.setdefault(problem.field, []).append(str(problem))
        except PolicyVersionConflict as exc:
            errors["effective_from"] = [exc.detail]
        else:
            session.commit()
            return RedirectResponse(
                f"/cockpit/policies/{quote(policy_id)}/edit?saved={row.version}", status_code=303
            )
    session.rollback()
    return _editor(request, session, principal, policy_id, form, errors, status_code=400)


# ---------------------------------------------------------------- hearings


@router.get("/hearings", response_class=HTMLResponse)
def hearings_page(request: Request, session: SessionDep, principal: Official) -> HTMLResponse:
    """The hearings of the official's area, newest first."""
    rows = [
        {"hearing": h, "counts": hearings.result_counts(session, h.id)}
        for h in hearings.list_hearings(session, principal)
    ]
    return render(request, "cockpit/hearings.html", {"rows": rows}, principal=principal)


def _new_hearing(
    request: Request,
    session: Session,
    principal: Principal,
    form: dict[str, str],
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    library = policy_service.library_on(session, city_today())
    context = {
        "form": form,
        "errors": errors or [],
        "policies": [(p.id, p.title) for p in library.values()],
        "areas": areas(session, principal, locale),
        "csrf_token": token_for(request),
    }
    return render(
        request, "cockpit/hearing_new.html", context, principal=principal, status_code=status_code
    )


@router.get("/hearings/new", response_class=HTMLResponse)
def new_hearing_page(
    request: Request,
    session: SessionDep,
    principal: Official,
    source: Annotated[str | None, Query(alias="from", max_length=64)] = None,
) -> HTMLResponse:
    """The form to open a hearing: the draft (from a policy in force, then edited)."""
    library = policy_service.library_on(session, city_today())
    draft = policy_yaml(library[source].as_dict()) if source and source in library else ""
    form = {
        "draft": draft,
        "summary": "",
        "closes_on": (city_today() + timedelta(days=30)).isoformat(),
        "region": principal.region_code or "",
    }
    return _new_hearing(request, session, principal, form)


@router.post("/hearings/new", dependencies=[Depends(check_csrf)])
def open_hearing(
    request: Request,
    session: SessionDep,
    principal: Official,
    draft: Annotated[str, Form(max_length=100_000)] = "",
    summary: Annotated[str, Form(max_length=8000)] = "",
    closes_on: Annotated[str, Form(max_length=10)] = "",
    region: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Open the hearing and go to its page; a bad draft or period re-shows the form."""
    form = {"draft": draft, "summary": summary, "closes_on": closes_on, "region": region}
    locale = i18n.negotiate(request)
    try:
        end = date.fromisoformat(closes_on)
    except ValueError:
        return _new_hearing(
            request,
            session,
            principal,
            form,
            [i18n.gettext(locale, N_("Give the closing day."))],
            400,
        )
    try:
        hearing = hearings.open_hearing(
            session, principal, parse_draft(draft), end, summary=summary, region=region or None
        )
    except PolicyLibraryError as exc:
        session.rollback()
        return _new_hearing(request, session, principal, form, [str(p) for p in exc.problems], 400)
    except CareMatchError as exc:
        session.rollback()
        return _new_hearing(request, session, principal, form, [message(locale, exc)], 400)
    session.commit()
    return RedirectResponse(f"/cockpit/hearings/{hearing.id}", status_code=303)


def _hearing_page(
    request: Request,
    session: Session,
    principal: Principal,
    hearing_id: str,
    *,
    error: str | None = None,
    error_for: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        hearing = hearings.staff_hearing(session, principal, hearing_id)
    except CareMatchError:
        raise not_found() from None
    locale = i18n.negotiate(request)
    context = {
        "hearing": hearing,
        "draft": hearings.draft_of(hearing),
        "draft_yaml": policy_yaml(hearings.draft_of(hearing)),
        "opinions": hearings.opinions(session, hearing.id),
        "counts": hearings.result_counts(session, hearing.id),
        "channels": {k: i18n.gettext(locale, v) for k, v in CHANNEL_LABELS.items()},
        "offline_channels": [c for c in OPINION_CHANNELS if c != "portal"],
        "decisions": {k: i18n.gettext(locale, v) for k, v in DECISION_LABELS.items()},
        "area": region_namer(session, locale)(hearing.region_code) if hearing.region_code else "",
        "error": error,
        "error_for": error_for,
        "form": form or {},
        "csrf_token": token_for(request),
    }
    response = render(
        request, "cockpit/hearing.html", context, principal=principal, status_code=status_code
    )
    response.headers.update(NO_STORE)
    return response


@router.get("/hearings/{hearing_id}", response_class=HTMLResponse)
def hearing_page(
    request: Request, session: SessionDep, principal: Official, hearing_id: str
) -> HTMLResponse:
    """A hearing's draft and opinions, each with its decision form, and the close button."""
    return _hearing_page(request, session, principal, hearing_id)


@router.post("/hearings/{hearing_id}/opinions/{opinion_id}", dependencies=[Depends(check_csrf)])
def decide_opinion(
    request: Request,
    session: SessionDep,
    principal: Official,
    hearing_id: str,
    opinion_id: str,
    decision: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    """Adopted, or not adopted with its reason; a refusal is shown beside the opinion."""
    try:
        opinion = hearings.decide(session, principal, hearing_id, opinion_id, decision, reason)
    except CareMatchError as exc:
        session.rollback()
        if exc.status == 404:
            raise not_found() from None
        return _hearing_page(
            request,
            session,
            principal,
            hearing_id,
            error=message(i18n.negotiate(request), exc),
            error_for=opinion_id,
            form={"decision": decision, "reason": reason},
            status_code=exc.status,
        )
    session.commit()
    return RedirectResponse(
        f"/cockpit/hearings/{hearing_id}#opinion-{opinion.seq}", status_code=303
    )


@router.post("/hearings/{hearing_id}/opinions", dependencies=[Depends(check_csrf)])
def record_opinion(
    request: Request,
    session: SessionDep,
    principal: Official,
    hearing_id: str,
    channel: Annotated[str, Form(max_length=16)] = "",
    text: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    """Record an opinion gathered offline, with its channel."""
    try:
        hearings.submit_opinion(session, principal, hearing_id, text, channel=channel)
    except CareMatchError as exc:
        session.rollback()
        if exc.status == 404:
            raise not_found() from None
        return _hearing_page(
            request,
            session,
            principal,
            hearing_id,
            error=message(i18n.negotiate(request), exc),
            error_for="offline",
            form={"channel": channel, "text": text},
            status_code=exc.status,
        )
    session.commit()
    return RedirectResponse(f"/cockpit/hearings/{hearing_id}", status_code=303)


@router.post("/hearings/{hearing_id}/close", dependencies=[Depends(check_csrf)])
def close_hearing(
    request: Request, session: SessionDep, principal: Official, hearing_id: str
) -> Response:
    """Close and publish; refused while an opinion is unanswered."""
    try:
        hearings.close_hearing(session, principal, hearing_id)
    except CareMatchError as exc:
        session.rollback()
        if exc.status == 404:
            raise not_found() from None
        return _hearing_page(
            request,
            session,
            principal,
            hearing_id,
            error=message(i18n.negotiate(request), exc),
            error_for="close",
            status_code=exc.status,
        )
    session.commit()
    return RedirectResponse(f"/hearings/{hearing_id}", status_code=303)


# ---------------------------------------------------------------- proposals and the sandbox


@router.get("/proposals", response_class=HTMLResponse)
def proposals_page(
    request: Request,
    session: SessionDep,
    principal: Official,
    region: Annotated[str, Query(max_length=12)] = "",
    min_count: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    """The proposal list: needs no eligible policy covers, per community, most persons first."""
    locale = i18n.negotiate(request)
    code = region.strip() or principal.jurisdiction
    error = None
    if code is not None and not (code.isdigit() and within(code, principal.jurisdiction)):
        error = i18n.gettext(locale, N_("Choose an area inside your jurisdiction."))
        found = []
    else:
        found = compute_proposals(session, region=code, min_count=min_count)
    name = region_namer(session, locale)
    services = _service_names(locale)
    rows = [
        {
            "p": p,
            "community": name(p.community),
            "label": p.label_en if locale == "en" else p.label,
            "services": [services.get(s, s) for s in p.services],
            "gap": i18n.gettext(locale, GAP_LABELS[p.gap]),
        }
        for p in found[:500]
    ]
    context = {
        "rows": rows,
        "total": len(found),
        "region": region,
        "min_count": min_count,
        "areas": areas(session, principal, locale),
        "error": error,
    }
    return render(request, "cockpit/proposals.html", context, principal=principal)


def _sandbox_page(
    request: Request,
    session: Session,
    principal: Principal,
    form: dict[str, str],
    *,
    report: sandbox.SandboxReport | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    library = policy_service.library_on(session, city_today())
    context = {
        "form": form,
        "report": report,
        "errors": errors or [],
        "policies": [(p.id, p.title) for p in library.values()],
        "areas": areas(session, principal, locale),
        "services": _service_names(locale),
        "csrf_token": token_for(request),
    }
    response = render(
        request, "cockpit/sandbox.html", context, principal=principal, status_code=status_code
    )
    response.headers.update(NO_STORE)
    return response


@router.get("/sandbox", response_class=HTMLResponse)
def sandbox_page(
    request: Request,
    session: SessionDep,
    principal: Official,
    source: Annotated[str | None, Query(alias="from", max_length=64)] = None,
) -> HTMLResponse:
    """The sandbox form: paste a draft or start from a policy in force, pick the area."""
    library = policy_service.library_on(session, city_today())
    draft = policy_yaml(library[source].as_dict()) if source and source in library else ""
    return _sandbox_page(request, session, principal, {"draft": draft, "region": ""})


@router.post("/sandbox", dependencies=[Depends(check_csrf)])
def sandbox_run(
    request: Request,
    session: SessionDep,
    principal: Official,
    draft: Annotated[str, Form(max_length=100_000)] = "",
    region: Annotated[str, Form(max_length=12)] = "",
    download: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Run the draft; show the report, or send it as Markdown or CSV (``download``)."""
    form = {"draft": draft, "region": region}
    try:
        report = run_sandbox(session, principal, parse_draft(draft), region)
    except PolicyLibraryError as exc:
        session.rollback()
        errors = [str(p) for p in exc.problems]
        return _sandbox_page(request, session, principal, form, errors=errors, status_code=400)
    except CareMatchError as exc:
        session.rollback()
        errors = [message(i18n.negotiate(request), exc)]
        return _sandbox_page(request, session, principal, form, errors=errors, status_code=400)
    session.commit()
    name = f"sandbox-{report.draft_id}-{report.region}"
    if download == "markdown":
        return Response(
            sandbox.to_markdown(report),
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{quote(name)}.md"'},
        )
    if download == "csv":
        return Response(
            sandbox.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{quote(name)}.csv"'},
        )
    return _sandbox_page(request, session, principal, form, report=report)


# ---------------------------------------------------------------- execution and budgets


def _period(start: str, end: str) -> tuple[date, date] | None:
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        return None
    if last < first or (last - first).days > 3660 or first.year < 1900 or last.year > 2100:
        return None
    return first, last


@router.get("/policy-execution", response_class=HTMLResponse)
def execution_page(
    request: Request,
    session: SessionDep,
    principal: Official,
    start: Annotated[str, Query(max_length=10)] = "",
    end: Annotated[str, Query(max_length=10)] = "",
    saved: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """Coverage, estimated spend against budget and complaints per policy in the area."""
    locale = i18n.negotiate(request)
    today = city_today()
    start = start or today.replace(day=1).isoformat()
    end = end or today.isoformat()
    period = _period(start, end)
    rows: list[dict[str, Any]] = []
    error = None
    if period is None:
        error = i18n.gettext(
            locale, N_("Give a period: a first and a last day, at most ten years apart.")
        )
    else:
        rows = execution_indicators(session, period[0], period[1], principal.jurisdiction)
    context = {
        "rows": rows,
        "start": start,
        "end": end,
        "year": period[1].year if period else today.year,
        "error": error,
        "saved": saved,
        "csrf_token": token_for(request),
    }
    return render(request, "cockpit/policy_execution.html", context, principal=principal)


@router.post("/policy-execution/budget", dependencies=[Depends(check_csrf)])
def save_budget(
    request: Request,
    session: SessionDep,
    principal: Official,
    policy_id: Annotated[str, Form(max_length=64)] = "",
    year: Annotated[str, Form(max_length=4)] = "",
    amount: Annotated[str, Form(max_length=32)] = "",
    start: Annotated[str, Form(max_length=10)] = "",
    end: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Set a policy's budget for a year, then show the indicators again."""
    back = f"/cockpit/policy-execution?start={quote(start)}&end={quote(end)}"
    try:
        set_budget(session, principal, policy_id, int(year) if year.isdigit() else -1, amount)
    except CareMatchError as exc:
        session.rollback()
        locale = i18n.negotiate(request)
        return render(
            request,
            "cockpit/policy_execution.html",
            {
                "rows": [],
                "start": start,
                "end": end,
                "year": year,
                "error": message(locale, exc),
                "saved": "",
                "csrf_token": token_for(request),
            },
            principal=principal,
            status_code=exc.status,
        )
    session.commit()
    return RedirectResponse(f"{back}&saved={quote(policy_id)}", status_code=303)
