"""`carematch forecast --series S.csv --horizon H --out F.csv`: the contract and its failures."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from carematch.cli import app
from carematch.forecasting.series import parse_series
from carematch.forecasting.synthetic import spring_festival_series

runner = CliRunner()


def run(series: Path, out: Path, horizon: int = 13, *extra: str):
    args = ["forecast", "--series", str(series), "--horizon", str(horizon), "--out", str(out)]
    return runner.invoke(app, [*args, *extra])


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_series_gets_h_rows_on_the_mondays_after_its_last_week(tmp_path):
    # Given two generated series ending on different weeks, and a short one (3 weeks)
    frame = spring_festival_series(2, 2.5, seed=3)
    frame = frame[~((frame.series_id == "S001") & (frame.week > date(2026, 5, 25)))]
    rows = [f"{r.series_id},{r.week},{int(r.value)}" for r in frame.itertuples()]
    rows += ["short,2026-06-01,4", "short,2026-06-08,0", "short,2026-06-15,7"]
    series = write(tmp_path / "s.csv", "series_id,week,value\n" + "\n".join(rows) + "\n")
    out = tmp_path / "f.csv"

    # When they are forecast 17 weeks ahead
    result = run(series, out, 17)

    # Then F.csv has the contract's columns, 17 rows per series, on the following Mondays
    assert result.exit_code == 0, result.stderr
    assert out.read_text().splitlines()[0] == "series_id,week,forecast,lo80,hi80"
    got = read(out)
    last = {"S000": date(2026, 6, 29), "S001": date(2026, 5, 25), "short": date(2026, 6, 15)}
    for series_id, end in last.items():
        mine = [r for r in got if r["series_id"] == series_id]
        assert [date.fromisoformat(r["week"]) for r in mine] == [
            end + timedelta(weeks=k) for k in range(1, 18)
        ]
    # with 0 <= lo80 <= forecast <= hi80 on every row (counts in, counts out)
    for row in got:
        lo, mid, hi = float(row["lo80"]), float(row["forecast"]), float(row["hi80"])
        assert 0 <= lo <= mid <= hi
    summary = json.loads(result.stdout)
    assert summary["series"] == 3 and summary["rows"] == 51 and summary["horizon"] == 17
    assert summary["methods"] == {"naive": 1, "profile_ets": 2}


def test_the_forecast_follows_the_level_of_each_series(tmp_path):
    lines = ["series_id,week,value"]
    for k in range(60):
        week = date(2025, 1, 6) + timedelta(weeks=k)
        lines += [f"big,{week},{1000 + k % 3}", f"small,{week},{10 + k % 2}"]
    out = tmp_path / "f.csv"
    assert run(write(tmp_path / "s.csv", "\n".join(lines)), out, 4).exit_code == 0
    got = read(out)
    big = [float(r["forecast"]) for r in got if r["series_id"] == "big"]
    small = [float(r["forecast"]) for r in got if r["series_id"] == "small"]
    assert all(900 < v < 1100 for v in big) and all(5 < v < 15 for v in small)


BAD = {
    "missing column": ("series_id,week\nA,2026-01-05\n", "missing column(s) value"),
    "not a monday": ("series_id,week,value\nA,2026-01-06,3\n", "2026-01-06 is a Tuesday"),
    "not a date": ("series_id,week,value\nA,06/01/2026,3\n", "is not an ISO date"),
    "duplicate": (
        "series_id,week,value\nA,2026-01-05,3\nA,2026-01-05,4\n",
        "line 3: series 'A' has week 2026-01-05 twice",
    ),
    "not a number": ("series_id,week,value\nA,2026-01-05,three\n", "'three' is not a number"),
    "infinite": ("series_id,week,value\nA,2026-01-05,inf\n", "not a finite number"),
    "gap": (
        "series_id,week,value\nA,2026-01-05,3\nA,2026-01-19,4\n",
        "series 'A' has 1 missing week(s): 2026-01-12",
    ),
    "header only": ("series_id,week,value\n", "no rows"),
    "empty": ("", "missing column(s)"),
    "extra field": ("series_id,week,value\nA,2026-01-05,3,9\n", "more fields"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(tmp_path, case):
    text, message = BAD[case]
    out = tmp_path / "f.csv"

    result = run(write(tmp_path / "s.csv", text), out)

    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    assert not out.exists()


def test_every_bad_line_is_reported_not_only_the_first(tmp_path):
    text = "series_id,week,value\nA,2026-01-06,1\nA,2026-01-12,x\nB,2026-01-05,2\n"
    result = run(write(tmp_path / "s.csv", text), tmp_path / "f.csv")
    assert result.exit_code == 2
    assert "line 2:" in result.stderr and "line 3:" in result.stderr
    assert "line 4" not in result.stderr


def test_gaps_can_be_filled_with_zero_or_a_straight_line(tmp_path):
    series = write(tmp_path / "s.csv", "series_id,week,value\nA,2026-01-05,10\nA,2026-01-26,40\n")
    for policy in ("zero", "interpolate"):
        out = tmp_path / f"{policy}.csv"
        result = run(series, out, 2, "--fill-gaps", policy)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["filled_weeks"] == 2
        assert [r["week"] for r in read(out)] == ["2026-02-02", "2026-02-09"]
    bad = run(series, tmp_path / "x.csv", 2, "--fill-gaps", "guess")
    assert bad.exit_code == 2 and "--fill-gaps" in bad.stderr


def test_missing_file_and_bad_horizon_are_refused(tmp_path):
    out = tmp_path / "f.csv"
    missing = run(tmp_path / "nope.csv", out)
    assert missing.exit_code == 2 and "no such series file" in missing.stderr
    series = write(tmp_path / "s.csv", "series_id,week,value\nA,2026-01-05,3\n")
    assert run(series, out, 0).exit_code == 2
    assert not out.exists()


def test_a_horizon_past_the_calendars_end_is_refused_not_a_traceback(tmp_path):
    series = write(tmp_path / "s.csv", "series_id,week,value\nA,9999-12-20,3\nA,9999-12-27,4\n")
    result = run(series, tmp_path / "f.csv", 4)
    assert result.exit_code == 2
    assert "series 'A'" in result.stderr and "calendar's end" in result.stderr
    assert not (tmp_path / "f.csv").exists()


@settings(max_examples=40)
@given(
    st.dictionaries(
        st.text(alphabet="ABCxyz09_-中", min_size=1, max_size=6),
        st.tuples(
            st.integers(min_value=0, max_value=600),
            st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=12),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_well_formed_file_reads_back_as_written(found):
    # Given series with consecutive Mondays in any row order
    rows = []
    for series_id, (offset, values) in found.items():
        first = date(2020, 1, 6) + timedelta(weeks=offset)
        rows += [(series_id, first + timedelta(weeks=k), v) for k, v in enumerate(values)]
    rows.sort(key=lambda r: (r[1], r[0]))
    text = "series_id,week,value\n" + "".join(f"{s},{w},{v!r}\n" for s, w, v in rows)

    # When the file is parsed
    parsed = {s.series_id: s for s in parse_series(io.StringIO(text))}

    # Then every series comes back sorted by week with its values
    assert set(parsed) == set(found)
    for series_id, (offset, values) in found.items():
        first = date(2020, 1, 6) + timedelta(weeks=offset)
        assert parsed[series_id].weeks == [first + timedelta(weeks=k) for k in range(len(values))]
        assert parsed[series_id].values == values
