"""Evaluate a checked rule for one person, with the same answers as its SQL, and say why.

The online path (a person's page, an eligibility check at the counter) has one person's
feature values in a dict; running a query for it would be slow and would need the features
table. This walks the typed tree instead, with SQL's semantics spelt out (docs/rules.md):
three-valued logic, ``x / 0`` is NULL, arithmetic in IEEE double precision, NaN equal to
itself and above every other number, strings ordered by code point.

The explanation is the set of features (and ``has()`` tests) that decided the result: for a
false ``and`` only the false operands, for a true ``or`` only the true ones, otherwise every
operand. Whatever is left out could change without changing the result.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from carematch.rules.dictionary import Feature, FeatureType
from carematch.rules.errors import RuleInputError
from carematch.rules.nodes import (
    Arithmetic,
    Comparison,
    DaysSince,
    FeatureRef,
    Has,
    Literal,
    Logical,
    Membership,
    Negate,
    Node,
    Not,
)
from carematch.rules.parse import MAX_WHOLE_NUMBER

Value = bool | int | float | str | None
"""A value during evaluation; ``None`` is SQL's NULL (unknown)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """A rule's answer for one person and the values that decided it.

    ``value`` is three-valued (``None`` is unknown); ``matched`` is the rule's verdict, where
    unknown counts as false. ``because`` maps each deciding feature to its value, and each
    deciding ``has('code')`` test (under that key) to its result, in the order they appear
    in the rule.
    """

    value: bool | None
    because: dict[str, Any]

    @property
    def matched(self) -> bool:
        return self.value is True


def outcome(
    tree: Node,
    values: Mapping[str, Any],
    *,
    conditions: Iterable[str | None] | None = None,
    evaluation_date: date | None = None,
    rule_id: str = "rule",
) -> Outcome:
    """Evaluate a checked rule for one person.

    Args:
        tree: the rule as :func:`carematch.rules.parse.parse_rule` returns it.
        values: the person's feature values by name; every feature the rule reads must be
            present (``None`` for unknown). NaN, ``pandas.NA`` and ``NaT`` count as unknown.
        conditions: the person's condition codes, for ``has()``; ``None`` is no codes.
        evaluation_date: the day ``days_since()`` counts to; required if the rule uses it.
        rule_id: the rule's name in error messages.

    Raises:
        RuleInputError: a value is missing or has the wrong type for its feature.
    """
    person = _Person(values, conditions, evaluation_date, rule_id)
    value, because = _evaluate(tree, person)
    assert value is None or isinstance(value, bool)
    return Outcome(value, because)


class _Person:
    """One person's inputs, each checked against its feature once, when first read."""

    def __init__(
        self,
        values: Mapping[str, Any],
        conditions: Iterable[str | None] | None,
        evaluation_date: date | None,
        rule_id: str,
    ) -> None:
        if not isinstance(values, Mapping):
            raise RuleInputError(f"rule {rule_id}: feature values must be a mapping")
        if isinstance(conditions, str):
            # A lone string would be read as a set of letters.
            raise RuleInputError(f"rule {rule_id}: conditions must be a collection of codes")
        self.values = values
        self.conditions = frozenset(c for c in (conditions or ()) if c is not None)
        self.evaluation_date = evaluation_date
        self.rule_id = rule_id
        self._checked: dict[str, Value | date] = {}

    def value(self, feature: Feature) -> Value | date:
        name = feature.name
        if name not in self._checked:
            if name not in self.values:
                raise RuleInputError(
                    f"rule {self.rule_id}: no value for feature {name!r} (use None for unknown)"
                )
            self._checked[name] = _normalise(feature, self.values[name], self.rule_id)
        return self._checked[name]

    def today(self) -> date:
        when = self.evaluation_date
        if isinstance(when, datetime):
            return when.date()
        if not isinstance(when, date):
            raise RuleInputError(f"rule {self.rule_id} uses days_since(); give the evaluation date")
        return when


def _normalise(feature: Feature, raw: Any, rule_id: str) -> Value | date:
    """A feature's value as the evaluator computes with it, or a RuleInputError."""

    def wrong(expected: str) -> RuleInputError:
        return RuleInputError(
            f"rule {rule_id}: feature {feature.name!r} must be {expected}, got {raw!r}"
        )

    value: Value | date
    if raw is None or type(raw).__name__ in ("NAType", "NaTType"):
        value = None
    elif isinstance(raw, numbers.Real) and not isinstance(raw, bool) and math.isnan(raw):
        value = None  # pandas writes a missing number as NaN
    elif feature.type is FeatureType.INT:
        if isinstance(raw, bool) or not isinstance(raw, numbers.Real):
            raise wrong("a whole number")
        # An int column with gaps arrives from pandas as floats: 45.0 is the whole number 45.
        if not (isinstance(raw, numbers.Integral) or float(raw).is_integer()):
            raise wrong("a whole number")
        whole = int(raw)  # type: ignore[call-overload]
        if abs(whole) > MAX_WHOLE_NUMBER:
            raise wrong(f"within ±{MAX_WHOLE_NUMBER}")
        value = whole
    elif feature.type is FeatureType.FLOAT:
        if isinstance(raw, bool) or not isinstance(raw, numbers.Real):
            raise wrong("a number")
        value = float(raw)
        if not math.isfinite(value):
            raise wrong("a finite number")
    elif feature.type is FeatureType.STR:
        if not isinstance(raw, str):
            raise wrong("a string")
        value = raw
    elif feature.type is FeatureType.BOOL:
        if isinstance(raw, bool):
            value = raw
        elif getattr(getattr(raw, "dtype", None), "kind", None) == "b":  # numpy.bool_
            value = bool(raw)
        else:
            raise wrong("true or false")
    else:
        value = _as_date(raw, wrong)
    if value is None and not feature.nullable:
        raise RuleInputError(
            f"rule {rule_id}: feature {feature.name!r} cannot be unknown, but has no value"
        )
    return value


def _as_date(raw: Any, wrong: Any) -> date:
    if isinstance(raw, datetime):
        # A DATE column read through pandas arrives as a midnight timestamp.
        if raw.time() != time(0) or raw.tzinfo is not None:
            raise wrong("a date (not a time of day)")
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise wrong("a date (YYYY-MM-DD)") from None
    raise wrong("a date")


def _evaluate(node: Node, person: _Person) -> tuple[Any, dict[str, Any]]:
    if isinstance(node, Literal):
        return node.value, {}
    if isinstance(node, FeatureRef):
        value = person.value(node.feature)
        return value, {node.feature.name: value}
    if isinstance(node, Has):
        found = node.code in person.conditions
        return found, {f"has('{node.code}')": found}
    if isinstance(node, DaysSince):
        since = person.value(node.feature)
        today = person.today()
        days = None if since is None else (today - since).days  # type: ignore[operator]
        return days, {node.feature.name: since}
    if isinstance(node, Negate):
        value, because = _evaluate(node.operand, person)
        return (None if value is None else -float(value)), because
    if isinstance(node, Not):
        value, because = _evaluate(node.operand, person)
        return (None if value is None else not value), because
    if isinstance(node, Arithmetic):
        return _arithmetic(node, person)
    if isinstance(node, Comparison):
        (left, why_left), (right, why_right) = (
            _evaluate(node.left, person),
            _evaluate(node.right, person),
        )
        return _compare(node.op, left, right), {**why_left, **why_right}
    if isinstance(node, Membership):
        value, because = _evaluate(node.operand, person)
        if value is None:
            return None, because
        found = any(_equal(value, literal.value) for literal in node.values)
        return found != node.negated, because
    return _logical(node, person)


def _arithmetic(node: Arithmetic, person: _Person) -> tuple[Any, dict[str, Any]]:
    (left, why_left), (right, why_right) = (
        _evaluate(node.left, person),
        _evaluate(node.right, person),
    )
    because = {**why_left, **why_right}
    if left is None or right is None:
        return None, because
    # Double precision whatever the operands: PostgreSQL would otherwise truncate 7 / 2 to
    # 3, and integer overflow would differ between engines.
    a, b = float(left), float(right)
    if node.op == "+":
        return a + b, because
    if node.op == "-":
        return a - b, because
    if node.op == "*":
        return a * b, because
    if b == 0:  # also -0.0; SQL divides by NULLIF(b, 0)
        return None, because
    return a / b, because


def _order_key(value: Any) -> tuple[int, Any]:
    # SQL engines order NaN above every number and equal to itself; Python does neither.
    if isinstance(value, float) and math.isnan(value):
        return (1, 0.0)
    return (0, value)


def _equal(left: Any, right: Any) -> bool:
    return _order_key(left) == _order_key(right)


def _compare(op: str, left: Any, right: Any) -> bool | None:
    if left is None or right is None:
        return None
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    a, b = _order_key(left), _order_key(right)
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def _logical(node: Logical, person: _Person) -> tuple[bool | None, dict[str, Any]]:
    results = [_evaluate(operand, person) for operand in node.operands]
    values = [value for value, _ in results]
    # Kleene logic: a false operand decides `and`, a true one decides `or`.
    decisive = node.op == "or"
    if decisive in values:
        deciding = [because for value, because in results if value is decisive]
        value: bool | None = decisive
    else:
        deciding = [because for _, because in results]
        value = None if None in values else not decisive
    merged: dict[str, Any] = {}
    for because in deciding:
        merged.update(because)
    return value, merged
