"""Weekly series files: read and check ``series_id,week,value``; write the forecasts.

The input contract (``carematch forecast --series S.csv``): one row per series and week, the
week given as its Monday (ISO date), the value a number. Every problem is collected and
reported with its line number; nothing is forecast from a file that has one (a forecast from a
half-read file would look complete and be wrong).

Gaps: a series that skips a week is refused by default (``gaps="refuse"``), because a missing
week is ambiguous (no demand, or no report?) and a model silently fed a guess hides a broken
extract. ``gaps="zero"`` reads a missing week as no demand; ``gaps="interpolate"`` draws a
straight line across it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import IO

from carematch.forecasting.forecast import SeriesForecast

COLUMNS = ("series_id", "week", "value")
OUT_COLUMNS = ("series_id", "week", "forecast", "lo80", "hi80")
GAP_POLICIES = ("refuse", "zero", "interpolate")
MAX_PROBLEMS = 20


class SeriesFileError(ValueError):
    """A series file that cannot be forecast; ``problems`` lists each reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_PROBLEMS]
        more = len(problems) - len(shown)
        text = "\n".join(shown) + (f"\n… and {more} more" if more else "")
        super().__init__(text)


@dataclass(frozen=True)
class WeeklySeries:
    """One series: consecutive Mondays, oldest first, and one value per week."""

    series_id: str
    weeks: list[date]
    values: list[float]
    filled: int = 0  # weeks added by the gap policy


def read_series(path: Path, gaps: str = "refuse") -> list[WeeklySeries]:
    """Read and check a ``series_id,week,value`` CSV; series in order of first appearance."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return parse_series(handle, gaps)
    except UnicodeDecodeError:
        raise SeriesFileError([f"{path}: not UTF-8 text"]) from None


def parse_series(handle: Iterable[str], gaps: str = "refuse") -> list[WeeklySeries]:
    """Parse and check series rows from an open text file (see :func:`read_series`)."""
    if gaps not in GAP_POLICIES:
        raise ValueError(f"unknown gap policy {gaps!r}; use one of: {', '.join(GAP_POLICIES)}")
    reader = csv.DictReader(handle)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        found = ",".join(header) if header else "nothing (empty file)"
        raise SeriesFileError([f"missing column(s) {', '.join(missing)}; the header has {found}"])
    reader.fieldnames = header
    problems: list[str] = []
    rows: dict[str, dict[date, float]] = {}
    for line, row in enumerate(reader, start=2):
        problems.extend(_check_row(line, row, rows))
    if not rows and not problems:
        problems.append("no rows: the file has a header and nothing else")
    series = []
    for series_id, by_week in rows.items():
        try:
            series.append(_complete(series_id, by_week, gaps))
        except SeriesFileError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SeriesFileError(problems)
    return series


def _check_row(line: int, row: Mapping[str, str | None], rows: dict) -> Iterator[str]:
    series_id = (row.get("series_id") or "").strip()
    week_text = (row.get("week") or "").strip()
    value_text = (row.get("value") or "").strip()
    if None in row:
        yield f"line {line}: more fields than the header's {len(COLUMNS)}"
        return
    if not series_id:
        yield f"line {line}: empty series_id"
        return
    try:
        week = date.fromisoformat(week_text)
    except ValueError:
        yield f"line {line}: week {week_text!r} is not an ISO date (YYYY-MM-DD)"
        return
    if week.weekday() != 0:
        yield (
            f"line {line}: week {week_text} is a {week:%A}, not a Monday "
            f"(that week's Monday is {week - timedelta(days=week.weekday())})"
        )
        return
    try:
        value = float(value_text)
    except ValueError:
        yield f"line {line}: value {value_text!r} is not a number"
        return
    if not math.isfinite(value):
        yield f"line {line}: value {value_text!r} is not a finite number"
        return
    by_week = rows.setdefault(series_id, {})
    if week in by_week:
        yield f"line {line}: series {series_id!r} has week {week} twice"
        return
    by_week[week] = value


def _complete(series_id: str, by_week: dict[date, float], gaps: str) -> WeeklySeries:
    weeks = sorted(by_week)
    span = (weeks[-1] - weeks[0]).days // 7 + 1
    if span == len(weeks):
        return WeeklySeries(series_id, weeks, [by_week[w] for w in weeks])
    every = [weeks[0] + timedelta(weeks=k) for k in range(span)]
    absent = [w for w in every if w not in by_week]
    if gaps == "refuse":
        shown = ", ".join(str(w) for w in absent[:5]) + (" …" if len(absent) > 5 else "")
        raise SeriesFileError(
            [
                f"series {series_id!r} has {len(absent)} missing week(s): {shown} "
                "(add them, or pass --fill-gaps zero|interpolate)"
            ]
        )
    values = []
    for week in every:
        if week in by_week:
            values.append(by_week[week])
        elif gaps == "zero":
            values.append(0.0)
        else:
            before = max(w for w in weeks if w < week)
            after = min(w for w in weeks if w > week)
            share = (week - before).days / (after - before).days
            values.append(by_week[before] + share * (by_week[after] - by_week[before]))
    return WeeklySeries(series_id, every, values, filled=len(absent))


def _number(value: float) -> str:
    """A forecast value as CSV text: at most 4 decimals, no trailing zeros, no ``-0``."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def write_forecasts(out: IO[str], results: Iterable[tuple[str, SeriesForecast]]) -> int:
    """Write ``series_id,week,forecast,lo80,hi80`` rows; return how many."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(OUT_COLUMNS)
    count = 0
    for series_id, result in results:
        for k, week in enumerate(result.weeks):
            writer.writerow(
                [
                    series_id,
                    week.isoformat(),
                    _number(float(result.forecast[k])),
                    _number(float(result.lo80[k])),
                    _number(float(result.hi80[k])),
                ]
            )
            count += 1
    return count
