"""Errors of the special funds and the risk budget; each carries its HTTP status and type."""

from __future__ import annotations

from carematch.core.errors import Conflict, Forbidden, InvalidInput, NotFound


class FundBudgetNotFound(NotFound):
    type = "/problems/fund-budget-not-found"
    title = "Special-fund budget not found"


class FundProjectNotFound(NotFound):
    type = "/problems/fund-project-not-found"
    title = "Special-fund project not found"


class FundInputRejected(InvalidInput):
    """An application, review, evaluation or budget request with values the rules refuse."""

    type = "/problems/fund-input-rejected"
    title = "Special-fund input rejected"


class FundStateConflict(Conflict):
    """A step out of order (review after the decision, evaluation before approval, …)."""

    type = "/problems/fund-state-conflict"
    title = "Special-fund step out of order"


class FundBudgetExceeded(Conflict):
    """Approving the project would spend more than is left of the fund's budget."""

    type = "/problems/fund-budget-exceeded"
    title = "Special-fund budget exceeded"


class OutsideJurisdiction(Forbidden):
    type = "/problems/outside-jurisdiction"
    title = "Outside your jurisdiction"
