"""Errors of the vaccination domain."""

from __future__ import annotations

from carematch.core.errors import Conflict, InvalidInput


class ScheduleError(InvalidInput):
    """A schedule file that cannot be used: missing, not YAML, or breaking the format."""

    type = "/problems/invalid-schedule"
    title = "Invalid immunization schedule"


class BirthDateUnknown(Conflict):
    """A forecast counts every age from the date of birth; without one there is nothing to say."""

    type = "/problems/birth-date-unknown"
    title = "Date of birth unknown"
