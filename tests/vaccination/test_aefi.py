"""The AEFI rules: deadlines, onset windows and the cluster rule at each boundary (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from carematch.vaccination.aefi import (
    AefiRulesError,
    ClusterSpan,
    Event,
    decide_cluster,
    parse_rules,
    shipped_rules,
)
from carematch.vaccination.schedule import default_schedule

SCHEDULE = default_schedule()
RULES = shipped_rules(SCHEDULE)
FOUND = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_the_six_chinese_categories_are_known():
    assert {RULES.label(c) for c in RULES.categories} == {
        "一般反应",
        "异常反应",
        "疫苗质量事故",
        "接种事故",
        "偶合症",
        "心因性反应",
    }


@pytest.mark.parametrize(
    ("serious", "death", "clustered", "hours"),
    [
        (False, False, False, 48),
        (True, False, False, 2),
        (False, True, False, 2),
        (False, False, True, 2),
    ],
)
def test_the_deadline_counts_from_the_moment_found(serious, death, clustered, hours):
    deadline = RULES.deadline(FOUND, serious=serious, death=death, clustered=clustered)
    assert deadline - FOUND == timedelta(hours=hours)


def test_onset_windows_most_specific_entry_wins():
    dose = date(2026, 3, 1)
    at = lambda days: datetime(2026, 3, 1, 9) + timedelta(days=days)  # noqa: E731
    # General reactions: 3 days in general, 14 after a live measles-containing vaccine.
    assert RULES.onset_in_window("general", "HepB", dose, at(3))
    assert not RULES.onset_in_window("general", "HepB", dose, at(4))
    assert RULES.onset_in_window("general", "MMR", dose, at(14))
    assert not RULES.onset_in_window("general", "MMR", dose, at(15))
    # A coincidental illness has no window; nothing fits before the dose day.
    assert RULES.onset_in_window("coincidental", "HepB", dose, at(400))
    assert not RULES.onset_in_window("coincidental", "HepB", dose, at(-1))


def ev(eid: str, days: float, series: str = "MMR", lot: str | None = "L1", cluster=None) -> Event:
    return Event(eid, series, lot, T0 + timedelta(days=days), cluster)


def test_one_serious_event_alone_is_no_cluster():
    assert decide_cluster(RULES, ev("b", 0), [], []).start_with == ()
    assert decide_cluster(RULES, ev("b", 0), [], []).join is None


def test_two_similar_events_exactly_seven_days_apart_cluster():
    decision = decide_cluster(RULES, ev("b", 7), [], [ev("a", 0)])
    assert decision.start_with == ("a",)


def test_a_second_past_seven_days_is_too_far():
    late = Event("b", "MMR", "L1", T0 + timedelta(days=7, seconds=1))
    assert decide_cluster(RULES, late, [], [ev("a", 0)]).start_with == ()


def test_same_lot_of_another_series_or_same_series_of_another_lot_are_similar():
    assert decide_cluster(RULES, ev("b", 1, "JE-L", "L1"), [], [ev("a", 0)]).start_with == ("a",)
    assert decide_cluster(RULES, ev("b", 1, "MMR", "L2"), [], [ev("a", 0)]).start_with == ("a",)
    assert decide_cluster(RULES, ev("b", 1, "JE-L", "L2"), [], [ev("a", 0)]).start_with == ()
    assert decide_cluster(RULES, ev("b", 1, "JE-L", None), [], [ev("a", 0, lot=None)]) == (
        decide_cluster(RULES, ev("b", 1, "JE-L", None), [], [])
    )


def test_a_further_event_joins_the_cluster_instead_of_raising_another():
    span = ClusterSpan("c1", "MMR", "L1", T0, T0 + timedelta(days=2))
    others = [ev("a", 0, cluster="c1"), ev("b", 2, cluster="c1")]
    decision = decide_cluster(RULES, ev("n", 9), [span], others)
    assert (decision.join, decision.start_with) == ("c1", ())
    # Exactly 7 days after the span's last onset still joins; beyond it, it neither joins nor
    # (its neighbours being clustered already) starts another.
    far = decide_cluster(RULES, ev("n", 9.5), [span], others)
    assert far.join is None and far.start_with == ()


def test_a_broken_rules_file_is_refused():
    data = yaml.safe_load(Path("carematch/vaccination/aefi_rules.yaml").read_text("utf-8"))
    data["deadlines"]["urgent"] = "3 hours"
    data["onset_windows"].append({"category": "nonsense", "days": 1, "series": ["Ebola"]})
    with pytest.raises(AefiRulesError) as caught:
        parse_rules(data, SCHEDULE)
    for part in ("deadlines.urgent", "nonsense", "Ebola"):
        assert part in caught.value.detail
