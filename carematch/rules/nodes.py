"""The checked form of a rule: a small typed tree that both back ends walk.

:mod:`carematch.rules.parse` builds it from Python's ``ast`` after the whitelist and the type
check, so every node here is well typed by construction: the SQL compiler and the evaluator
never meet a string added to a number or a list outside ``in``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from carematch.rules.dictionary import Feature, FeatureType


class Kind(StrEnum):
    """The type of an expression. Whole and fractional numbers share one: arithmetic is in
    double precision whatever the operands (see docs/rules.md, "Numbers")."""

    NUMBER = "number"
    STR = "str"
    BOOL = "bool"
    DATE = "date"


def kind_of(feature: Feature) -> Kind:
    """The expression type of a feature's values."""
    if feature.type in (FeatureType.INT, FeatureType.FLOAT):
        return Kind.NUMBER
    return Kind(feature.type.value)


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: a whole number, a float, a string or a boolean."""

    value: int | float | str | bool

    @property
    def kind(self) -> Kind:
        if isinstance(self.value, bool):
            return Kind.BOOL
        if isinstance(self.value, str):
            return Kind.STR
        return Kind.NUMBER


@dataclass(frozen=True, slots=True)
class FeatureRef:
    """A feature's value for the person (a column in SQL)."""

    feature: Feature

    @property
    def kind(self) -> Kind:
        return kind_of(self.feature)


@dataclass(frozen=True, slots=True)
class Has:
    """``has('code')``: whether the person's condition codes contain ``code``; never NULL."""

    code: str

    @property
    def kind(self) -> Kind:
        return Kind.BOOL


@dataclass(frozen=True, slots=True)
class DaysSince:
    """``days_since(feature)``: whole days from a date feature to the evaluation date."""

    feature: Feature

    @property
    def kind(self) -> Kind:
        return Kind.NUMBER


@dataclass(frozen=True, slots=True)
class Negate:
    """Unary minus."""

    operand: Node

    @property
    def kind(self) -> Kind:
        return Kind.NUMBER


@dataclass(frozen=True, slots=True)
class Not:
    """Logical ``not`` (Kleene: ``not NULL`` is NULL)."""

    operand: Node

    @property
    def kind(self) -> Kind:
        return Kind.BOOL


@dataclass(frozen=True, slots=True)
class Arithmetic:
    """``+ - * /`` on numbers, in double precision; ``x / 0`` is NULL."""

    op: str
    left: Node
    right: Node

    @property
    def kind(self) -> Kind:
        return Kind.NUMBER


@dataclass(frozen=True, slots=True)
class Comparison:
    """One of ``== != < <= > >=`` between two values of the same kind."""

    op: str
    left: Node
    right: Node

    @property
    def kind(self) -> Kind:
        return Kind.BOOL


@dataclass(frozen=True, slots=True)
class Membership:
    """``x in [...]`` / ``x not in [...]`` with a non-empty list of literals."""

    operand: Node
    values: tuple[Literal, ...]
    negated: bool

    @property
    def kind(self) -> Kind:
        return Kind.BOOL


@dataclass(frozen=True, slots=True)
class Logical:
    """``and`` / ``or`` over two or more booleans (Kleene three-valued logic)."""

    op: str
    operands: tuple[Node, ...]

    @property
    def kind(self) -> Kind:
        return Kind.BOOL


Node = (
    Literal
    | FeatureRef
    | Has
    | DaysSince
    | Negate
    | Not
    | Arithmetic
    | Comparison
    | Membership
    | Logical
)
