"""Adverse events following immunization (疑似预防接种异常反应, AEFI): categories, reporting
deadlines, onset windows and the cluster rule, from ``aefi_rules.yaml``.

China's surveillance scheme classifies an event as 一般反应 (general), 异常反应 (abnormal),
疫苗质量事故 (quality accident), 接种事故 (programme error), 偶合症 (coincidental) or 心因性反应
(psychogenic). A report is due within 48 hours of the event being found, and within 2 hours for
a death, a serious event or a cluster (群体性事件). Every number and name is in the file.

Decisions (pinned by tests):

* Events cluster when ``min_events`` or more *serious* events of one category at one site share
  a series or a lot and their onsets lie within ``window`` of each other (exactly ``window``
  apart counts). Non-serious events never cluster.
* A cluster is raised once. A further matching event whose onset lies within ``window`` of the
  cluster's span joins it and stretches the span; it raises nothing new.
* An onset outside the category's window, or before the dose day, is flagged, never refused.

Pure: no database, no web framework.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from carematch.core.errors import InvalidInput
from carematch.vaccination.schedule import Schedule

RULES_FILE = "aefi_rules.yaml"
_SPAN = re.compile(r"^(\d+)([hd])$")


class AefiRulesError(InvalidInput):
    """An AEFI rules file that cannot be used; the message lists every problem."""

    type = "/problems/invalid-aefi-rules"
    title = "Invalid AEFI rules"


@dataclass(frozen=True, slots=True)
class OnsetWindow:
    """How many days after the dose day an onset of ``category`` is expected (for ``series``,
    or for every series when it is empty)."""

    category: str
    days: int
    series: tuple[str, ...] = ()


@dataclass(frozen=True)
class AefiRules:
    """The checked file."""

    categories: Mapping[str, Mapping[str, str]]
    normal_deadline: timedelta
    urgent_deadline: timedelta
    cluster_min_events: int
    cluster_window: timedelta
    onset_windows: tuple[OnsetWindow, ...]

    def label(self, category: str, locale: str = "zh") -> str:
        """A category's name in ``locale`` (its code when unknown)."""
        return self.categories.get(category, {}).get(locale, category)

    def deadline(
        self, found_at: datetime, *, serious: bool, death: bool, clustered: bool
    ) -> datetime:
        """When the report is due: from the moment the event was found, urgent for a death, a
        serious or a clustered event."""
        urgent = serious or death or clustered
        return _aware(found_at) + (self.urgent_deadline if urgent else self.normal_deadline)

    def window_for(self, category: str, series: str) -> OnsetWindow | None:
        """The onset window of ``category`` after a dose of ``series``; the most specific
        entry (one naming the series) wins; None when the category has none."""
        general: OnsetWindow | None = None
        for window in self.onset_windows:
            if window.category != category:
                continue
            if series in window.series:
                return window
            if not window.series:
                general = window
        return general

    def onset_in_window(self, category: str, series: str, dose_day: date, onset: datetime) -> bool:
        """Whether an onset fits the category's window after the dose day (the dose day counts
        as day 0; the onset's day is taken in the city's calendar by the caller)."""
        onset_day = onset.date()
        if onset_day < dose_day:
            return False
        window = self.window_for(category, series)
        return window is None or (onset_day - dose_day).days <= window.days


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _span(value: Any, where: str, problems: list[str]) -> timedelta:
    match = _SPAN.match(value) if isinstance(value, str) else None
    if not match or int(match[1]) == 0:
        problems.append(f"{where}: write a positive span such as '48h' or '7d', got {value!r}")
        return timedelta(hours=1)
    amount = int(match[1])
    return timedelta(hours=amount) if match[2] == "h" else timedelta(days=amount)


def parse_rules(data: Any, schedule: Schedule) -> AefiRules:
    """Check a loaded rules file against the schedule.

    Raises:
        AefiRulesError: naming every problem.
    """
    if not isinstance(data, Mapping):
        raise AefiRulesError("the AEFI rules file is a mapping")
    problems: list[str] = []
    categories = data.get("categories")
    if not isinstance(categories, Mapping) or not categories:
        problems.append("'categories' must map codes to zh and en names")
        categories = {}
    cats: dict[str, dict[str, str]] = {}
    for code, names in categories.items():
        if not isinstance(names, Mapping) or not all(
            isinstance(names.get(k), str) and names[k] for k in ("zh", "en")
        ):
            problems.append(f"category {code!r}: needs zh and en names")
            continue
        cats[str(code)] = {"zh": names["zh"], "en": names["en"]}
    deadlines = data.get("deadlines")
    deadlines = deadlines if isinstance(deadlines, Mapping) else {}
    normal = _span(deadlines.get("normal"), "deadlines.normal", problems)
    urgent = _span(deadlines.get("urgent"), "deadlines.urgent", problems)
    if urgent > normal:
        problems.append("deadlines: urgent must not be longer than normal")
    cluster = data.get("cluster")
    cluster = cluster if isinstance(cluster, Mapping) else {}
    min_events = cluster.get("min_events")
    if not isinstance(min_events, int) or isinstance(min_events, bool) or min_events < 2:
        problems.append("cluster.min_events must be a whole number >= 2")
        min_events = 2
    window = _span(cluster.get("window"), "cluster.window", problems)
    codes = {s.code for s in schedule.series}
    windows: list[OnsetWindow] = []
    for number, raw in enumerate(data.get("onset_windows") or [], start=1):
        where = f"onset_windows #{number}"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: must be a mapping")
            continue
        category, days, series = raw.get("category"), raw.get("days"), raw.get("series") or []
        if category not in cats:
            problems.append(f"{where}: unknown category {category!r}")
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            problems.append(f"{where}: days must be a whole number >= 0")
            days = 0
        if not isinstance(series, list) or any(c not in codes for c in series):
            problems.append(f"{where}: unknown series in {series!r}")
            series = []
        windows.append(OnsetWindow(str(category), days, tuple(str(c) for c in series)))
    if problems:
        raise AefiRulesError("; ".join(problems))
    return AefiRules(cats, normal, urgent, min_events, window, tuple(windows))


@lru_cache(maxsize=4)
def shipped_rules(schedule: Schedule) -> AefiRules:
    """The rules shipped in the package, checked once per process."""
    text = resources.files("carematch.vaccination").joinpath(RULES_FILE).read_text("utf-8")
    return parse_rules(yaml.safe_load(text), schedule)


# --- clusters (群体性事件) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """A serious report as the cluster rule sees it."""

    id: str
    series: str
    lot: str | None
    onset_at: datetime
    cluster_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClusterSpan:
    """An existing cluster at the site and category: its series, lot and onset span."""

    id: str
    series: str
    lot: str | None
    first_onset: datetime
    last_onset: datetime


@dataclass(frozen=True, slots=True)
class ClusterDecision:
    """What a new serious event does: join a cluster, start one with others, or nothing."""

    join: str | None = None
    start_with: tuple[str, ...] = ()
    """Unclustered events that form a new cluster with the new one (raise the alert)."""


def similar(series_a: str, lot_a: str | None, series_b: str, lot_b: str | None) -> bool:
    """Two events are similar when they share the vaccine series or the lot."""
    return series_a == series_b or (lot_a is not None and lot_a == lot_b)


def decide_cluster(
    rules: AefiRules,
    new: Event,
    clusters: Sequence[ClusterSpan],
    others: Sequence[Event],
) -> ClusterDecision:
    """Whether a new serious event joins a cluster or starts one.

    Args:
        rules: the AEFI rules (window, min_events).
        new: the new serious event.
        clusters: the existing clusters of the same site and category.
        others: the other serious events of the same site and category.
    """
    window = rules.cluster_window
    onset = _aware(new.onset_at)
    for span in sorted(clusters, key=lambda c: c.first_onset):
        if not similar(new.series, new.lot, span.series, span.lot):
            continue
        if _aware(span.first_onset) - window <= onset <= _aware(span.last_onset) + window:
            return ClusterDecision(join=span.id)
    near = [
        e.id
        for e in others
        if e.id != new.id
        and e.cluster_id is None
        and similar(new.series, new.lot, e.series, e.lot)
        and abs(_aware(e.onset_at) - onset) <= window
    ]
    if len(near) + 1 >= rules.cluster_min_events:
        return ClusterDecision(start_with=tuple(sorted(near)))
    return ClusterDecision()
