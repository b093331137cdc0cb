"""Errors of the matching domain."""

from __future__ import annotations

from carematch.core.errors import CareMatchError, InvalidInput


class AllocationInputRejected(InvalidInput):
    """Demands, providers or parameters an allocation cannot run on; the detail names the row."""

    type = "/problems/allocation-input-rejected"
    title = "Allocation input rejected"


class AllocationFailed(CareMatchError):
    """The solver did not prove an optimum: a defect of ours, never the caller's input."""

    status = 500
    type = "/problems/allocation-failed"
    title = "Allocation failed"


class ServiceUseRejected(InvalidInput):
    """Service-use rows or parameters collaborative filtering cannot use; the detail says which."""

    type = "/problems/service-use-rejected"
    title = "Service use rejected"


class RecommendationInputRejected(InvalidInput):
    """A demand, candidate, cost or CF score the recommender cannot use; the detail says which."""

    type = "/problems/recommendation-input-rejected"
    title = "Recommendation input rejected"


class InvalidWeights(InvalidInput):
    """Objective weights a user set that cannot rank: unknown names, negatives, all zero."""

    type = "/problems/invalid-weights"
    title = "Invalid weights"
