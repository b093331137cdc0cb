"""Compile a checked rule to a SQL boolean expression for DuckDB, Spark or PostgreSQL.

The SQL runs over a table of one row per person with one column per feature (named as the
feature) and an array column of condition codes for ``has()``. It is built as a SQLGlot tree
and printed per dialect, with the places where the engines differ from each other or from
Python pinned down explicitly, so that every engine gives the answer
:mod:`carematch.rules.evaluate` gives:

* arithmetic operands are cast to DOUBLE, so ``7 / 2`` is 3.5 on PostgreSQL too and no integer
  overflows; the divisor goes through ``NULLIF(d, 0)``, so ``x / 0`` is NULL everywhere;
* float literals are cast to DOUBLE (a bare ``0.1`` is an exact DECIMAL in all three engines,
  and ``0.1 + 0.2 = 0.3`` would then be true, unlike in Python);
* ``has()`` is ``COALESCE(…, FALSE)``: a NULL array or a NULL element never makes it NULL;
* ordering comparisons of strings use ``COLLATE "C"`` on PostgreSQL, whose default collation
  follows the server's locale; DuckDB and Spark compare strings by code point already;
* identifiers are always quoted, so a feature may share its name with a SQL keyword.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlglot import exp

from carematch.rules.dictionary import FeatureType
from carematch.rules.nodes import (
    Arithmetic,
    Comparison,
    DaysSince,
    FeatureRef,
    Has,
    Kind,
    Literal,
    Logical,
    Membership,
    Negate,
    Node,
    Not,
)

DIALECTS = ("duckdb", "spark", "postgres")
"""The SQL dialects a rule compiles to (SQLGlot's names)."""

DEFAULT_CONDITIONS_COLUMN = "conditions"

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DOUBLE = exp.DataType.build("DOUBLE")
_COMPARISONS: dict[str, type[exp.Expression]] = {
    "==": exp.EQ,
    "!=": exp.NEQ,
    "<": exp.LT,
    "<=": exp.LTE,
    ">": exp.GT,
    ">=": exp.GTE,
}
_ARITHMETIC: dict[str, type[exp.Expression]] = {
    "+": exp.Add,
    "-": exp.Sub,
    "*": exp.Mul,
    "/": exp.Div,
}


def to_expression(
    tree: Node,
    dialect: str,
    *,
    conditions_column: str = DEFAULT_CONDITIONS_COLUMN,
    evaluation_date: date | str | None = None,
    table: str | None = None,
    null_as_false: bool = True,
) -> exp.Expression:
    """The rule as a SQLGlot boolean expression for ``dialect``.

    Args:
        tree: the checked rule.
        dialect: "duckdb", "spark" or "postgres".
        conditions_column: the array column of condition codes that ``has()`` looks in.
        evaluation_date: the day ``days_since()`` counts to: a date (a literal in the SQL) or
            the name of a DATE column. Required if the rule uses ``days_since()``.
        table: a table name or alias to qualify every column with.
        null_as_false: wrap the expression in ``COALESCE(…, FALSE)``, the rule's verdict
            (NULL counts as false); without it the expression is three-valued.

    Raises:
        ValueError: an unknown dialect, or no evaluation date for a rule that needs one.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}; use one of {', '.join(DIALECTS)}")
    if isinstance(evaluation_date, str) and _ISO_DATE.match(evaluation_date):
        # A column name never looks like this; a date passed as text almost certainly does.
        raise ValueError(
            f"evaluation_date {evaluation_date!r} looks like a date; pass a datetime.date "
            "(a string names a column)"
        )
    compiled = _Compiler(dialect, conditions_column, evaluation_date, table).boolean(tree)
    if null_as_false:
        return exp.Coalesce(this=compiled, expressions=[exp.false()])
    return compiled


def to_sql(tree: Node, dialect: str, **options: object) -> str:
    """The rule as SQL text for ``dialect``; options as for :func:`to_expression`."""
    return to_expression(tree, dialect, **options).sql(dialect=dialect)  # type: ignore[arg-type]


def quote_table(name: str) -> exp.Table:
    """A table reference with every dotted part quoted (``schema.table`` stays two parts)."""
    parts = name.split(".")
    if not all(parts) or len(parts) > 3:
        raise ValueError(f"{name!r} is not a table name")
    ids = [exp.to_identifier(part, quoted=True) for part in parts]
    this = ids[-1]
    db = ids[-2] if len(ids) > 1 else None
    catalog = ids[-3] if len(ids) > 2 else None
    return exp.Table(this=this, db=db, catalog=catalog)


def _paren(node: exp.Expression) -> exp.Expression:
    """Parenthesise a compound operand: a built tree carries no precedence of its own."""
    # An explicit list: SQLGlot's AND and OR are Func subclasses too, so "is a function
    # call" is no test of atomicity.
    atomic = (
        exp.Column,
        exp.Literal,
        exp.Boolean,
        exp.Cast,
        exp.Paren,
        exp.Anonymous,
        exp.Coalesce,
        exp.Nullif,
        exp.ArrayContains,
    )
    if isinstance(node, atomic) and not isinstance(node, exp.Connector):
        return node
    return exp.Paren(this=node)


class _Compiler:
    def __init__(
        self,
        dialect: str,
        conditions_column: str,
        evaluation_date: date | str | None,
        table: str | None,
    ) -> None:
        self.dialect = dialect
        self.conditions_column = conditions_column
        self.evaluation_date = evaluation_date
        self.table = table

    def column(self, name: str) -> exp.Column:
        return exp.column(name, table=self.table, quoted=True)

    def boolean(self, node: Node) -> exp.Expression:
        if isinstance(node, Literal):
            return exp.Boolean(this=bool(node.value))
        if isinstance(node, FeatureRef):
            return self.column(node.feature.name)
        if isinstance(node, Has):
            return self.has(node.code)
        if isinstance(node, Not):
            return exp.Not(this=_paren(self.boolean(node.operand)))
        if isinstance(node, Logical):
            combine = exp.And if node.op == "and" else exp.Or
            result = _paren(self.boolean(node.operands[0]))
            for operand in node.operands[1:]:
                result = combine(this=result, expression=_paren(self.boolean(operand)))
            return result
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, Membership):
            return self.membership(node)
        raise TypeError(f"not a boolean node: {node!r}")  # the checker makes this unreachable

    def value(self, node: Node) -> exp.Expression:
        """Any operand of a comparison or of ``in``: numbers keep their column type."""
        if isinstance(node, Literal):
            return self.literal(node)
        if node.kind is Kind.NUMBER:
            return self.number(node)
        return self.boolean(node)

    def literal(self, node: Literal) -> exp.Expression:
        value = node.value
        if isinstance(value, bool):
            return exp.Boolean(this=value)
        if isinstance(value, str):
            return exp.Literal.string(value)
        if isinstance(value, float):
            return exp.Cast(this=exp.Literal.number(repr(value)), to=_DOUBLE.copy())
        literal = exp.Literal.number(value)
        return exp.Paren(this=literal) if value < 0 else literal

    def number(self, node: Node) -> exp.Expression:
        if isinstance(node, Literal):
            return self.literal(node)
        if isinstance(node, FeatureRef):
            return self.column(node.feature.name)
        if isinstance(node, DaysSince):
            return self.days_since(node)
        if isinstance(node, Negate):
            return exp.Neg(this=exp.Paren(this=self.double(node.operand)))
        if isinstance(node, Arithmetic):
            left, right = self.double(node.left), self.double(node.right)
            if node.op == "/":
                right = exp.Nullif(this=right, expression=exp.Literal.number(0))
            return _ARITHMETIC[node.op](this=_paren(left), expression=_paren(right))
        raise TypeError(f"not a numeric node: {node!r}")

    def double(self, node: Node) -> exp.Expression:
        """An arithmetic operand: always DOUBLE, so no engine does integer arithmetic."""
        compiled = self.number(node)
        if isinstance(node, Arithmetic | Negate):
            return compiled  # already DOUBLE
        if isinstance(node, Literal) and isinstance(node.value, float):
            return compiled  # already cast
        return exp.Cast(this=compiled, to=_DOUBLE.copy())

    def comparison(self, node: Comparison) -> exp.Expression:
        left, right = self.value(node.left), self.value(node.right)
        ordering = node.op in ("<", "<=", ">", ">=")
        if self.dialect == "postgres" and ordering and node.left.kind is Kind.STR:
            # Code-point order, as in Python, whatever the database's locale.
            left = exp.Collate(this=_paren(left), expression=exp.to_identifier("C", quoted=True))
        return _COMPARISONS[node.op](this=_paren(left), expression=_paren(right))

    def membership(self, node: Membership) -> exp.Expression:
        found = exp.In(
            this=_paren(self.value(node.operand)),
            expressions=[self.literal(literal) for literal in node.values],
        )
        return exp.Not(this=exp.Paren(this=found)) if node.negated else found

    def has(self, code: str) -> exp.Expression:
        codes = self.column(self.conditions_column)
        wanted = exp.Literal.string(code)
        test: exp.Expression
        if self.dialect == "postgres":
            test = exp.EQ(this=wanted, expression=exp.Any(this=exp.Paren(this=codes)))
        else:
            test = exp.ArrayContains(this=codes, expression=wanted)
        return exp.Coalesce(this=test, expressions=[exp.false()])

    def days_since(self, node: DaysSince) -> exp.Expression:
        assert node.feature.type is FeatureType.DATE
        since = self.column(node.feature.name)
        today = self.today()
        if self.dialect == "duckdb":
            return exp.Anonymous(
                this="DATE_DIFF", expressions=[exp.Literal.string("day"), since, today]
            )
        if self.dialect == "spark":
            return exp.Anonymous(this="DATEDIFF", expressions=[today, since])
        # PostgreSQL: date - date is a whole number of days.
        return exp.Paren(this=exp.Sub(this=today, expression=since))

    def today(self) -> exp.Expression:
        when = self.evaluation_date
        if when is None:
            raise ValueError("this rule uses days_since(); give evaluation_date")
        if isinstance(when, str):
            return self.column(when)
        if isinstance(when, datetime):
            when = when.date()
        return exp.Cast(this=exp.Literal.string(when.isoformat()), to=exp.DataType.build("DATE"))
