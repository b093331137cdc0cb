"""Loading a schedule: the shipped file reads as written, a malformed one is refused clearly."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from carematch.vaccination.errors import ScheduleError
from carematch.vaccination.schedule import (
    After,
    Duration,
    add_duration,
    add_months,
    default_schedule,
    load_schedule,
    parse_schedule,
)

SHIPPED = Path(__file__).resolve().parents[2] / "carematch" / "data" / "nip_schedule.yaml"

# --- durations and the calendar rule ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0d", Duration(0, 0, 0)),
        ("28d", Duration(0, 0, 28)),
        ("6m", Duration(0, 6, 0)),
        ("2y", Duration(2, 0, 0)),
        ("1y6m", Duration(1, 6, 0)),
        ("1y2m3d", Duration(1, 2, 3)),
    ],
)
def test_durations_parse(text, expected):
    assert Duration.parse(text) == expected
    assert Duration.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["", "6", "6 months", "1m1y", "-1d", "1.5y", "d", 6, None])
def test_unknown_duration_syntax_is_refused(text):
    with pytest.raises(ValueError, match="not a duration"):
        Duration.parse(text)


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        # The header's own example: no 31 February, so the 1st of the next month.
        ("2023-01-31", "1m", "2023-03-01"),
        ("2024-01-31", "1m", "2024-03-01"),
        ("2024-01-29", "1m", "2024-02-29"),
        ("2024-01-30", "1m", "2024-03-01"),
        ("2024-03-31", "1m", "2024-05-01"),
        ("2024-08-31", "1m", "2024-10-01"),
        ("2024-12-31", "2m", "2025-03-01"),
        ("2024-12-15", "1m", "2025-01-15"),
        ("2024-10-31", "14m", "2025-12-31"),  # 31 Dec exists: no roll
        ("2024-10-31", "16m", "2026-03-01"),  # 31 Feb 2026 -> 1 Mar
        # 29 February births.
        ("2020-02-29", "1y", "2021-03-01"),
        ("2020-02-29", "4y", "2024-02-29"),
        ("2020-02-29", "12m", "2021-03-01"),
        # Years, then months, each rolling on its own: 29 Feb 2024 + 1y = 1 Mar 2025, + 1m.
        ("2024-02-29", "1y1m", "2025-04-01"),
        # Then days, plain calendar days.
        ("2024-02-10", "28d", "2024-03-09"),
        ("2023-02-10", "28d", "2023-03-10"),
        ("2024-01-31", "1m1d", "2024-03-02"),
        ("2024-05-05", "0d", "2024-05-05"),
    ],
)
def test_add_duration_follows_the_header(start, duration, expected):
    assert add_duration(date.fromisoformat(start), Duration.parse(duration)) == date.fromisoformat(
        expected
    )


def test_add_months_crosses_the_year_and_rolls():
    assert add_months(date(2024, 11, 30), 3) == date(2025, 3, 1)  # no 30 Feb 2025
    assert add_months(date(2024, 11, 30), 14) == date(2026, 1, 30)


# --- the shipped schedule --------------------------------------------------------------------


def test_the_shipped_schedule_reads_as_written():
    schedule = default_schedule()
    assert schedule.name == "CN-NIP-2021+DTaP2025"
    assert [s.code for s in schedule.series] == [
        "HepB", "BCG", "Polio", "DTaP", "MMR", "JE-L", "MPSV-A", "MPSV-AC", "HepA-L",
    ]  # fmt: skip
    by_code = {s.code: s for s in schedule.series}
    assert [s.code for s in schedule.series if s.live_injectable] == ["MMR", "JE-L", "HepA-L"]
    assert by_code["BCG"].live and not by_code["BCG"].injectable
    assert by_code["BCG"].requires[0].flag == "tb_skin_test_negative"
    assert by_code["BCG"].requires[0].from_age == Duration(0, 3, 0)
    assert by_code["MPSV-A"].max_age == Duration(0, 24, 0)
    dtap = by_code["DTaP"].doses
    assert [d.age for d in dtap] == [
        Duration(0, 2, 0), Duration(0, 4, 0), Duration(0, 6, 0), Duration(0, 18, 0),
        Duration(6, 0, 0),
    ]  # fmt: skip
    assert dtap[0].min_interval is None and dtap[4].min_interval == Duration(1, 0, 0)
    assert all(d.min_age == d.age for s in schedule.series for d in s.doses)
    assert by_code["MPSV-AC"].doses[0].after == (After("MPSV-A", None, Duration(0, 12, 0)),)
    assert by_code["Polio"].doses[3].product == "bOPV"
    assert schedule.live_spacing == Duration(0, 0, 28)
    assert schedule.catch_up_max_age == Duration(18, 0, 0)
    # MPSV-A comes before MPSV-AC in evaluation order (its valid doses are read by `after`).
    order = list(schedule.evaluation_order)
    assert order.index(6) < order.index(7)
    assert load_schedule(SHIPPED) == schedule


# --- malformed files -------------------------------------------------------------------------

HEAD = "schedule: T\nseries:\n"
OK_SERIES = (
    "  - {code: A, live: false, max_age: 18y, doses: [{dose: 1, age: 0d, overdue_after: 1m}]}\n"
)


def _after(series: str, dose: str = "last", interval: str = ", interval: 1m") -> str:
    """Dose 1 with one `after` constraint."""
    constraint = f"{{series: {series}, dose: {dose}{interval}}}"
    return f"{{dose: 1, age: 0d, overdue_after: 1y, after: [{constraint}]}}"


def _series(doses: str, extra: str = "", code: str = "B") -> str:
    return f"  - {{code: {code}, live: false, max_age: 18y{extra}, doses: [{doses}]}}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just a list\n", "the file must be a mapping"),
        ("series: []\n", "`schedule` (the schedule's name) is missing"),
        (HEAD.replace("series:\n", "series: []\n"), "`series` must be a non-empty list"),
        (HEAD + "  - {live: false}\n", "series #1 has no `code`"),
        (HEAD + OK_SERIES + OK_SERIES, "series 'A' appears twice"),
        (
            HEAD + _series("{dose: 1, age: 2 months, overdue_after: 1y}"),
            "series B dose 1: `age`: not a duration: '2 months'",
        ),
        (
            HEAD
            + _series(
                "{dose: 1, age: 0d, overdue_after: 1y}, {dose: 3, age: 1m, overdue_after: 1y}"
            ),
            "series B: doses out of order: dose #2 in the list is numbered 3",
        ),
        (
            HEAD + _series("{dose: 1, age: 0d, overdue_after: 1y}", ", live: maybe"),
            "`live` must be true or false",
        ),
        (HEAD + _series("{dose: 1, overdue_after: 1y}"), "series B dose 1: `age` is missing"),
        (HEAD + _series("{dose: 1, age: 0d}"), "series B dose 1: `overdue_after` is missing"),
        (
            HEAD + _series("{dose: 1, age: 0d, min_intervall: 28d, overdue_after: 1y}"),
            "series B dose 1: unknown key(s) min_intervall",
        ),
        (
            HEAD + _series("{dose: 1, age: 0d, min_interval: 28d, overdue_after: 1y}"),
            "`min_interval` on dose 1",
        ),
        (
            HEAD + _series(_after("Z")),
            "series B dose 1: `after` names an unknown series 'Z'",
        ),
        (
            HEAD + OK_SERIES + _series(_after("A", "first")),
            "`after` dose must be a number or 'last'",
        ),
        (
            HEAD + OK_SERIES + _series(_after("A", "2")),
            "series B dose 1: `after` names dose 2 of A, which has 1 dose(s)",
        ),
        (
            HEAD + OK_SERIES + _series(_after("A", interval="")),
            "`after` has no `interval`",
        ),
        (
            HEAD
            + _series(_after("C"))
            + _series(
                _after("B"),
                code="C",
            ),
            "`after` constraints form a cycle: B → C → B",
        ),
        (
            HEAD
            + _series(
                "{dose: 1, age: 0d, overdue_after: 1y}", ", requires: [{flag: x, from_age: 3m}]"
            ),
            "series B: requirement 'x': `to_age` is missing",
        ),
        (HEAD + "  - {code: B, live: false, doses: []}\n", "series B: `max_age` is missing"),
        (
            HEAD + "  - {code: B, live: false, max_age: 1y, doses: []}\n",
            "`doses` must be a non-empty list",
        ),
        (HEAD + OK_SERIES + "colour: blue\n", "unknown key(s) colour"),
        ("schedule: T\nlive_spacing: four weeks\nseries:\n" + OK_SERIES, "`live_spacing`"),
    ],
)
def test_a_malformed_schedule_names_the_place_and_the_problem(text, message):
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text, "s.yaml")
    assert message in caught.value.detail
    assert caught.value.detail.startswith("s.yaml")
    assert caught.value.status == 400


def test_a_missing_or_unreadable_file_is_a_schedule_error(tmp_path):
    with pytest.raises(ScheduleError, match="no such file"):
        load_schedule(tmp_path / "none.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("schedule: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ScheduleError, match="cannot read"):
        load_schedule(bad)


def test_a_live_series_is_injectable_unless_the_file_says_otherwise():
    text = (
        HEAD
        + "  - {code: L, live: true, max_age: 18y, "
        + "doses: [{dose: 1, age: 0d, overdue_after: 1m}]}\n"
    )
    assert parse_schedule(text).series[0].live_injectable
    oral = text.replace("live: true", "live: true, injectable: false")
    assert not parse_schedule(oral).series[0].live_injectable
