"""Errors of the policy domain; each carries its HTTP status and problem type."""

from __future__ import annotations

from collections.abc import Sequence

from carematch.core.errors import Conflict, InvalidInput, NotFound


class LibraryProblem:
    """One thing wrong with one policy of a library: the policy, the field and the problem."""

    __slots__ = ("field", "policy", "reason", "source")

    def __init__(self, policy: str, field: str, reason: str, source: str = "") -> None:
        self.policy = policy
        self.field = field
        self.reason = reason
        self.source = source

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}policy {self.policy}, field {self.field}: {self.reason}"

    def as_dict(self) -> dict[str, str]:
        return {
            "source": self.source,
            "policy": self.policy,
            "field": self.field,
            "reason": self.reason,
        }


class PolicyLibraryError(InvalidInput):
    """A policy library that cannot be used; every problem is listed, not only the first.

    Each line reads ``policy <id>, field <field>: <problem>`` so whoever edits the file can
    find each mistake without running anything else.
    """

    type = "/problems/invalid-policy-library"
    title = "Invalid policy library"

    def __init__(self, problems: Sequence[LibraryProblem]) -> None:
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the policy library"
        super().__init__(
            head + ":\n" + "\n".join(str(p) for p in problems),
            errors=[p.as_dict() for p in problems],
        )
        self.problems = list(problems)


class PolicyNotFound(NotFound):
    type = "/problems/policy-not-found"
    title = "Policy not found"


class PolicyVersionConflict(Conflict):
    """A new version must start after the policy's latest version starts."""

    type = "/problems/policy-version-conflict"
    title = "Policy version conflict"
