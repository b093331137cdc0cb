"""The resident portal (居民端): my needs with a one-tap booking, my bookings, my reminders and
rating a visit — on a phone, on a slow connection, and in the elderly mode.

The elderly mode is the site's large-text preference (``?text=large``, remembered in a cookie):
large type, high contrast, and on this page a single big button that books the top offer, with
a "read aloud" button where the browser offers speech synthesis. Every change is a plain POST
with the session's CSRF token answered by a redirect (a reload never repeats it); a booking
carries an idempotency key made when the page was rendered, so a double tap or a retried post
on a bad connection books once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from carematch.api.deps import SessionDep
from carematch.booking import ratings, records
from carematch.booking import service as booking
from carematch.booking.models import Rating
from carematch.booking.reminders import provider_name, when_text
from carematch.core.errors import CareMatchError, InvalidInput
from carematch.identity.errors import PersonNotFound
from carematch.matching.offers import Offer, bookable_offers
from carematch.notifications import service as notifications
from carematch.providers.catalogue import service_catalogue
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render, text_size
from carematch.web.workbench.csrf import check_csrf, token_for

RESIDENTS = ("resident",)
Resident = Annotated[Principal, Depends(require(*RESIDENTS))]
Short = Annotated[str, Form(max_length=128)]
Comment = Annotated[str, Form(max_length=500)]

router = APIRouter(dependencies=[Depends(page_guard(*RESIDENTS))], include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}
MY_BOOKINGS = 20
MY_REMINDERS = 10

STATUS_LABELS = {
    "booked": N_("Booked"),
    "checked_in": N_("Checked in"),
    "completed": N_("Completed"),
    "no_show": N_("No-show"),
    "cancelled": N_("Cancelled"),
}
# What a resident reads when a change is refused; anything else gets the generic line.
REFUSALS = {
    "SlotFull": N_("That time has just been fully booked. Please choose another time."),
    "AlreadyBooked": N_("You have already booked this time."),
    "SlotClosed": N_("That time has passed. Please choose another time."),
    "SlotNotFound": N_("That time is no longer offered. Please choose another time."),
    "AlreadyRated": N_("You have already rated this visit."),
    "BookingStateConflict": N_("This booking can no longer be changed."),
}
NOTICES = {
    "booked": N_("Booked. A reminder is on its way to your inbox."),
    "cancelled": N_("The booking is cancelled."),
    "rated": N_("Thank you for rating your visit."),
}


@dataclass(frozen=True)
class MyBooking:
    """One of my bookings as the portal shows it, with what I can do about it."""

    id: str
    service: str
    provider: str
    when: str
    status: str
    status_label: str
    for_dependant: bool
    cancellable: bool
    record_id: str | None  # the visit's service record, once the doctor has written it
    rated: int | None  # my score, once rated


def _service_name(code: str, locale: str) -> str:
    info = service_catalogue().get(code)
    return i18n.localized_name(info.name, info.name_en, locale) if info else code


def _my_bookings(
    session: Session, principal: Principal, locale: str
) -> tuple[list[MyBooking], list[MyBooking]]:
    """(upcoming, past) bookings of me and my dependants, each with its visit and rating."""
    _, views = booking.list_bookings(session, principal, limit=MY_BOOKINGS, offset=0)
    _, my_ratings = ratings.list_ratings(session, principal, limit=200, offset=0)
    scores: dict[str, Rating] = {r.service_record_id: r for r in my_ratings}
    upcoming: list[MyBooking] = []
    past: list[MyBooking] = []
    for view in views:
        b, slot = view.booking, view.slot
        record_id = None
        if b.status == "completed":
            _, recs = records.list_records(session, principal, limit=1, offset=0, booking_id=b.id)
            record_id = recs[0].id if recs else None
        rating = scores.get(record_id) if record_id else None
        item = MyBooking(
            id=b.id,
            service=_service_name(slot.service, locale),
            provider=provider_name(session, slot.provider_id),
            when=when_text(slot.starts_at),
            status=b.status,
            status_label=i18n.gettext(locale, STATUS_LABELS.get(b.status, b.status)),
            for_dependant=b.person_id != principal.person_id,
            cancellable=b.status == "booked",
            record_id=record_id,
            rated=rating.score if rating else None,
        )
        (upcoming if b.status in ("booked", "checked_in") else past).append(item)
    return upcoming, past


def _reminders(session: Session, principal: Principal, locale: str) -> dict[str, Any]:
    items, total, unread = notifications.inbox(session, principal, limit=MY_REMINDERS)
    lang = i18n.SHORT_CODE.get(locale, "zh")
    shown = []
    for item in items:
        text = notifications.render_item(item, lang)
        shown.append(
            {
                "id": item.message_id,
                "title": text.title,
                "body": text.body,
                "when": when_text(item.delivered_at),
                "unread": item.read_at is None,
            }
        )
    return {"items": shown, "total": total, "unread": unread}


def _offer_view(offer: Offer, locale: str) -> dict[str, Any]:
    return {
        "service": offer.service,
        "service_name": i18n.localized_name(offer.service_name, offer.service_name_en, locale),
        "provider": i18n.localized_name(offer.choice.name, offer.choice.name_en, locale),
        "reason": offer.choice.reason,
        "distance_km": offer.choice.distance_km,
        "out_of_pocket": offer.choice.out_of_pocket,
        "when": when_text(offer.slot.starts_at),
        "slot_id": offer.slot.id,
        "demand_id": offer.demand_id,
    }


def _portal_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    context: dict[str, Any] = {
        "linked": principal.person_id is not None,
        "elderly": text_size(request) == "large",
        "csrf_token": token_for(request),
        "error": error,
        "notice": None,
    }
    notice = request.query_params.get("done")
    if notice in NOTICES:
        context["notice"] = i18n.gettext(locale, NOTICES[notice])
    if principal.person_id is not None:
        offers = bookable_offers(
            session,
            principal,
            principal.person_id,
            gettext=i18n.translations(locale).gettext,
        )
        upcoming, past = _my_bookings(session, principal, locale)
        context.update(
            {
                "offers": [_offer_view(o, locale) for o in offers],
                # One key per rendering: the same page posted twice books once.
                "booking_key": secrets.token_urlsafe(16),
                "upcoming": upcoming,
                "past": past,
                "reminders": _reminders(session, principal, locale),
            }
        )
    response = render(
        request, "resident/portal.html", context, principal=principal, status_code=status_code
    )
    response.headers.update(NO_STORE)
    return response


def _back(session: Session, done: str, anchor: str) -> Response:
    from carematch.web.workbench.review import committed_redirect

    return committed_redirect(session, "/portal?" + urlencode({"done": done}) + anchor)


def _refused(
    request: Request, session: Session, principal: Principal, exc: CareMatchError
) -> HTMLResponse:
    """Show the portal again with why the change was refused (nothing of it is kept)."""
    session.rollback()
    locale = i18n.negotiate(request)
    known = REFUSALS.get(type(exc).__name__)
    if known is not None:
        message = i18n.gettext(locale, known)
    else:
        message = i18n.gettext(locale, "That could not be done:") + " " + exc.detail
    return _portal_page(request, session, principal, error=message, status_code=exc.status)


@router.get("/portal", response_class=HTMLResponse)
def portal(request: Request, session: SessionDep, principal: Resident) -> HTMLResponse:
    """My needs with what I can book now, my bookings, my reminders."""
    return _portal_page(request, session, principal)


@router.post("/portal/book", dependencies=[Depends(check_csrf)])
def book(
    request: Request,
    session: SessionDep,
    principal: Resident,
    slot_id: Short = "",
    demand_id: Short = "",
    key: Short = "",
) -> Response:
    """Book an offered slot for myself (the one-tap button posts here)."""
    try:
        if principal.person_id is None:
            raise PersonNotFound("this account is not linked to a health record")
        booking.book(
            session,
            principal,
            slot_id=slot_id,
            person_id=principal.person_id,
            demand_id=demand_id or None,
            idempotency_key=f"portal:{key}" if key else None,
        )
    except CareMatchError as exc:
        return _refused(request, session, principal, exc)
    return _back(session, "booked", "#my-bookings")


@router.post("/portal/bookings/{booking_id}/cancel", dependencies=[Depends(check_csrf)])
def cancel(request: Request, session: SessionDep, principal: Resident, booking_id: str) -> Response:
    """Cancel one of my bookings; the place goes to the next person waiting."""
    try:
        booking.cancel(session, principal, booking_id)
    except CareMatchError as exc:
        return _refused(request, session, principal, exc)
    return _back(session, "cancelled", "#my-bookings")


@router.post("/portal/ratings", dependencies=[Depends(check_csrf)])
def rate(
    request: Request,
    session: SessionDep,
    principal: Resident,
    service_record_id: Short = "",
    score: Short = "",
    comment: Comment = "",
) -> Response:
    """Rate a visit 1–5 with an optional comment (once per visit)."""
    try:
        if not score.isdigit():
            raise InvalidInput("choose from 1 to 5 stars")
        ratings.rate(
            session,
            principal,
            score=int(score),
            comment=comment or None,
            service_record_id=service_record_id,
        )
    except CareMatchError as exc:
        return _refused(request, session, principal, exc)
    return _back(session, "rated", "#my-bookings")
