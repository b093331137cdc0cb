"""Errors of the chronic-monitoring domain; each carries its HTTP status and problem type."""

from __future__ import annotations

from carematch.core.errors import Conflict, InvalidInput, NotFound


class InvalidReading(InvalidInput):
    """A reading the platform cannot take: no person, a time that is not ISO 8601, a value
    outside its plausible range …"""

    type = "/problems/invalid-reading"
    title = "Invalid reading"


class MonitoringTaskNotFound(NotFound):
    """No such task, or the caller may not see it (404 either way)."""

    type = "/problems/monitoring-task-not-found"
    title = "Monitoring task not found"


class MonitoringTaskClosed(Conflict):
    """The task is done already."""

    type = "/problems/monitoring-task-closed"
    title = "Monitoring task already closed"


class InvalidWindow(InvalidInput):
    """A control-rate window that is empty, reversed or too long."""

    type = "/problems/invalid-window"
    title = "Invalid window"


class RiskModelMissing(NotFound):
    """No risk model for that combination has been trained (``carematch monitoring risk-train``)."""

    type = "/problems/risk-model-missing"
    title = "Risk model not trained"


class UnknownCombination(InvalidInput):
    """A condition combination the risk model does not know."""

    type = "/problems/unknown-combination"
    title = "Unknown condition combination"
