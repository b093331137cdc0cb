"""Errors of the relief domain; each carries its HTTP status and problem type."""

from __future__ import annotations

from carematch.core.errors import Conflict, InvalidInput, NotFound


class ReliefCaseNotFound(NotFound):
    """No such case, or one outside the caller's jurisdiction (404 either way)."""

    type = "/problems/relief-case-not-found"
    title = "Relief case not found"


class ReliefCaseStateConflict(Conflict):
    """The case cannot take that step from the status it is in (verify before approve …)."""

    type = "/problems/relief-case-state-conflict"
    title = "Relief case state conflict"


class FundBalanceShort(Conflict):
    """The relief fund holds less than the payment: nothing is paid."""

    type = "/problems/relief-fund-short"
    title = "Relief fund balance too low"


class InvalidReliefInput(InvalidInput):
    """An amount or reason the relief domain cannot take (a negative deposit, no reason …)."""

    type = "/problems/invalid-relief-input"
    title = "Invalid relief input"
