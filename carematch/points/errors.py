"""Errors of the points domain; each carries its HTTP status and problem type."""

from __future__ import annotations

from carematch.core.errors import CareMatchError, Conflict, InvalidInput, NotFound


class PointsOverdrawn(Conflict):
    """The posting would take a person's points or minutes below zero (nothing was posted)."""

    type = "/problems/points-overdrawn"
    title = "Not enough points"


class SourceAlreadyUsed(Conflict):
    """The source reference already posted a different entry for this person."""

    type = "/problems/points-source-used"
    title = "Source already posted"


class EntryNotReversible(Conflict):
    """The entry is a reversal itself; a reversal cannot be reversed."""

    type = "/problems/points-not-reversible"
    title = "Entry cannot be reversed"


class UnknownActivity(InvalidInput):
    """No earning rule for that activity code."""

    type = "/problems/unknown-points-activity"
    title = "Unknown points activity"


class NotRedeemable(InvalidInput):
    """The service is not in the redemption catalogue (or not a service at all)."""

    type = "/problems/service-not-redeemable"
    title = "Service not redeemable with points"


class UnknownHelpKind(InvalidInput):
    """No such kind of help in the time bank."""

    type = "/problems/unknown-help-kind"
    title = "Unknown time-bank help kind"


class InvalidPosting(InvalidInput):
    """A source reference, amount or memo the ledger cannot take."""

    type = "/problems/invalid-points-posting"
    title = "Invalid points posting"


class EntryNotFound(NotFound):
    """No such entry, or its person is outside the caller's jurisdiction (404 either way)."""

    type = "/problems/points-entry-not-found"
    title = "Points entry not found"


class ResidentNotLinked(NotFound):
    """The signed-in resident has no person record, so has no points."""

    type = "/problems/resident-not-linked"
    title = "No person linked to this resident"


class RulesFileError(CareMatchError):
    """The shipped points rules file is broken: a deployment fault, not the caller's."""

    status = 500
    type = "/problems/invalid-points-rules"
    title = "Invalid points rules file"
