"""Errors of the feedback domain; each carries its HTTP status and problem type."""

from __future__ import annotations

from carematch.core.errors import Conflict, Forbidden, InvalidInput, NotFound


class ComplaintNotFound(NotFound):
    """No such complaint, or the caller may not see it (404 either way: a complaint in another
    district, or another resident's, is not revealed)."""

    type = "/problems/complaint-not-found"
    title = "Complaint not found"


class ComplaintStateConflict(Conflict):
    """The complaint cannot move to that status from the one it is in."""

    type = "/problems/complaint-state-conflict"
    title = "Complaint state conflict"


class InvalidComplaint(InvalidInput):
    """A complaint the platform cannot take as given (unknown category, no provider or service,
    an anonymous complaint without a contact, a receipt time in the future …)."""

    type = "/problems/invalid-complaint"
    title = "Invalid complaint"


class ResidentNotLinked(Forbidden):
    """A resident account not yet linked to a person record cannot file in its own name."""

    type = "/problems/resident-not-linked"
    title = "Account not linked to a person"


class RectificationNotFound(NotFound):
    type = "/problems/rectification-not-found"
    title = "Rectification item not found"


class RectificationStateConflict(Conflict):
    """The item cannot make this change from the status it is in."""

    type = "/problems/rectification-state-conflict"
    title = "Rectification state conflict"


class InvalidRectification(InvalidInput):
    type = "/problems/invalid-rectification"
    title = "Invalid rectification"


class OutsideJurisdiction(Forbidden):
    """The provider or region named lies outside the caller's jurisdiction."""

    type = "/problems/outside-jurisdiction"
    title = "Outside your jurisdiction"


class InvalidFlagRule(InvalidInput):
    type = "/problems/invalid-flag-rule"
    title = "Invalid low-rating rule"
