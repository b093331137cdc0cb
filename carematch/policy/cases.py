"""The case library (政策落地案例库): how policies were carried out, searchable like policies.

Cases live in ``carematch/data/policy_cases.yaml`` (its header describes the format): a
title, the community, the policies carried out, and the background, problem, measures and
result in Chinese. The file is checked as a whole when it is loaded — every case's fields,
unique ids, and every policy id against the policy library — and every problem is reported at
once as ``case <id>, field <field>: <problem>``.

Search uses the policy search engine (:mod:`carematch.policy.search`): each background,
problem, measure and result is a passage; the title, the community and the titles of the
policies carried out are the title side. A hit says which passage answers and which field it
is from. Pure: no database, no web framework.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from carematch.core.errors import InvalidInput
from carematch.policy.library import PolicyLibrary, default_library
from carematch.policy.search import Document, SearchEngine

REQUIRED = ("id", "title", "community", "policies", "background", "problem", "measures", "result")
OPTIONAL = ("year",)
TEXT_FIELDS = ("background", "problem", "result")
CASE_READERS = ("official", "doctor", "vaccinator", "grid_worker", "civil_affairs")
"""Who reads the case library (staff; it holds no person data)."""
CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class CaseLibraryError(InvalidInput):
    """A case library that cannot be used; every problem is listed, each naming case and field."""

    type = "/problems/invalid-case-library"
    title = "Invalid case library"

    def __init__(self, problems: Sequence[str]) -> None:
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the case library"
        super().__init__(head + ":\n" + "\n".join(problems), errors=list(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class PolicyCase:
    """One checked case of how policies were carried out."""

    id: str
    title: str
    community: str
    year: int | None
    policies: tuple[str, ...]
    background: str
    problem: str
    measures: tuple[str, ...]
    result: str

    def passages(self) -> list[tuple[str, str]]:
        """``(field, text)`` of every searchable passage, in reading order."""
        return [
            ("background", self.background),
            ("problem", self.problem),
            *(("measures", m) for m in self.measures),
            ("result", self.result),
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "community": self.community,
            "year": self.year,
            "policies": list(self.policies),
            "background": self.background,
            "problem": self.problem,
            "measures": list(self.measures),
            "result": self.result,
        }


def parse_cases(text: str, library: PolicyLibrary, source: str = "") -> tuple[PolicyCase, ...]:
    """Check a case library's YAML text against a policy library.

    Raises:
        CaseLibraryError: not YAML, not a list, or any case bad (names the case and field).
    """
    where = f"{source}: " if source else ""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CaseLibraryError([f"{where}not valid YAML: {exc}"]) from None
    if data is None:
        return ()
    if not isinstance(data, list):
        raise CaseLibraryError([f"{where}a case library is a list of cases"])
    problems: list[str] = []
    cases: list[PolicyCase] = []
    seen: set[str] = set()
    for number, entry in enumerate(data, start=1):
        case, found = _check(entry, f"#{number}", library)
        problems.extend(where + p for p in found)
        if case is None:
            continue
        if case.id in seen:
            problems.append(f"{where}case {case.id}, field id: the id is used twice")
            continue
        seen.add(case.id)
        cases.append(case)
    if problems:
        raise CaseLibraryError(problems)
    return tuple(cases)


def _check(entry: Any, label: str, library: PolicyLibrary) -> tuple[PolicyCase | None, list[str]]:
    problems: list[str] = []
    if not isinstance(entry, Mapping):
        return None, [f"case {label}, field (entry): each case is a mapping with id, title, …"]
    raw_id = entry.get("id")
    cid = raw_id if isinstance(raw_id, str) and CASE_ID.match(raw_id) else label
    if cid == label:
        problems.append(f"case {label}, field id: must be 1–64 ASCII letters, digits or _ . : -")

    def bad(name: str, reason: str) -> None:
        problems.append(f"case {cid}, field {name}: {reason}")

    for name in REQUIRED:
        if name not in entry:
            bad(name, "missing")
    for name in entry:
        if name not in REQUIRED and name not in OPTIONAL:
            bad(str(name), f"unknown field (the fields are {', '.join(REQUIRED + OPTIONAL)})")
    texts: dict[str, str] = {}
    for name in ("title", "community", *TEXT_FIELDS):
        value = entry.get(name)
        if name in entry and (not isinstance(value, str) or not value.strip()):
            bad(name, "must be non-empty text")
        elif isinstance(value, str):
            texts[name] = value.strip()
    measures = entry.get("measures")
    if isinstance(measures, str):
        measures = [measures]
    if "measures" in entry and (
        not isinstance(measures, list)
        or not measures
        or not all(isinstance(m, str) and m.strip() for m in measures)
    ):
        bad("measures", "must be text or a non-empty list of text")
        measures = None
    year = entry.get("year")
    if year is not None and (
        isinstance(year, bool) or not isinstance(year, int) or not 1949 <= year <= 2100
    ):
        bad("year", f"must be a year such as 2025 (got {year!r})")
    policies = entry.get("policies")
    if "policies" in entry:
        if not isinstance(policies, list) or not policies:
            bad("policies", "must be a non-empty list of policy ids")
            policies = None
        else:
            for pid in policies:
                if not isinstance(pid, str) or pid not in library:
                    bad("policies", f"unknown policy {pid!r} (not in the policy library)")
    if problems or measures is None or policies is None:
        return None, problems
    case = PolicyCase(
        id=cid,
        title=texts["title"],
        community=texts["community"],
        year=year,
        policies=tuple(policies),
        background=texts["background"],
        problem=texts["problem"],
        measures=tuple(m.strip() for m in measures),
        result=texts["result"],
    )
    return case, []


def load_cases(
    path: Path | None = None, library: PolicyLibrary | None = None
) -> tuple[PolicyCase, ...]:
    """Load and check a case file (the packaged one when ``path`` is None).

    Raises:
        CaseLibraryError: the file cannot be read or any case is bad.
    """
    library = library or default_library()
    if path is None:
        return parse_cases(_packaged_text(), library, "policy_cases.yaml (packaged)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise CaseLibraryError([f"{path}: cannot read the file: {reason}"]) from None
    return parse_cases(text, library, str(path))


def _packaged_text() -> str:
    return resources.files("carematch.data").joinpath("policy_cases.yaml").read_text("utf-8")


@lru_cache(maxsize=1)
def default_cases() -> tuple[PolicyCase, ...]:
    """The packaged cases, checked against the packaged policy library (once per process)."""
    return load_cases()


@dataclass(frozen=True)
class CaseHit:
    """A case answering a question: its score, the passage and the field it is from."""

    case: PolicyCase
    score: float
    field: str
    passage: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "score": self.score,
            "title": self.case.title,
            "community": self.case.community,
            "policies": list(self.case.policies),
            "field": self.field,
            "passage": self.passage,
        }


_engines: dict[tuple[PolicyCase, ...], SearchEngine] = {}
_lock = threading.Lock()


def case_engine(
    cases: tuple[PolicyCase, ...], library: PolicyLibrary | None = None
) -> SearchEngine:
    """The search engine over cases (built once per set of cases)."""
    with _lock:
        engine = _engines.get(cases)
    if engine is None:
        library = library or default_library()
        documents = []
        for case in cases:
            titles = " ".join(library[p].title for p in case.policies if p in library)
            documents.append(
                Document(
                    case.id,
                    case.title,
                    tuple(text for _, text in case.passages()),
                    cues=f"{case.community} {titles}",
                )
            )
        engine = SearchEngine(documents)
        with _lock:
            if len(_engines) > 8:
                _engines.clear()
            _engines[cases] = engine
    return engine


def search_cases(cases: tuple[PolicyCase, ...], query: str, top: int = 5) -> list[CaseHit]:
    """The cases answering ``query``, best first, at most ``top`` (none for an empty query)."""
    if top <= 0:
        return []
    by_id = {c.id: c for c in cases}
    out = []
    for hit in case_engine(cases).search(query, top):
        case = by_id[hit.id]
        field, passage = case.passages()[hit.passage_index]
        out.append(CaseHit(case, hit.score, field, passage))
    return out
