"""Errors of policy governance (hearings, sandbox, proposals, budgets); each carries its
HTTP status and problem type."""

from __future__ import annotations

from carematch.core.errors import Conflict, Forbidden, InvalidInput, NotFound


class HearingNotFound(NotFound):
    """No such hearing, or one outside the caller's jurisdiction."""

    type = "/problems/hearing-not-found"
    title = "Hearing not found"


class OpinionNotFound(NotFound):
    type = "/problems/opinion-not-found"
    title = "Opinion not found"


class HearingInputRejected(InvalidInput):
    """A hearing, an opinion or a decision that cannot be used as given."""

    type = "/problems/hearing-input"
    title = "Hearing input rejected"


class ReasonRequired(InvalidInput):
    """An opinion marked not adopted without a reason (R-PL-4: the reason is mandatory)."""

    type = "/problems/reason-required"
    title = "A reason is required"


class HearingClosed(Conflict):
    """The hearing no longer takes opinions or decisions."""

    type = "/problems/hearing-closed"
    title = "Hearing closed"


class OpinionAlreadyGiven(Conflict):
    """A resident gives one opinion per hearing."""

    type = "/problems/opinion-already-given"
    title = "Opinion already given"


class UnansweredOpinions(Conflict):
    """A hearing closes only when every opinion is answered."""

    type = "/problems/unanswered-opinions"
    title = "Opinions not yet answered"


class NotConsulted(Forbidden):
    """A resident who does not live in the area the hearing consults."""

    type = "/problems/not-consulted"
    title = "Not in the consulted area"


class SandboxInputRejected(InvalidInput):
    """A sandbox run whose draft or pilot community cannot be used."""

    type = "/problems/sandbox-input"
    title = "Sandbox input rejected"
