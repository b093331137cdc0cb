"""Shapes of the vaccination domain: the forecast CLI's JSON lines and the API's responses.

The CLI contract (checked by tests outside the repository):
input ``{"id", "dob", "as_of", "history": [{"series", "date"}]}``, output
``{"id", "forecast": [{"series", "status", "dose", "due_date", "requires"}],
"invalid": [{"series", "date", "reason"}]}`` with ``dose`` and ``due_date`` left out when the
series is complete or not recommended and ``requires`` left out when empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel

from carematch.vaccination.forecast import Forecast, GivenDose, SeriesForecast

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class CaseError(ValueError):
    """One input line that is not a case; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Case:
    """One person to forecast: an identifier echoed back, DOB, assessment date, doses given."""

    id: str | int
    dob: date
    as_of: date
    history: tuple[GivenDose, ...]


def _iso_date(value: Any, what: str) -> date:
    # Strictly YYYY-MM-DD: Python's fromisoformat also takes "20210304" and week dates, which a
    # registry export never means.
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise CaseError(f"{what} must be a date YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CaseError(f"{what} is not a calendar date: {value!r}") from None


def read_case(data: Any) -> Case:
    """Validate one decoded JSON line as a :class:`Case`.

    ``history`` may be left out or null for a person with no doses; keys beyond the contract are
    ignored (registries add their own, such as a dose number).

    Raises:
        CaseError: naming the field at fault.
    """
    if not isinstance(data, dict):
        raise CaseError(f"a case must be a JSON object, got {type(data).__name__}")
    if "id" not in data:
        raise CaseError("`id` is missing")
    case_id = data["id"]
    if isinstance(case_id, bool) or not isinstance(case_id, str | int):
        raise CaseError(f"`id` must be a string or an integer, got {case_id!r}")
    dob = _iso_date(data.get("dob"), "`dob`")
    as_of = _iso_date(data.get("as_of"), "`as_of`")
    raw_history = data.get("history")
    if raw_history is None:
        raw_history = []
    if not isinstance(raw_history, list):
        raise CaseError("`history` must be a list of {series, date}")
    history = []
    for i, item in enumerate(raw_history):
        if not isinstance(item, dict):
            raise CaseError(f"history[{i}] must be an object {{series, date}}")
        series = item.get("series")
        if not isinstance(series, str) or not series.strip():
            raise CaseError(f"history[{i}].series must be a non-empty string")
        history.append(GivenDose(series.strip(), _iso_date(item.get("date"), f"history[{i}].date")))
    return Case(case_id, dob, as_of, tuple(history))


def entry_json(entry: SeriesForecast) -> dict[str, Any]:
    """One series of the contract's ``forecast`` list (empty fields left out)."""
    out: dict[str, Any] = {"series": entry.series, "status": entry.status}
    if entry.dose is not None:
        out["dose"] = entry.dose
    if entry.due_date is not None:
        out["due_date"] = entry.due_date.isoformat()
    if entry.requires:
        out["requires"] = list(entry.requires)
    return out


def forecast_json(case_id: str | int, result: Forecast) -> dict[str, Any]:
    """The contract's output line for one case."""
    return {
        "id": case_id,
        "forecast": [entry_json(e) for e in result.entries],
        "invalid": [
            {"series": d.series, "date": d.date.isoformat(), "reason": d.reason}
            for d in result.invalid
        ],
    }


# --- API -------------------------------------------------------------------------------------


class SeriesForecastPublic(BaseModel):
    """One series on the assessment date; ``dose``/``due_date`` null when nothing is next."""

    series: str
    name: str
    status: str
    dose: int | None = None
    due_date: date | None = None
    requires: list[str] = []


class InvalidDosePublic(BaseModel):
    """A recorded dose that does not count, and why."""

    series: str
    date: date
    reason: str


class VaccinationForecastPublic(BaseModel):
    """A person's vaccination forecast (接种预测) from the doses in their linked records."""

    person_id: str
    schedule: str
    birth_date: date
    as_of: date
    doses_overdue: int
    forecast: list[SeriesForecastPublic]
    invalid: list[InvalidDosePublic]
    unreadable: list[str]
    """Pieces of the registry's dose text that could not be read (shown, never dropped)."""
