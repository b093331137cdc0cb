"""Indicator definitions (指标定义): read and check indicators.yaml. Pure: no database, no web.

Every problem in a file is collected and reported at once, each naming the indicator and the
field, so a city editing its targets fixes the file in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from carematch.rules import FeatureDictionary, Rule, RuleError, load_rule

DIMENSIONS = ("process", "outcome", "benefit")
KINDS = ("rate", "mean", "median", "change", "count")
DIRECTIONS = (">=", "<=")
PROVIDERS = {
    "vaccination_quality": (
        "booking_success_rate",
        "review_agreement",
        "booking_lead_days_median",
        "doses_given",
        "aefi_rate_per_100k",
    ),
    "policy_execution": ("coverage", "budget_used", "complaints"),
}
"""Indicators another domain computes, and the measures each offers (one definition each)."""
DISAGGREGATIONS = ("hukou", "age_group", "policy")
ID = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
KEYS = {
    "id",
    "name",
    "name_en",
    "dimension",
    "kind",
    "dataset",
    "provider",
    "measure",
    "denominator",
    "numerator",
    "value",
    "target",
    "direction",
    "amber_band",
    "disaggregations",
    "weights",
}


class DefinitionError(ValueError):
    """An indicators file with problems; ``problems`` lists each as ``indicator.field: why``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid indicator definitions:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class Indicator:
    """One indicator (指标): what it counts, its target and its breakdowns."""

    id: str
    name: str
    name_en: str
    dimension: str
    kind: str
    dataset: str | None
    provider: str | None
    measure: str | None
    denominator: Rule | None = field(repr=False, compare=False)
    numerator: Rule | None = field(repr=False, compare=False)
    value: str | None
    target: float | None
    direction: str
    amber_band: float
    disaggregations: tuple[str, ...]
    weights: Mapping[str, float]

    def as_dict(self) -> dict[str, Any]:
        """The definition as the API and the CLI show it."""
        return {
            "id": self.id,
            "name": self.name,
            "name_en": self.name_en,
            "dimension": self.dimension,
            "kind": self.kind,
            "dataset": self.dataset,
            "provider": self.provider,
            "measure": self.measure,
            "denominator": self.denominator.text if self.denominator else None,
            "numerator": self.numerator.text if self.numerator else None,
            "value": self.value,
            "target": self.target,
            "direction": self.direction,
            "amber_band": self.amber_band,
            "disaggregations": ["region", *self.disaggregations],
            "weights": dict(self.weights),
        }


class IndicatorLibrary(Mapping[str, Indicator]):
    """The checked indicators, by id, in file order."""

    def __init__(self, indicators: Sequence[Indicator]) -> None:
        self._by_id = {i.id: i for i in indicators}

    def __getitem__(self, key: str) -> Indicator:
        return self._by_id[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_definitions(text: str, dictionaries: Mapping[str, FeatureDictionary]) -> IndicatorLibrary:
    """Check an indicators file's text against the datasets' column dictionaries.

    Args:
        text: the YAML.
        dictionaries: dataset name → the columns its rules may name (compute.dictionaries()).

    Raises:
        DefinitionError: every problem found, each naming the indicator and the field.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionError([f"the file is not valid YAML: {exc}"]) from exc
    if not isinstance(data, Mapping) or not isinstance(data.get("indicators"), list):
        raise DefinitionError(["the file must be a mapping with an 'indicators' list"])
    problems: list[str] = []
    out: list[Indicator] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["indicators"]):
        label = f"indicator #{index + 1}"
        if not isinstance(entry, Mapping):
            problems.append(f"{label}: must be a mapping")
            continue
        found = _indicator(entry, label, dictionaries, problems, seen)
        if found is not None:
            out.append(found)
    if problems:
        raise DefinitionError(problems)
    return IndicatorLibrary(out)


def _indicator(
    entry: Mapping[str, Any],
    label: str,
    dictionaries: Mapping[str, FeatureDictionary],
    problems: list[str],
    seen: set[str],
) -> Indicator | None:
    before = len(problems)
    raw_id = entry.get("id")
    if not isinstance(raw_id, str) or not ID.match(raw_id):
        problems.append(f"{label}.id: 2-64 lower-case letters, digits or '_', got {raw_id!r}")
        return None
    iid = raw_id
    if iid in seen:
        problems.append(f"{iid}.id: defined twice")
    seen.add(iid)

    def bad(name: str, why: str) -> None:
        problems.append(f"{iid}.{name}: {why}")

    for unknown in sorted(set(entry) - KEYS):
        bad(unknown, "unknown field")
    for name in ("name", "name_en"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            bad(name, "required text")
    dimension = entry.get("dimension")
    if dimension not in DIMENSIONS:
        bad("dimension", f"one of {', '.join(DIMENSIONS)}, got {dimension!r}")
    kind = entry.get("kind")
    if kind not in KINDS:
        bad("kind", f"one of {', '.join(KINDS)}, got {kind!r}")
    dataset: Any = entry.get("dataset")
    provider: Any = entry.get("provider")
    measure: Any = entry.get("measure")
    numerator: Rule | None = None
    denominator: Rule | None = None
    value: Any = entry.get("value")
    if (dataset is None) == (provider is None):
        bad("dataset", "name exactly one of 'dataset' or 'provider'")
    elif provider is not None:
        if provider not in PROVIDERS:
            bad("provider", f"one of {', '.join(PROVIDERS)}, got {provider!r}")
        elif measure not in PROVIDERS[provider]:
            bad("measure", f"one of {', '.join(PROVIDERS[provider])}, got {measure!r}")
        for name in ("numerator", "denominator", "value"):
            if entry.get(name) is not None:
                bad(name, "a provider's indicator takes its figures from the provider")
    elif dataset not in dictionaries:
        bad("dataset", f"one of {', '.join(sorted(dictionaries))}, got {dataset!r}")
    else:
        columns = dictionaries[dataset]
        if kind == "median":
            bad("kind", "median is only for provider indicators")
        for name in ("numerator", "denominator"):
            text = entry.get(name)
            if not isinstance(text, str) or not text.strip():
                bad(name, "required CRE rule")
                continue
            try:
                rule = load_rule(text, columns, f"{iid}.{name}")
            except RuleError as exc:
                bad(name, str(exc))
                continue
            if name == "numerator":
                numerator = rule
            else:
                denominator = rule
        if kind == "mean":
            if value not in columns or not columns[value].is_number:
                bad("value", f"a numeric column of dataset {dataset}, got {value!r}")
        elif value is not None:
            bad("value", "only a mean takes a value column")
        if measure is not None:
            bad("measure", "only a provider's indicator names a measure")
    target: Any = entry.get("target")
    if target is not None and not _number(target):
        bad("target", f"a number, got {target!r}")
    if kind == "rate" and _number(target) and not 0 <= target <= 1 and provider is None:
        bad("target", "a rate's target is a share between 0 and 1")
    direction = entry.get("direction", ">=")
    if direction not in DIRECTIONS:
        bad("direction", f"'>=' or '<=', got {direction!r}")
    band = entry.get("amber_band", 0)
    if not _number(band) or band < 0:
        bad("amber_band", f"a number >= 0, got {band!r}")
    raw_dis = entry.get("disaggregations", [])
    disaggregations: list[str] = []
    if not isinstance(raw_dis, list):
        bad("disaggregations", "a list")
    else:
        for d in raw_dis:
            if d not in DISAGGREGATIONS:
                bad("disaggregations", f"{d!r} is not one of {', '.join(DISAGGREGATIONS)}")
            elif dataset in dictionaries and d not in dictionaries[dataset]:
                bad("disaggregations", f"dataset {dataset} has no column {d!r}")
            elif provider is not None and (provider, d) != ("policy_execution", "policy"):
                bad("disaggregations", f"provider {provider} is broken down by region only")
            else:
                disaggregations.append(d)
    raw_weights = entry.get("weights", {})
    weights: dict[str, float] = {}
    if not isinstance(raw_weights, Mapping):
        bad("weights", "a mapping of policy type to weight")
    else:
        for policy_type, weight in raw_weights.items():
            if not _number(weight) or not 0 <= weight <= 1:
                bad("weights", f"{policy_type}: a weight between 0 and 1, got {weight!r}")
            else:
                weights[str(policy_type)] = float(weight)
    if len(problems) > before:
        return None
    return Indicator(
        id=iid,
        name=entry["name"].strip(),
        name_en=entry["name_en"].strip(),
        dimension=str(dimension),
        kind=str(kind),
        dataset=dataset,
        provider=provider,
        measure=measure,
        denominator=denominator,
        numerator=numerator,
        value=value,
        target=float(target) if target is not None else None,
        direction=str(direction),
        amber_band=float(band),
        disaggregations=tuple(disaggregations),
        weights=weights,
    )


def load_definitions(path: Path | None = None) -> IndicatorLibrary:
    """The indicators of a file, or the shipped ones (carematch/indicators/indicators.yaml)."""
    from carematch.indicators.compute import dictionaries

    if path is None:
        return default_definitions()
    return parse_definitions(path.read_text(encoding="utf-8"), dictionaries())


@cache
def default_definitions() -> IndicatorLibrary:
    """The shipped indicators (checked once per process)."""
    from carematch.indicators.compute import dictionaries

    text = resources.files("carematch.indicators").joinpath("indicators.yaml").read_text("utf-8")
    return parse_definitions(text, dictionaries())


def status(value: float | None, target: float | None, direction: str, band: float) -> str:
    """The traffic light: green meets the target, amber misses by at most ``band``, else red.

    ``none`` when there is no target, ``no_data`` when there is no value.

    Examples:
        >>> status(0.93, 0.95, ">=", 0.05), status(0.97, 0.95, ">=", 0.05)
        ('amber', 'green')
        >>> status(30.0, 24.0, "<=", 4.0)
        'red'
    """
    if value is None:
        return "no_data"
    if target is None:
        return "none"
    gap = target - value if direction == ">=" else value - target
    if gap <= 1e-12:
        return "green"
    return "amber" if gap <= band + 1e-12 else "red"


LIGHT_SCORE = {"green": 1.0, "amber": 0.5, "red": 0.0}


def composite_scores(
    statuses: Mapping[str, str], library: IndicatorLibrary
) -> dict[str, dict[str, float | int]]:
    """Each policy type's composite: its indicators' lights weighted by their weights.

    Green counts 1, amber 0.5, red 0; indicators without a target or a value are left out
    (and the weights of the rest renormalised). R-EV-1: "weighted by policy type".

    Args:
        statuses: indicator id → its status for one region and month.

    Returns:
        policy type → ``{"score": 0..1, "indicators": how many counted}``, by policy type.

    Examples:
        >>> lib = default_definitions()
        >>> composite_scores({"chronic_control_rate": "green", "satisfaction": "red"}, lib)[
        ...     "chronic"]
        {'score': 0.714, 'indicators': 2}
    """
    totals: dict[str, list[float]] = {}
    for indicator_id, light in statuses.items():
        indicator = library.get(indicator_id)
        if indicator is None or light not in LIGHT_SCORE:
            continue
        for policy_type, weight in indicator.weights.items():
            if weight <= 0:
                continue
            acc = totals.setdefault(policy_type, [0.0, 0.0, 0])
            acc[0] += weight * LIGHT_SCORE[light]
            acc[1] += weight
            acc[2] += 1
    return {
        policy_type: {"score": round(score / weight, 3), "indicators": int(count)}
        for policy_type, (score, weight, count) in sorted(totals.items())
        if weight > 0
    }
