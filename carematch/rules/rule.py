"""Rules and rule sets: the objects callers hold (tags, eligibility, alerts, pre-screening).

A :class:`Rule` is checked once, when it is loaded; after that it compiles to SQL for the
batch path and evaluates for one person on the online path, with the same answer on both.
A rule file is loaded as a whole by :func:`load_rules`, which reports every bad rule at once
so that whoever edits the file fixes them in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from sqlglot import exp

from carematch.rules import compile as sql
from carematch.rules.dictionary import FeatureDictionary
from carematch.rules.errors import RuleError, RuleSetError
from carematch.rules.evaluate import Outcome, outcome
from carematch.rules.nodes import (
    Arithmetic,
    Comparison,
    DaysSince,
    FeatureRef,
    Has,
    Logical,
    Membership,
    Negate,
    Node,
    Not,
)
from carematch.rules.parse import parse_rule

RULE_ID = re.compile(r"^[\w.:-]{1,100}$")
"""Rule ids: letters (any script), digits, ``_ . : -``; they name SQL result columns."""


@dataclass(frozen=True)
class Rule:
    """A checked rule: its id, its text, and what it needs.

    Build one with :func:`load_rule` (or many with :func:`load_rules`); the constructor does
    not check anything.
    """

    id: str
    text: str
    tree: Node = field(repr=False, compare=False)
    dictionary: FeatureDictionary = field(repr=False, compare=False)
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def features(self) -> tuple[str, ...]:
        """The features the rule reads, in order of first appearance."""
        return tuple(dict.fromkeys(name for name in _walk(self.tree, "feature")))

    @property
    def conditions(self) -> tuple[str, ...]:
        """The condition codes the rule tests with ``has()``, in order of first appearance."""
        return tuple(dict.fromkeys(code for code in _walk(self.tree, "condition")))

    @property
    def uses_evaluation_date(self) -> bool:
        """Whether the rule calls ``days_since()`` and so needs an evaluation date."""
        return any(True for _ in _walk(self.tree, "days_since"))

    def to_expression(
        self,
        dialect: str = "duckdb",
        *,
        conditions_column: str = sql.DEFAULT_CONDITIONS_COLUMN,
        evaluation_date: date | str | None = None,
        table: str | None = None,
        null_as_false: bool = True,
    ) -> exp.Expression:
        """The rule as a SQLGlot expression, to compose into a larger query.

        Options as for :meth:`to_sql`.
        """
        return sql.to_expression(
            self.tree,
            dialect,
            conditions_column=conditions_column,
            evaluation_date=evaluation_date,
            table=table,
            null_as_false=null_as_false,
        )

    def to_sql(
        self,
        dialect: str = "duckdb",
        *,
        conditions_column: str = sql.DEFAULT_CONDITIONS_COLUMN,
        evaluation_date: date | str | None = None,
        table: str | None = None,
        null_as_false: bool = True,
    ) -> str:
        """The rule as a SQL boolean expression over a features table.

        The table has one row per person, one column per feature (named as the feature) and
        an array column of condition codes.

        Args:
            dialect: "duckdb", "spark" or "postgres".
            conditions_column: the array column ``has()`` looks in.
            evaluation_date: what ``days_since()`` counts to: a date, or the name of a DATE
                column. Required if :attr:`uses_evaluation_date`.
            table: a table name or alias to qualify the columns with.
            null_as_false: give the verdict (an unknown result is false); with ``False`` the
                expression is three-valued, as :meth:`truth_value` is.

        Examples:
            >>> rule.to_sql("postgres")  # doctest: +SKIP
            'COALESCE("hukou" = \\'migrant\\' AND "age" >= 45, FALSE)'
        """
        return self.to_expression(
            dialect,
            conditions_column=conditions_column,
            evaluation_date=evaluation_date,
            table=table,
            null_as_false=null_as_false,
        ).sql(dialect=dialect)

    def outcome(
        self,
        values: Mapping[str, Any],
        *,
        conditions: Iterable[str | None] | None = None,
        evaluation_date: date | None = None,
    ) -> Outcome:
        """The rule's answer for one person and the feature values that decided it.

        Args:
            values: feature values by name; every feature the rule reads must be present
                (``None`` when unknown).
            conditions: the person's condition codes, for ``has()``.
            evaluation_date: the day ``days_since()`` counts to.

        Raises:
            RuleInputError: a value is missing or does not fit its feature.
        """
        return outcome(
            self.tree,
            values,
            conditions=conditions,
            evaluation_date=evaluation_date,
            rule_id=self.id,
        )

    def evaluate(
        self,
        values: Mapping[str, Any],
        *,
        conditions: Iterable[str | None] | None = None,
        evaluation_date: date | None = None,
    ) -> bool:
        """Whether the rule holds for one person (an unknown result is false), as the SQL says.

        Arguments as for :meth:`outcome`.
        """
        return self.outcome(values, conditions=conditions, evaluation_date=evaluation_date).matched

    def truth_value(
        self,
        values: Mapping[str, Any],
        *,
        conditions: Iterable[str | None] | None = None,
        evaluation_date: date | None = None,
    ) -> bool | None:
        """The rule's three-valued result: ``None`` when the person's data leave it unknown.

        Arguments as for :meth:`outcome`.
        """
        return self.outcome(values, conditions=conditions, evaluation_date=evaluation_date).value

    def explain(
        self,
        values: Mapping[str, Any],
        *,
        conditions: Iterable[str | None] | None = None,
        evaluation_date: date | None = None,
    ) -> dict[str, Any]:
        """The features (and ``has()`` tests) that decided the result, with their values.

        E.g. ``{"hukou": "migrant", "age": 45, "has('hypertension')": True}``: what a demand
        tag shows as its reason. For a false result it is what made it false.

        Arguments as for :meth:`outcome`.
        """
        return self.outcome(values, conditions=conditions, evaluation_date=evaluation_date).because


def _walk(node: Node, what: str) -> Iterator[str]:
    """Yield feature names, condition codes or ``days_since`` markers, left to right."""
    if isinstance(node, FeatureRef):
        if what == "feature":
            yield node.feature.name
    elif isinstance(node, DaysSince):
        if what in ("feature", "days_since"):
            yield node.feature.name
    elif isinstance(node, Has):
        if what == "condition":
            yield node.code
    elif isinstance(node, Negate | Not):
        yield from _walk(node.operand, what)
    elif isinstance(node, Arithmetic | Comparison):
        yield from _walk(node.left, what)
        yield from _walk(node.right, what)
    elif isinstance(node, Membership):
        yield from _walk(node.operand, what)
    elif isinstance(node, Logical):
        for operand in node.operands:
            yield from _walk(operand, what)


def load_rule(
    text: str,
    dictionary: FeatureDictionary,
    rule_id: str = "rule",
    metadata: Mapping[str, Any] | None = None,
) -> Rule:
    """Parse and check one rule against a feature dictionary.

    Args:
        text: the rule, e.g. ``"hukou == 'migrant' and has('hypertension')"``.
        dictionary: the features and condition codes it may name.
        rule_id: its id, used in error messages and as its SQL column name in a rule set.
        metadata: anything the caller keeps with the rule (type, level, services …).

    Raises:
        RuleError: the rule is not valid; the message names the rule, line, column and problem.
    """
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        raise RuleError(
            str(rule_id)[:100],
            1,
            1,
            "a rule id is 1–100 letters, digits or _ . : - (no spaces)",
        )
    tree = parse_rule(text, dictionary, rule_id)
    return Rule(rule_id, text, tree, dictionary, MappingProxyType(dict(metadata or {})))


class RuleSet(Mapping[str, Rule]):
    """Rules by id, in file order; evaluates them together and compiles them into one query."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules: dict[str, Rule] = {}
        for rule in rules:
            if rule.id in self._rules:
                raise RuleSetError([RuleError(rule.id, 1, 1, "the rule id is used twice")])
            self._rules[rule.id] = rule

    def __getitem__(self, rule_id: str) -> Rule:
        return self._rules[rule_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        return f"RuleSet({list(self._rules)})"

    @property
    def uses_evaluation_date(self) -> bool:
        """Whether any rule calls ``days_since()``."""
        return any(rule.uses_evaluation_date for rule in self._rules.values())

    def outcomes(
        self,
        values: Mapping[str, Any],
        *,
        conditions: Iterable[str | None] | None = None,
        evaluation_date: date | None = None,
    ) -> dict[str, Outcome]:
        """Every rule's outcome for one person, by rule id (see :meth:`Rule.outcome`)."""
        codes = frozenset(c for c in (conditions or ()) if c is not None)
        return {
            rule_id: rule.outcome(values, conditions=codes, evaluation_date=evaluation_date)
            for rule_id, rule in self._rules.items()
        }

    def to_select(
        self,
        table: str,
        dialect: str = "duckdb",
        *,
        keys: Sequence[str] = ("person_id",),
        conditions_column: str = sql.DEFAULT_CONDITIONS_COLUMN,
        evaluation_date: date | str | None = None,
        null_as_false: bool = True,
    ) -> str:
        """One query computing every rule for every row: ``SELECT keys…, rule AS "id", …``.

        Args:
            table: the features table (``name`` or ``schema.name``).
            dialect: "duckdb", "spark" or "postgres".
            keys: columns copied through to identify each row.
            conditions_column, evaluation_date, null_as_false: as for :meth:`Rule.to_sql`.
        """
        columns: list[exp.Expr] = [exp.column(key, quoted=True) for key in keys]
        for rule_id, rule in self._rules.items():
            compiled = rule.to_expression(
                dialect,
                conditions_column=conditions_column,
                evaluation_date=evaluation_date,
                null_as_false=null_as_false,
            )
            columns.append(exp.alias_(compiled, exp.to_identifier(rule_id, quoted=True)))
        query = exp.select(*columns).from_(sql.quote_table(table))
        return query.sql(dialect=dialect)


def load_rules(
    source: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any],
    dictionary: FeatureDictionary,
) -> RuleSet:
    """Load a file of rules, each ``{id, rule, …}``; report every bad rule, not only the first.

    Keys other than ``id`` and ``rule`` are kept as the rule's :attr:`Rule.metadata`.

    Args:
        source: a YAML file (a :class:`~pathlib.Path`), YAML text (a str), or the parsed
            content: a list of rules, or a mapping whose ``rules`` key holds that list.
        dictionary: the features and condition codes the rules may name.

    Raises:
        RuleSetError: one or more rules are bad; ``errors`` holds a :class:`RuleError` each.
    """
    entries = _entries(source)
    rules: list[Rule] = []
    errors: list[RuleError] = []
    first_seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        label = f"#{number}"
        if not isinstance(entry, Mapping):
            errors.append(RuleError(label, 1, 1, "each rule is a mapping with 'id' and 'rule'"))
            continue
        rule_id = entry.get("id")
        if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
            errors.append(
                RuleError(label, 1, 1, "'id' must be 1–100 letters, digits or _ . : - (no spaces)")
            )
            continue
        if rule_id in first_seen:
            errors.append(
                RuleError(
                    rule_id,
                    1,
                    1,
                    f"the id is used twice (rules #{first_seen[rule_id]} and #{number})",
                )
            )
            continue
        first_seen[rule_id] = number
        text = entry.get("rule")
        if not isinstance(text, str):
            errors.append(RuleError(rule_id, 1, 1, "'rule' must be the rule's text"))
            continue
        metadata = {key: value for key, value in entry.items() if key not in ("id", "rule")}
        try:
            rules.append(load_rule(text, dictionary, rule_id, metadata))
        except RuleError as error:
            errors.append(error)
    if errors:
        raise RuleSetError(errors)
    return RuleSet(rules)


def _entries(source: str | Path | Sequence[Any] | Mapping[str, Any]) -> list[Any]:
    data: Any = source
    if isinstance(source, Path | str):
        text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = getattr(exc, "problem", None) or str(exc)
            error = RuleError("(file)", line, column, f"not valid YAML: {problem}")
            raise RuleSetError([error]) from exc
    if isinstance(data, Mapping):
        data = data.get("rules")
    if data is None:
        return []
    if not isinstance(data, Sequence) or isinstance(data, str):
        raise RuleSetError(
            [RuleError("(file)", 1, 1, "a rule file is a list of rules (or 'rules:' and a list)")]
        )
    return list(data)
