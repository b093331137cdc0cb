"""Errors of the forecasting domain; each carries its HTTP status and problem type."""

from __future__ import annotations

from carematch.core.errors import Forbidden, InvalidInput, NotFound


class SeriesNotFound(NotFound):
    """No demand at all for this district × service inside the caller's jurisdiction."""

    type = "/problems/forecasting/series-not-found"


class OutsideJurisdiction(Forbidden):
    """A district the caller's jurisdiction does not reach."""

    type = "/problems/forecasting/outside-jurisdiction"


class BadForecastRequest(InvalidInput):
    """A district code or horizon that cannot be used."""

    type = "/problems/forecasting/bad-request"
