"""Errors of the forecasting domain; each carries its HTTP status and problem type."""

from __future__ import annotations

from carematch.core.errors import InvalidInput, NotFound


class SeriesNotFound(NotFound):
    """No demand for this district × service inside the caller's jurisdiction (or a district
    outside it: the same answer, so nothing leaks)."""

    type = "/problems/forecasting/series-not-found"


class BadForecastRequest(InvalidInput):
    """A district code or horizon that cannot be used."""

    type = "/problems/forecasting/bad-request"
