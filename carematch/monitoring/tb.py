"""TB case management rates (结核病患者管理率, R-MN-3) for migrants and residents.

A pure engine over plain values. A TB case is a person whose record carries the ``tb``
condition; a case is *managed* when at least one TB service (screening, a DOT or follow-up
visit) is recorded for them; *completed* when their TB services span the standard six-month
course (:data:`COURSE_DAYS` from the first to the last, so a course begun and followed to its
end). Rates are per group (``migrant`` / ``local``), each over that group's cases.

Examples:
    >>> from datetime import date
    >>> rates = tb_rates(
    ...     [("A", "migrant"), ("B", "migrant"), ("C", "local")],
    ...     [("A", date(2026, 1, 5)), ("A", date(2026, 7, 1)), ("C", date(2026, 2, 1))],
    ... )
    >>> rates["migrant"].managed, rates["migrant"].completed, rates["local"].managed_rate
    (1, 1, 1.0)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

COURSE_DAYS = 168
"""Six months (24 weeks): the standard course for drug-sensitive pulmonary TB."""
TB_SERVICES = frozenset({"tb_screening", "tb_followup", "tb_dot", "tb"})
"""Service codes that count as TB case management."""
GROUPS = ("migrant", "local")


@dataclass(frozen=True)
class TbRates:
    """One group's TB cases, managed and completed, and the two rates (None without cases)."""

    group: str
    cases: int
    managed: int
    completed: int

    @property
    def managed_rate(self) -> float | None:
        return self.managed / self.cases if self.cases else None

    @property
    def completed_rate(self) -> float | None:
        return self.completed / self.cases if self.cases else None


def tb_rates(
    cases: Iterable[tuple[str, str | None]],
    visits: Iterable[tuple[str, date]],
    course_days: int = COURSE_DAYS,
) -> dict[str, TbRates]:
    """Rates per group.

    Args:
        cases: (person_id, group) of every TB case; a group other than ``migrant`` counts as
            ``local`` (an unknown hukou is taken as registered here).
        visits: (person_id, day) of TB services; visits of non-cases are ignored.
        course_days: the span from first to last visit that counts as a completed course.
    """
    group_of = {person: ("migrant" if g == "migrant" else "local") for person, g in cases}
    days: dict[str, list[date]] = defaultdict(list)
    for person, day in visits:
        if person in group_of:
            days[person].append(day)
    counts = {g: [0, 0, 0] for g in GROUPS}
    for person, group in group_of.items():
        seen = days.get(person, [])
        counts[group][0] += 1
        if seen:
            counts[group][1] += 1
            if (max(seen) - min(seen)).days >= course_days:
                counts[group][2] += 1
    return {g: TbRates(g, *counts[g]) for g in GROUPS}
