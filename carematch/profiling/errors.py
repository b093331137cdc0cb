"""Errors of the profiling domain, each with its HTTP status and problem type."""

from __future__ import annotations

from carematch.core.errors import CareMatchError


class DemandNotFound(CareMatchError):
    """No such demand, or not in the caller's jurisdiction."""

    status = 404
    type = "/problems/demand-not-found"
    title = "Demand not found"


class DemandStateConflict(CareMatchError):
    """The demand cannot move to the requested state from the one it is in."""

    status = 409
    type = "/problems/demand-state-conflict"
    title = "Demand state conflict"
