"""The three-day blood-pressure rule on constructed series, and against a reference model."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from carematch.cli import app
from carematch.monitoring.alerts import (
    AlertRuleError,
    alert_rows,
    check_readings,
    find_alerts,
    load_alert_rules,
)

RULES = load_alert_rules()
runner = CliRunner()
D0 = date(2026, 3, 1)
HIGH = (150, 80)
HIGH_DIASTOLIC = (120, 95)
NORMAL = (120, 80)


def _raw(rows: list[tuple[str, str, float | str, float | str]]) -> pa.Table:
    return pa.table(
        {
            "person_id": [r[0] for r in rows],
            "measured_at": [r[1] for r in rows],
            "sbp": [str(r[2]) for r in rows],
            "dbp": [str(r[3]) for r in rows],
        }
    )


def _alerts(rows: list[tuple[str, str, float | str, float | str]]) -> list[tuple[str, str, date]]:
    checked = check_readings(_raw(rows))
    assert checked.rejected.num_rows == 0, checked.rejected.to_pylist()
    return alert_rows(find_alerts(checked.readings, RULES))


def _daily(person: str, values: list[tuple[int, int] | None], hour: str = "08:00") -> list:
    """One reading a day from D0; None leaves the day without a reading."""
    return [
        (person, f"{D0 + timedelta(days=i)}T{hour}:00+08:00", *v)
        for i, v in enumerate(values)
        if v is not None
    ]


def test_fires_exactly_once_on_the_third_high_day_of_a_long_streak():
    rows = _daily("P1", [HIGH] * 7)

    assert _alerts(rows) == [("P1", "bp_high_3d", D0 + timedelta(days=2))]


def test_two_high_days_do_not_alert_and_a_high_diastolic_counts():
    assert _alerts(_daily("P1", [HIGH, HIGH_DIASTOLIC])) == []
    assert _alerts(_daily("P1", [HIGH, HIGH_DIASTOLIC, HIGH_DIASTOLIC])) == [
        ("P1", "bp_high_3d", D0 + timedelta(days=2))
    ]


def test_thresholds_are_inclusive_and_just_below_is_normal():
    assert _alerts(_daily("P1", [(140, 60), (100, 90), (140, 90)])) == [
        ("P1", "bp_high_3d", D0 + timedelta(days=2))
    ]
    assert _alerts(_daily("P1", [(139, 89)] * 3)) == []


def test_a_normal_day_breaks_the_streak_and_a_new_streak_alerts_again():
    rows = _daily("P1", [HIGH, HIGH, NORMAL, HIGH, HIGH, HIGH, HIGH, NORMAL, HIGH, HIGH, HIGH])

    assert _alerts(rows) == [
        ("P1", "bp_high_3d", D0 + timedelta(days=5)),
        ("P1", "bp_high_3d", D0 + timedelta(days=10)),
    ]


def test_a_day_with_only_normal_readings_breaks_even_between_high_days():
    rows = _daily("P1", [HIGH, HIGH, NORMAL, HIGH]) + _daily("P1", [None, None, NORMAL], "20:00")

    assert _alerts(rows) == []


def test_a_missing_day_breaks_the_streak():
    assert _alerts(_daily("P1", [HIGH, HIGH, None, HIGH, HIGH])) == []
    assert _alerts(_daily("P1", [HIGH, HIGH, None, HIGH, HIGH, HIGH])) == [
        ("P1", "bp_high_3d", D0 + timedelta(days=5))
    ]


def test_an_alert_needs_a_break_before_the_next_one():
    # Nine high days in a row are one episode, not three.
    assert len(_alerts(_daily("P1", [HIGH] * 9))) == 1


def test_midnight_2359_and_0001_are_different_days():
    rows = [
        ("P1", "2026-03-01T23:59:00", *HIGH),
        ("P1", "2026-03-02T00:01:00", *HIGH),
        ("P1", "2026-03-03T00:00:00", *HIGH),
    ]
    assert _alerts(rows) == [("P1", "bp_high_3d", date(2026, 3, 3))]
    # The same minute either side of one midnight: two days, not three.
    two_days = [
        ("P2", "2026-03-01T23:59:00", *HIGH),
        ("P2", "2026-03-02T00:01:00", *HIGH),
        ("P2", "2026-03-02T23:59:59", *HIGH),
    ]
    assert _alerts(two_days) == []


def test_the_local_date_as_written_counts_whatever_the_offset():
    # 23:30Z is 07:30 on the 2nd in Beijing, and 00:30+08:00 is 16:30Z on the 1st: the day is
    # the one written, so these are the 1st, 2nd and 3rd.
    rows = [
        ("P1", "2026-03-01T23:30:00Z", *HIGH),
        ("P1", "2026-03-02T00:30:00+08:00", *HIGH),
        ("P1", "2026-03-03T12:00:00-0500", *HIGH),
    ]
    assert _alerts(rows) == [("P1", "bp_high_3d", date(2026, 3, 3))]
    # Converted to UTC, the +08:00 reading would fall on the 1st beside the Z one: no alert.
    same_utc_day = [
        ("P2", "2026-03-01T20:00:00Z", *HIGH),
        ("P2", "2026-03-02T01:00:00+08:00", *HIGH),
        ("P2", "2026-03-03T08:00:00+08:00", *HIGH),
    ]
    assert _alerts(same_utc_day) == [("P2", "bp_high_3d", date(2026, 3, 3))]


def test_several_readings_a_day_one_high_is_enough():
    rows = []
    for i in range(3):
        day = D0 + timedelta(days=i)
        rows += [
            ("P1", f"{day}T07:00:00", *NORMAL),
            ("P1", f"{day}T12:00:00", *HIGH),
            ("P1", f"{day}T19:00:00", *NORMAL),
        ]
    assert _alerts(rows) == [("P1", "bp_high_3d", D0 + timedelta(days=2))]


def test_unordered_input_and_several_people_give_sorted_output():
    rows = _daily("P9", [HIGH] * 3) + _daily("P1", [HIGH] * 4) + _daily("P5", [NORMAL] * 3)
    rows = rows[::-1]
    rows = rows[1::2] + rows[::2]

    assert _alerts(rows) == [
        ("P1", "bp_high_3d", D0 + timedelta(days=2)),
        ("P9", "bp_high_3d", D0 + timedelta(days=2)),
    ]


def test_bad_rows_are_rejected_with_their_reason():
    checked = check_readings(
        _raw(
            [
                ("", "2026-03-01T08:00", 120, 80),
                ("P1", "yesterday", 120, 80),
                ("P1", "2026-02-30T08:00", 120, 80),
                ("P1", "2026-03-01T25:00", 120, 80),
                ("P1", "2026-03-01T08:00", "high", 80),
                ("P1", "2026-03-01T08:00", 120, ""),
                ("P1", "2026-03-01T08:00", 400, 80),
                ("P1", "2026-03-01 08:00:00.5", 120, 80),
            ]
        )
    )
    reasons = dict(
        zip(
            checked.rejected.column("row").to_pylist(),
            checked.rejected.column("reason").to_pylist(),
            strict=True,
        )
    )
    assert reasons == {
        1: "person_id is empty",
        2: "measured_at is not an ISO date-time",
        3: "measured_at is not an ISO date-time",
        4: "measured_at is not an ISO date-time",
        5: "sbp is not a number",
        6: "dbp is not a number",
        7: "sbp is outside 40-300 mmHg",
    }
    assert checked.readings.column("row").to_pylist() == [8]


def test_rules_are_data_a_two_day_glucose_rule_from_yaml():
    rules = load_alert_rules(
        {
            "features": {"glucose": {"type": "float"}},
            "rules": [{"id": "glu_2d", "condition": "glucose >= 7.0", "consecutive_days": 2}],
        }
    )
    readings = pa.table(
        {
            "person_id": ["A", "A", "A"],
            "day": [D0, D0 + timedelta(days=1), D0 + timedelta(days=2)],
            "glucose": [7.5, 8.0, 9.0],
        }
    )
    assert alert_rows(find_alerts(readings, rules)) == [("A", "glu_2d", D0 + timedelta(days=1))]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"features": {"sbp": {"type": "float"}}, "rules": []}, "no rules"),
        (
            {
                "features": {"sbp": {"type": "float"}},
                "rules": [{"id": "x", "condition": "pulse > 1", "consecutive_days": 3}],
            },
            "pulse",
        ),
        (
            {
                "features": {"sbp": {"type": "float"}},
                "rules": [{"id": "x", "condition": "sbp > 1", "consecutive_days": 0}],
            },
            "consecutive_days",
        ),
    ],
)
def test_a_bad_rule_file_is_refused_with_the_reason(rules, message):
    with pytest.raises(AlertRuleError, match=message):
        load_alert_rules(rules)


def _reference(series: dict[str, dict[date, bool]], k: int = 3) -> list[tuple[str, str, date]]:
    """A plain day-by-day walk: the obvious implementation of the rule."""
    out = []
    for person in sorted(series):
        days = series[person]
        run, previous = 0, None
        for day in sorted(days):
            if days[day] and previous is not None and day - previous == timedelta(days=1) and run:
                run += 1
            elif days[day]:
                run = 1
            else:
                run = 0
            previous = day
            if run == k:
                out.append((person, "bp_high_3d", day))
    return out


readings_strategy = st.lists(
    st.tuples(
        st.sampled_from(["A", "B", "C"]),
        st.integers(min_value=0, max_value=20),  # day offset
        st.integers(min_value=0, max_value=23),  # hour
        st.sampled_from(["", "Z", "+08:00", "-05:00"]),
        st.integers(min_value=100, max_value=170),
        st.integers(min_value=60, max_value=100),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(readings_strategy)
def test_property_matches_a_day_by_day_reference(readings):
    rows = [
        (p, f"{D0 + timedelta(days=d)}T{h:02d}:15:00{tz}", s, dia)
        for p, d, h, tz, s, dia in readings
    ]
    series: dict[str, dict[date, bool]] = {}
    for p, d, _h, _tz, s, dia in readings:
        day = D0 + timedelta(days=d)
        series.setdefault(p, {})
        series[p][day] = series[p].get(day, False) or s >= 140 or dia >= 90

    assert _alerts(rows) == _reference(series)


# --- the CLI contract ----------------------------------------------------------------------


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["person_id", "measured_at", "sbp", "dbp"], *rows])
    return path


def test_cli_writes_the_contract_file(tmp_path):
    readings = _write(
        tmp_path / "r.csv",
        [
            ["P2", "2026-03-03T08:00:00+08:00", "150", "85"],
            ["P1", "2026-03-01T08:00:00", "120", "95"],
            ["P2", "2026-03-01T08:00:00+08:00", "150", "85"],
            ["P1", "2026-03-02T08:00:00", "160", "80"],
            ["P2", "2026-03-02T23:59:00+08:00", "145", "85"],
            ["P1", "2026-03-03T21:00:00", "141", "80"],
        ],
    )
    out = tmp_path / "a.csv"

    result = runner.invoke(
        app, ["monitoring", "alerts", "--readings", str(readings), "--out", str(out)]
    )

    assert result.exit_code == 0, result.stderr
    assert out.read_text(encoding="utf-8").splitlines() == [
        "person_id,rule,alert_date",
        "P1,bp_high_3d,2026-03-03",
        "P2,bp_high_3d,2026-03-03",
    ]


def test_cli_skips_bad_rows_with_a_count_and_exit_1(tmp_path):
    rows = [["P1", f"2026-03-0{i}T08:00", "150", "80"] for i in (1, 2, 3)]
    readings = _write(tmp_path / "r.csv", [*rows, ["P1", "not a time", "150", "80"], ["P2"]])
    out = tmp_path / "a.csv"

    result = runner.invoke(
        app, ["monitoring", "alerts", "--readings", str(readings), "--out", str(out)]
    )

    assert result.exit_code == 1
    assert "row 4: measured_at is not an ISO date-time" in result.stderr
    assert '"skipped": 2' in result.stderr
    assert out.read_text(encoding="utf-8").splitlines()[1:] == ["P1,bp_high_3d,2026-03-03"]


def test_cli_refuses_a_file_without_the_contract_columns(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("person,time,sbp\nP1,2026-03-01,150\n", encoding="utf-8")

    result = runner.invoke(
        app, ["monitoring", "alerts", "--readings", str(bad), "--out", str(tmp_path / "a.csv")]
    )

    assert result.exit_code == 2
    assert "missing column(s) person_id, measured_at, dbp" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "a.csv").exists()
