"""Errors of the indicators domain; each carries its HTTP status and problem type."""

from __future__ import annotations

from carematch.core.errors import Conflict, Forbidden, InvalidInput, NotFound


class IndicatorNotFound(NotFound):
    """No indicator with that id is defined."""

    type = "/problems/indicator-not-found"
    title = "Indicator not found"


class WarningNotFound(NotFound):
    """No such warning, or it lies outside the caller's jurisdiction (404 either way)."""

    type = "/problems/indicator-warning-not-found"
    title = "Indicator warning not found"


class WarningStateConflict(Conflict):
    """The warning was already turned into a rectification item or dismissed."""

    type = "/problems/indicator-warning-state-conflict"
    title = "Indicator warning state conflict"


class InvalidIndicatorQuery(InvalidInput):
    """A period, region or breakdown the indicators cannot be read by."""

    type = "/problems/invalid-indicator-query"
    title = "Invalid indicator query"


class OutsideJurisdiction(Forbidden):
    """The region asked for lies outside the caller's jurisdiction."""

    type = "/problems/outside-jurisdiction"
    title = "Outside your jurisdiction"
