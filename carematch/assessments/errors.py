"""Errors of the assessments domain; each carries its HTTP status and problem type.

404 for a person the caller may not act for (another district's, or for a resident anyone but
themselves: existence is not revealed); 422 for answers that cannot be scored or needs that
are not in the list (the payload is malformed, and every problem is named at once); 400 for a
request the rules refuse as given (a doctor recording a grid worker's visit).
"""

from __future__ import annotations

from carematch.core.errors import CareMatchError, InvalidInput
from carematch.identity.errors import PersonNotFound


class AssessmentPersonNotFound(PersonNotFound):
    """No such person, outside the caller's jurisdiction, or not the resident themselves.

    The same problem type as every other person read (identity's PersonNotFound), so a
    client cannot tell "outside my jurisdiction" apart by which endpoint it asked."""


class InvalidAnswers(CareMatchError):
    """Barthel answers that cannot be scored: an unknown item, a missing one, a score the item
    does not allow. ``problems`` lists every one."""

    status = 422
    type = "/problems/invalid-assessment"
    title = "The assessment's answers cannot be scored"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems), problems=problems)
        self.problems = problems


class UnknownNeeds(CareMatchError):
    """Need codes that are not in the needs list (``needs.yaml``)."""

    status = 422
    type = "/problems/unknown-needs"
    title = "Unknown needs"

    def __init__(self, codes: list[str]) -> None:
        super().__init__("unknown needs: " + ", ".join(codes), unknown=codes)


class VisitRefused(InvalidInput):
    """A visit the rules refuse as given (the kind does not match the visitor's role, a time
    in the future)."""

    type = "/problems/home-visit-refused"
    title = "Home visit refused"
