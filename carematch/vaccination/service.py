"""Use cases of the vaccination domain: a person's forecast from the doses in their records.

Persons and their source records are read through the identity domain's service (which scopes
to the caller's jurisdiction and audits the read), never through its tables. Services flush;
the caller (endpoint, CLI command, job) commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from carematch.core.clock import today
from carematch.core.errors import InvalidInput
from carematch.identity import service as identity
from carematch.security.authz import Principal
from carematch.vaccination.errors import BirthDateUnknown
from carematch.vaccination.forecast import Forecast, GivenDose, forecast, parse_registry_doses
from carematch.vaccination.schedule import Schedule, default_schedule

DOSES_FIELD = "doses"
"""The sensitive field in which the immunization registry (and doses imported from other
regions) carry a person's doses, in the text form ``HepB:2021-03-04|BCG:2021-03-04``."""


@lru_cache(maxsize=1)
def city_schedule() -> Schedule:
    """The schedule this installation forecasts with (the demo city's, shipped in the package).

    Parsed once per process: the file is part of the release, a new one comes with a restart.
    """
    return default_schedule()


@dataclass(frozen=True)
class PersonForecast:
    """A person's forecast and the inputs it was computed from."""

    person_id: str
    birth_date: date
    as_of: date
    schedule: Schedule
    forecast: Forecast
    unreadable: tuple[str, ...]


def doses_of(records: list[Any]) -> tuple[list[GivenDose], list[str]]:
    """Every dose in a person's source records, and the pieces of dose text that cannot be read.

    A child known to the registry twice (or with doses imported from another region) has the
    union; the forecaster counts a dose recorded twice on one day once.
    """
    doses: list[GivenDose] = []
    unreadable: list[str] = []
    for record in records:
        sensitive = json.loads(record.sensitive or "{}")
        text = sensitive.get(DOSES_FIELD)
        if isinstance(text, str) and text:
            got, bad = parse_registry_doses(text)
            doses.extend(got)
            unreadable.extend(bad)
    return doses, unreadable


def person_forecast(
    session: Session, principal: Principal, person_id: str, as_of: date | None = None
) -> PersonForecast:
    """Forecast a person's vaccinations on ``as_of`` (today by default).

    Raises:
        PersonNotFound: no such person in the caller's jurisdiction (404, as every person read).
        BirthDateUnknown: the golden record has no date of birth (409).
        InvalidInput: ``as_of`` so far out that due dates leave the calendar (400).
    """
    person, records = identity.read_person(session, principal, person_id)
    if person.birth_date is None:
        raise BirthDateUnknown(f"person {person_id} has no date of birth on record")
    when = as_of or today()
    doses, unreadable = doses_of(records)
    schedule = city_schedule()
    try:
        result = forecast(schedule, person.birth_date, when, doses)
    except (OverflowError, ValueError):
        raise InvalidInput(f"as_of {when.isoformat()} is out of the calendar's range") from None
    return PersonForecast(
        person_id=person.id,
        birth_date=person.birth_date,
        as_of=when,
        schedule=schedule,
        forecast=result,
        unreadable=tuple(unreadable),
    )
