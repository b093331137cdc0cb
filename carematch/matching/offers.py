"""Bookable offers (可一键预约): a resident's recommendations turned into real open slots.

A recommendation ranks providers by an *estimated* earliest time from their opening hours; a
resident who taps "book" needs an actual slot with a free place. For each service the person's
open demands call for (most urgent first), this walks the ranked providers in order and takes
the first open slot within the horizon, so the top offer is the best-ranked provider that can
see them soon — the one the elderly mode's single button books.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from carematch.booking import service as booking
from carematch.booking.models import Slot
from carematch.core.clock import utcnow
from carematch.matching.service import Choice, Gettext, recommend_for_person
from carematch.profiling.service import open_demands
from carematch.security.authz import Principal

# How far ahead an offer may be: beyond two weeks a resident is better served by the waitlist
# or another provider than by a button that books a date they will forget.
HORIZON = timedelta(days=14)
# Providers tried per service before giving up on it (each costs one indexed slot query).
CHOICES_TRIED = 5


@dataclass(frozen=True)
class Offer:
    """One service the person needs, at a ranked provider, in a slot with a free place."""

    service: str
    service_name: str
    service_name_en: str
    demand_id: str
    tags: tuple[str, ...]
    choice: Choice
    slot: Slot


def bookable_offers(
    session: Session,
    principal: Principal,
    person_id: str,
    *,
    gettext: Gettext,
    now: datetime | None = None,
    horizon: timedelta = HORIZON,
) -> list[Offer]:
    """At most one offer per needed service, most urgent service first.

    The person is checked and the read audited by ``recommend_for_person`` (404 for anyone the
    principal may not see; a resident sees only themselves). A service with no open slot at
    any of its top providers within the horizon yields no offer.
    """
    when = now or utcnow()
    recs = recommend_for_person(
        session, principal, person_id, gettext=gettext, at=when, limit=CHOICES_TRIED
    )
    first_demand: dict[str, str] = {}
    for demand in open_demands(session, person_id):
        first_demand.setdefault(demand.service, demand.id)
    offers = []
    for rec in recs.services:
        demand_id = first_demand.get(rec.service)
        if demand_id is None:
            continue
        for choice in rec.choices:
            _, slots = booking.list_slots(
                session,
                principal,
                limit=1,
                offset=0,
                provider_id=choice.provider_id,
                service=rec.service,
                start_from=when,
                start_to=when + horizon,
                available=True,
            )
            if slots:
                offers.append(
                    Offer(
                        rec.service,
                        rec.service_name,
                        rec.service_name_en,
                        demand_id,
                        tuple(rec.tags),
                        choice,
                        slots[0],
                    )
                )
                break
    return offers
