"""An independent evaluator of the immunization schedule file, written from its header only.

It shares no code with the generator, so agreement between the two is evidence that the
generated histories really mean what the truth says.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import yaml


def duration(text: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?", text)
    assert m and any(m.groups()), text
    return tuple(int(g or 0) for g in m.groups())  # type: ignore[return-value]


def _add_months(d: dt.date, months: int) -> dt.date:
    total = d.year * 12 + d.month - 1 + months
    year, month = divmod(total, 12)
    try:
        return dt.date(year, month + 1, d.day)
    except ValueError:  # that day does not exist: first day of the next month
        year, month = divmod(total + 1, 12)
        return dt.date(year, month + 1, 1)


def add(d: dt.date, dur: tuple[int, int, int]) -> dt.date:
    """date + duration: years, then months, then days (header rule)."""
    years, months, days = dur
    if years:
        d = _add_months(d, 12 * years)
    if months:
        d = _add_months(d, months)
    return d + dt.timedelta(days=days)


@dataclass
class Evaluator:
    schedule: dict

    @classmethod
    def from_text(cls, text: str) -> Evaluator:
        return cls(yaml.safe_load(text))

    def overdue_series(
        self, dob: dt.date, given: list[tuple[str, dt.date]], as_of: dt.date
    ) -> list[str]:
        """Codes of the series whose status is ``overdue`` on ``as_of``."""
        series = self.schedule["series"]
        by_series: dict[str, list[dt.date]] = {s["code"]: [] for s in series}
        for code, date in given:
            by_series[code].append(date)
        for dates in by_series.values():
            dates.sort()
        live_injectable = {s["code"] for s in series if s.get("live") and s.get("injectable", True)}
        valid: dict[str, list[dt.date]] = {}
        # Series with `after` rules need the other series' valid doses first.
        ordered = sorted(series, key=lambda s: any("after" in d for d in s["doses"]))
        for s in ordered:
            code, doses = s["code"], s["doses"]
            ok: list[dt.date] = []
            for date in by_series[code]:
                k = len(ok)
                if k >= len(doses):
                    break
                rule = doses[k]
                good = date >= add(dob, duration(rule.get("min_age", rule["age"])))
                if k > 0 and "min_interval" in rule:
                    good &= date >= add(ok[-1], duration(rule["min_interval"]))
                for a in rule.get("after", []):
                    other = valid.get(a["series"], [])
                    ref = (
                        (other[-1] if other else None)
                        if a["dose"] == "last"
                        else (other[a["dose"] - 1] if len(other) >= a["dose"] else None)
                    )
                    if ref is not None:
                        good &= date >= add(ref, duration(a["interval"]))
                if code in live_injectable:
                    earlier = [
                        d for c in live_injectable - {code} for d in by_series[c] if d < date
                    ]
                    if earlier:
                        good &= date >= max(earlier) + dt.timedelta(days=28)
                if good:
                    ok.append(date)
            valid[code] = ok
        overdue = []
        for s in series:
            k = len(valid[s["code"]])
            if k >= len(s["doses"]):
                continue
            if as_of >= add(dob, duration(s["max_age"])):
                continue
            if as_of >= add(dob, duration(s["doses"][k]["overdue_after"])):
                overdue.append(s["code"])
        return overdue


def parse_doses(text: str) -> list[tuple[str, dt.date]]:
    """``HepB:2021-03-04|BCG:…`` → [(code, date), …]."""
    out = []
    for item in filter(None, text.split("|")):
        code, _, date = item.rpartition(":")
        out.append((code, dt.date.fromisoformat(date)))
    return out
