"""Demand tags (需求标签): explicit rules over the features view, each with its explanation.

The library (``tags.yaml`` beside this module) names each tag's rule, demand type, level,
groups and the catalogue services that meet it. Batch evaluation compiles every rule into one
SQL query over the features table; one person is evaluated directly. Both go through the rule
language, which guarantees the same answers (see carematch.rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from carematch.rules import FeatureDictionary, RuleSet, RuleSetError, load_rules

PRIORITIES = (1, 2, 3)
_ROW = "_tag_row"  # the features' row number, carried through the batch query


class TagLibraryError(ValueError):
    """The tag library file is malformed (every problem is listed)."""


@dataclass(frozen=True)
class Tag:
    """One demand tag: its rule, where it sits in the demand taxonomy, what meets it."""

    id: str
    label_zh: str
    label_en: str
    type: str
    level: str
    groups: tuple[str, ...]
    services: tuple[str, ...]
    priority: int
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class TagLibrary:
    """Every tag with its compiled rule, plus the taxonomy's labels."""

    tags: dict[str, Tag]
    rules: RuleSet
    types: dict[str, dict[str, str]]
    levels: dict[str, dict[str, str]]
    groups: dict[str, dict[str, str]]


@dataclass(frozen=True)
class TagInstance:
    """A tag true for a person, with the feature values (and has() tests) that decided it."""

    person_id: str
    tag: str
    because: dict[str, Any]


def feature_dictionary() -> FeatureDictionary:
    """The feature dictionary shipped with the package."""
    return _dictionary()


@lru_cache(maxsize=1)
def _dictionary() -> FeatureDictionary:
    path = resources.files("carematch.profiling").joinpath("feature_dictionary.yaml")
    return FeatureDictionary.from_yaml(Path(str(path)))


def default_library() -> TagLibrary:
    """The tag library shipped with the package, checked against the service catalogue."""
    return _default_library()


@lru_cache(maxsize=1)
def _default_library() -> TagLibrary:
    from carematch.providers.catalogue import CAPABILITIES

    path = resources.files("carematch.profiling").joinpath("tags.yaml")
    return load_library(Path(str(path)), service_codes(), CAPABILITIES)


def service_codes() -> frozenset[str]:
    """Codes of the service catalogue shipped with the package."""
    text = resources.files("carematch.data").joinpath("services.yaml").read_text("utf-8")
    return frozenset(entry["code"] for entry in yaml.safe_load(text))


def load_library(
    path: Path, services: Iterable[str], capabilities: Iterable[str] | None = None
) -> TagLibrary:
    """Load and check a tag library; every problem in the file is reported at once.

    Raises:
        TagLibraryError: unknown type, level, group or service, a bad priority, a duplicate
            id, or a rule that does not check (the rule errors name the tag, line and column).
    """
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TagLibraryError(f"{path}: cannot read the tag library: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("tags"), list):
        raise TagLibraryError(f"{path}: expected a mapping with a `tags` list")
    known_services = frozenset(services)
    problems: list[str] = []
    sections: list[dict[str, dict[str, str]]] = []
    for key in ("types", "levels", "groups"):
        section = data.get(key) or {}
        if not isinstance(section, dict):
            problems.append(f"`{key}` must be a mapping of codes to labels")
            section = {}
        sections.append(section)
    types, levels, groups = sections
    tags: dict[str, Tag] = {}
    entries = [e for e in data["tags"] if isinstance(e, dict) and isinstance(e.get("id"), str)]
    for i, entry in enumerate(data["tags"], start=1):
        where = f"tag #{i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            problems.append(f"{where}: needs an `id`")
            continue
        tag_id = entry["id"]
        where = f"tag {tag_id}"
        if tag_id in tags:
            problems.append(f"{where}: defined twice")
        label = entry.get("label")
        if not isinstance(label, dict):
            label = {}
        problems += [f"{where}: label.{k} is missing" for k in ("zh", "en") if not label.get(k)]
        if entry.get("type") not in types:
            problems.append(f"{where}: unknown type {entry.get('type')!r}")
        if entry.get("level") not in levels:
            problems.append(f"{where}: unknown level {entry.get('level')!r}")
        tag_groups = _codes(entry, "groups", where, problems)
        problems += [f"{where}: unknown group {g!r}" for g in tag_groups if g not in groups]
        tag_services = _codes(entry, "services", where, problems)
        if not tag_services:
            problems.append(f"{where}: names no service that meets it")
        problems += [
            f"{where}: unknown service {s!r} (not in the catalogue)"
            for s in tag_services
            if s not in known_services
        ]
        tag_needs = _codes(entry, "needs", where, problems)
        if capabilities is not None:
            known_caps = frozenset(capabilities)
            problems += [
                f"{where}: unknown capability {n!r} in needs"
                for n in tag_needs
                if n not in known_caps
            ]
        priority = entry.get("priority")
        if isinstance(priority, bool) or priority not in PRIORITIES:
            problems.append(f"{where}: priority must be one of {PRIORITIES}, not {priority!r}")
            priority = PRIORITIES[-1]
        tags[tag_id] = Tag(
            id=tag_id,
            label_zh=str(label.get("zh", "")),
            label_en=str(label.get("en", "")),
            type=str(entry.get("type")),
            level=str(entry.get("level")),
            groups=tag_groups,
            services=tag_services,
            priority=int(priority),
            needs=tag_needs,
        )
    try:
        rules = load_rules(
            [{"id": e["id"], "rule": e.get("rule", "")} for e in entries],
            feature_dictionary(),
        )
    except RuleSetError as exc:  # every bad rule, each with its tag, line and column
        problems += [error.detail for error in exc.errors]
        rules = RuleSet([])
    if problems:
        raise TagLibraryError(f"{path}: " + "; ".join(problems))
    return TagLibrary(tags, rules, types, levels, groups)


def _codes(entry: dict[str, Any], key: str, where: str, problems: list[str]) -> tuple[str, ...]:
    """A tag's list of codes (groups, services, needs); anything else is a problem."""
    value = entry.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}: `{key}` must be a list of codes, not {value!r}")
        return ()
    return tuple(value)


def evaluate_batch(
    features: pa.Table, library: TagLibrary, as_of: date, *, con: Any = None
) -> list[TagInstance]:
    """Every tag instance of every person in the features table (one SQL query for all rules).

    The explanation of each instance comes from evaluating its rule for that person, which
    the rule language guarantees agrees with the SQL verdict.
    """
    import duckdb

    own = con is None
    con = con or duckdb.connect()
    # Each verdict carries its row number, so nothing depends on the order a scan returns
    # rows in (a connection may run with preserve_insertion_order off).
    numbered = features.append_column(_ROW, pa.array(range(features.num_rows), pa.int64()))
    try:
        con.register("tag_features", numbered)
        query = library.rules.to_select(
            "tag_features", "duckdb", keys=(_ROW,), evaluation_date=as_of
        )
        verdicts = con.sql(query).to_arrow_table()
    finally:
        if own:
            con.close()
        else:
            con.unregister("tag_features")
    row_of = verdicts.column(_ROW).to_numpy()
    by_row: dict[int, list[str]] = {}
    for tag_id in library.rules:
        column = verdicts.column(tag_id).to_numpy(zero_copy_only=False)
        for row in row_of[column.nonzero()[0]].tolist():
            by_row.setdefault(row, []).append(tag_id)
    if not by_row:
        return []
    rows = sorted(by_row)
    subset = features.take(pa.array(rows)).to_pylist()
    out: list[TagInstance] = []
    for row, values in zip(rows, subset, strict=True):
        out += explain(values, by_row[row], library, as_of, person_id=str(values["person_id"]))
    return out


def evaluate_one(values: Mapping[str, Any], library: TagLibrary, as_of: date) -> list[TagInstance]:
    """The tags true for one person's feature values (the online path)."""
    matched = [
        tag_id
        for tag_id, rule in library.rules.items()
        if rule.evaluate(values, conditions=values.get("conditions") or (), evaluation_date=as_of)
    ]
    return explain(values, matched, library, as_of, person_id=str(values.get("person_id")))


def explain(
    values: Mapping[str, Any],
    tag_ids: Sequence[str],
    library: TagLibrary,
    as_of: date,
    *,
    person_id: str,
) -> list[TagInstance]:
    """Tag instances with the feature values (and has() tests) that made each true."""
    conditions = values.get("conditions") or ()
    out = []
    for tag_id in tag_ids:
        outcome = library.rules[tag_id].outcome(
            values, conditions=conditions, evaluation_date=as_of
        )
        because = {
            k: (v.isoformat() if isinstance(v, date) else v) for k, v in outcome.because.items()
        }
        out.append(TagInstance(person_id, tag_id, because))
    return out
