"""Errors of the family-doctor domain; each carries its HTTP status and problem type.

404 for what the caller may not see (another district's team, contract, task or referral is not
revealed); 409 for a change the current state does not allow; 400 for a request the rules refuse
as given (a team that does not serve the person's community, a referral outside the medical
community). 422 stays FastAPI's, for malformed payloads.
"""

from __future__ import annotations

from carematch.core.errors import Conflict, Forbidden, InvalidInput, NotFound


class PackageFileError(ValueError):
    """The packages file is malformed: raised at load, so a typo in a clinical schedule stops
    the service instead of silently shifting due dates. Not an HTTP error: a deployment error."""


class TeamNotFound(NotFound):
    """No such team, or it lies outside the caller's jurisdiction (or, for a resident, it does
    not serve their community)."""

    type = "/problems/family-doctor-team-not-found"
    title = "Family-doctor team not found"


class PackageNotFound(NotFound):
    type = "/problems/family-doctor-package-not-found"
    title = "Service package not found"


class ContractNotFound(NotFound):
    """No such contract, or the caller may not see it."""

    type = "/problems/family-doctor-contract-not-found"
    title = "Contract not found"


class TaskNotFound(NotFound):
    """No such follow-up task, or the caller may not see it."""

    type = "/problems/followup-task-not-found"
    title = "Follow-up task not found"


class ReferralNotFound(NotFound):
    """No such referral, or neither of its ends lies in the caller's jurisdiction."""

    type = "/problems/referral-not-found"
    title = "Referral not found"


class UserNotFound(NotFound):
    """The user named as a team's lead or member does not exist, is inactive, or works outside
    the team's provider."""

    type = "/problems/family-doctor-user-not-found"
    title = "User not found"


class InvalidTeam(InvalidInput):
    """A team the platform cannot take as given: a provider that does not do primary care, a
    service area outside the caller's jurisdiction, a lead who is not a doctor …"""

    type = "/problems/invalid-family-doctor-team"
    title = "Invalid team"


class InvalidContract(InvalidInput):
    """A signing the rules refuse as given: the team does not serve the person's community, the
    start date is too far from today, the team is inactive …"""

    type = "/problems/invalid-family-doctor-contract"
    title = "Invalid contract"


class InvalidFollowUp(InvalidInput):
    """A follow-up that cannot have happened as given (in the future, before the last one)."""

    type = "/problems/invalid-followup"
    title = "Invalid follow-up"


class InvalidReferral(InvalidInput):
    """A referral the two-way referral rules refuse: the same provider at both ends, a provider
    that takes no referrals, two providers of the same level, or of different medical
    communities (县域医共体)."""

    type = "/problems/invalid-referral"
    title = "Invalid referral"


class AlreadySigned(Conflict):
    """The person already holds an active (or a scheduled) contract: one at a time."""

    type = "/problems/family-doctor-already-signed"
    title = "Already signed"


class NotEligible(Conflict):
    """The person does not meet the package's eligibility (age, conditions) today."""

    type = "/problems/family-doctor-package-not-eligible"
    title = "Not eligible for this package"


class ContractStateConflict(Conflict):
    """The contract cannot make this change from the status it is in (renew a terminated one,
    terminate an expired one, renew twice)."""

    type = "/problems/family-doctor-contract-state-conflict"
    title = "Contract state conflict"


class TaskStateConflict(Conflict):
    """The task is done or cancelled already."""

    type = "/problems/followup-task-state-conflict"
    title = "Follow-up task state conflict"


class MemberConflict(Conflict):
    """The user is a member of the team already (or not one, on removal)."""

    type = "/problems/family-doctor-member-conflict"
    title = "Team member conflict"


class ReferralStateConflict(Conflict):
    """A status change the referral state machine does not allow; lists the allowed ones."""

    type = "/problems/referral-state-conflict"
    title = "Referral state conflict"

    def __init__(self, detail: str, *, current: str, allowed: tuple[str, ...]) -> None:
        super().__init__(detail, current=current, allowed=list(allowed))


class NotReceivingEnd(Forbidden):
    """Only the receiving end (staff of the provider the patient is referred to) answers a
    referral; the sending end sees it but cannot accept it for the other side."""

    type = "/problems/referral-not-receiving-end"
    title = "Only the receiving end may do this"


class ResidentNotLinked(Forbidden):
    """A resident account not linked to a person record cannot sign or see contracts."""

    type = "/problems/resident-not-linked"
    title = "Account not linked to a person"
