"""Reading a generated city back for tests: CSV rows, truth lookups, small parsers."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import pathlib
import re
from dataclasses import dataclass, field

SOURCES = ("police", "ehr", "insurance", "social_security", "immunization", "poverty", "survey")
CHRONIC = (
    "hypertension",
    "diabetes",
    "hyperlipidemia",
    "copd",
    "stroke",
    "cancer",
    "pneumoconiosis",
)


def read_csv(path: pathlib.Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts (the stdlib reader, independent of the writer)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def header(path: pathlib.Path) -> list[str]:
    """The header row of a CSV file."""
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


@dataclass
class City:
    """A generated city directory with cached readers."""

    root: pathlib.Path
    summary: dict[str, int]
    stages: list[tuple[str, float]] = field(default_factory=list)
    _cache: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def rows(self, name: str) -> list[dict[str, str]]:
        """Rows of ``name`` (``police`` or ``truth/persons``), cached."""
        if name not in self._cache:
            self._cache[name] = read_csv(self.root / f"{name}.csv")
        return self._cache[name]

    @functools.cached_property
    def persons(self) -> dict[str, dict[str, str]]:
        return {p["person_id"]: p for p in self.rows("truth/persons")}

    @functools.cached_property
    def owner(self) -> dict[tuple[str, str], str]:
        """(source, record_id) → person_id from truth/records.csv."""
        return {(r["source"], r["record_id"]): r["person_id"] for r in self.rows("truth/records")}

    def person_of(self, source: str, row: dict[str, str]) -> dict[str, str]:
        return self.persons[self.owner[(source, row["record_id"])]]


def parse_date(text: str) -> dt.date:
    """Any of the birth-date formats the extracts use."""
    text = text.strip()
    for pattern in (
        r"^(\d{4})-(\d{2})-(\d{2})$",
        r"^(\d{4})/(\d{1,2})/(\d{1,2})$",
        r"^(\d{4})(\d{2})(\d{2})$",
        r"^(\d{4})年(\d{1,2})月(\d{1,2})日$",
    ):
        m = re.match(pattern, text)
        if m:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
    raise ValueError(text)


def digits_only(phone: str) -> str:
    """A phone as its national 11 digits (drops +86 / 86, spaces and dashes)."""
    d = re.sub(r"\D", "", phone)
    return d[2:] if len(d) == 13 and d.startswith("86") else d
