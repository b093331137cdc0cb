"""Eligibility: which policies of a library hold for a person, in a batch or for one person.

The batch path compiles every policy's rule once into one DuckDB query over an Arrow table of
persons (one row per person, one column per feature the rules read, and the ``conditions``
array), so ten thousand persons cost one query, not ten thousand rule walks. The online path
evaluates the same rules for one person with an explanation of each verdict. Both follow the
rule language's semantics (docs/rules.md): three-valued logic, and a rule whose result is
unknown does not hold.

**Missing features are unknown (NULL).** A feature left out of a person's ``features`` is
unknown, whatever the dictionary says about its nullability: ``age >= 65`` does not hold for a
person of unknown age, ``not insured_locally`` does not hold when ``insured_locally`` is
unknown, and ``hukou == 'local' or has_residence_permit`` holds if either side is known to be
true. Condition codes that are not listed are simply absent (``has()`` is never unknown).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa

from carematch.policy.library import Policy, PolicyLibrary
from carematch.rules import FeatureDictionary, FeatureType, Outcome, RuleInputError

ARROW_TYPES = {
    FeatureType.INT: pa.int64(),
    FeatureType.FLOAT: pa.float64(),
    FeatureType.STR: pa.string(),
    FeatureType.BOOL: pa.bool_(),
    FeatureType.DATE: pa.date32(),
}
MAX_WHOLE = 2**53
ROW_KEY = "_row"


class PersonLineError(ValueError):
    """A person line that cannot be evaluated; the message says what is wrong with it."""


@dataclass(frozen=True)
class PersonInput:
    """One person of the contract's input: the id as given, feature values, condition codes."""

    id: str | int
    values: dict[str, Any]
    conditions: tuple[str, ...]


def read_person(data: Any, dictionary: FeatureDictionary) -> PersonInput:
    """Check one parsed input line ``{"id", "features": {…}, "conditions": […]}``.

    Other keys are ignored (as ``carematch vaccination forecast`` ignores them), so a test file
    may carry its expectation beside each person.

    Raises:
        PersonLineError: not an object, no usable id, an unknown feature, a value of the wrong
            type (or outside an enumeration), conditions that are not a list of strings.
    """
    if not isinstance(data, dict):
        raise PersonLineError('a person is a JSON object {"id", "features", "conditions"}')
    pid = data.get("id")
    if isinstance(pid, bool) or not isinstance(pid, str | int) or pid == "":
        raise PersonLineError('"id" must be a non-empty string or a whole number')
    raw = data.get("features")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PersonLineError('"features" must be an object of feature values')
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in dictionary:
            raise PersonLineError(f"unknown feature {name!r} (not in the feature dictionary)")
        values[name] = _value(dictionary, name, value)
    codes = data.get("conditions")
    if codes is None:
        codes = []
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise PersonLineError('"conditions" must be a list of condition codes (strings)')
    return PersonInput(pid, values, tuple(dict.fromkeys(codes)))


def _value(dictionary: FeatureDictionary, name: str, raw: Any) -> Any:
    """A JSON value as its feature's type, or a PersonLineError naming the feature."""
    feature = dictionary[name]
    if raw is None:
        return None
    kind = feature.type
    if kind is FeatureType.INT:
        number = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        if number is None or not math.isfinite(number) or not float(number).is_integer():
            raise PersonLineError(f"feature {name!r} must be a whole number, got {raw!r}")
        if abs(int(number)) > MAX_WHOLE:
            raise PersonLineError(f"feature {name!r} must lie within ±2**53, got {raw!r}")
        return int(number)
    if kind is FeatureType.FLOAT:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise PersonLineError(f"feature {name!r} must be a number, got {raw!r}")
        return float(raw)
    if kind is FeatureType.BOOL:
        if not isinstance(raw, bool):
            raise PersonLineError(f"feature {name!r} must be true or false, got {raw!r}")
        return raw
    if kind is FeatureType.DATE:
        try:
            return date.fromisoformat(raw) if isinstance(raw, str) else _no_date(name, raw)
        except ValueError:
            raise PersonLineError(
                f"feature {name!r} must be a date YYYY-MM-DD, got {raw!r}"
            ) from None
    if not isinstance(raw, str):
        raise PersonLineError(f"feature {name!r} must be a string, got {raw!r}")
    if feature.values is not None and raw not in feature.values:
        allowed = ", ".join(feature.values)
        raise PersonLineError(f"{raw!r} is not a value of {name} (its values are {allowed})")
    return raw


def _no_date(name: str, raw: Any) -> date:
    raise PersonLineError(f"feature {name!r} must be a date YYYY-MM-DD, got {raw!r}")


def _columns(library: PolicyLibrary) -> list[str]:
    """The features any rule of the library reads, in dictionary order."""
    used = {name for policy in library.values() for name in policy.rule.features}
    dictionary = next(iter(library.values())).rule.dictionary if library else None
    return [name for name in (dictionary or ()) if name in used]


def eligible_batch(
    library: PolicyLibrary, persons: Sequence[PersonInput], as_of: date
) -> list[list[str]]:
    """Each person's eligible policy ids, sorted; one list per person, in input order.

    Every rule is compiled once into a single DuckDB query over an Arrow table of the persons.
    """
    if not persons or not library:
        return [[] for _ in persons]
    dictionary = next(iter(library.values())).rule.dictionary
    names = _columns(library)
    arrays: dict[str, pa.Array] = {ROW_KEY: pa.array(range(len(persons)), pa.int64())}
    for name in names:
        arrays[name] = pa.array(
            [p.values.get(name) for p in persons], ARROW_TYPES[dictionary[name].type]
        )
    arrays["conditions"] = pa.array([list(p.conditions) for p in persons], pa.list_(pa.string()))
    table = pa.table(arrays)
    query = library.batch_query("persons_in", ROW_KEY, as_of)
    ids = list(library)
    with duckdb.connect() as connection:
        connection.register("persons_in", table)
        rows = connection.execute(query + f' ORDER BY "{ROW_KEY}"').fetchall()
    return [sorted(pid for pid, hit in zip(ids, row[1:], strict=True) if hit) for row in rows]


@dataclass(frozen=True)
class PolicyVerdict:
    """One policy's verdict for one person, with the values that decided it."""

    policy: Policy
    eligible: bool
    because: dict[str, Any]


def person_verdicts(
    library: PolicyLibrary,
    values: Mapping[str, Any],
    conditions: Sequence[str],
    as_of: date,
) -> list[PolicyVerdict]:
    """Every policy's verdict for one person: eligible ones first, then by id.

    ``values`` holds the person's features (a missing one counts as unknown, as in the batch).
    """
    verdicts = []
    batch: list[str] | None = None
    for policy in library.values():
        known = {name: values.get(name) for name in policy.rule.features}
        try:
            result: Outcome = policy.rule.outcome(
                known, conditions=conditions, evaluation_date=as_of
            )
            eligible, because = result.matched, dict(result.because)
        except RuleInputError:
            # The online evaluator refuses an unknown value of a feature the dictionary calls
            # never unknown; the batch path reads it as NULL, which is the documented meaning.
            if batch is None:
                person = PersonInput("_", dict(values), tuple(conditions))
                batch = eligible_batch(library, [person], as_of)[0]
            eligible, because = policy.id in batch, known
        verdicts.append(PolicyVerdict(policy, eligible, because))
    verdicts.sort(key=lambda v: (not v.eligible, v.policy.id))
    return verdicts
