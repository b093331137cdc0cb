"""Random persons and random well-typed rules over a feature dictionary, for agreement tests.

The generators draw through a small :class:`Chooser`, so the same code serves hypothesis
(which then shrinks a failure to a small rule and a few persons) and a seeded
:class:`random.Random` (a fixed sample for the PostgreSQL and Spark tests, where one query
carries many rules).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from carematch.rules import Feature, FeatureDictionary, FeatureType
from carematch.rules.parse import MAX_WHOLE_NUMBER

T = TypeVar("T")

WHOLE_EDGES = [0, 1, -1, 2, 17, 18, 44, 45, 59, 60, 64, 65, 90, 140, 2**31 - 1, -(2**31), 10**9]
FLOAT_EDGES = [0.0, -0.0, 0.1, 0.2, 0.3, 0.5, 1.5, 6.1, 7.0, 11.1, 1e-3, -2.5, 12345.67, 1e9]
HUGE = [1e300, -1e300, MAX_WHOLE_NUMBER, -MAX_WHOLE_NUMBER]
"""Values whose products overflow a double: inf and NaN, where SQL's NaN order shows.
PostgreSQL raises on overflow instead, so its sample leaves them out."""
STRINGS = [
    "11",
    "31",
    "44",
    "51",
    "",
    "a",
    "A",
    "B",
    "b",
    "Z",
    "é",
    "高",
    "社区1",
    "b'c",
    "x\\y",
    " a",
]


class Chooser(Protocol):
    def integer(self, low: int, high: int) -> int: ...

    def choice(self, options: Sequence[T]) -> T: ...


@dataclass
class RandomChooser:
    """Draws from a seeded generator: the same sample on every run."""

    rng: random.Random

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)


@dataclass
class HypothesisChooser:
    """Draws through hypothesis, which can then shrink each draw."""

    draw: Callable[[st.SearchStrategy[Any]], Any]

    def integer(self, low: int, high: int) -> int:
        return int(self.draw(st.integers(low, high)))

    def choice(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))


@dataclass
class Person:
    """One row: feature values (None is NULL) and the condition codes (None: a NULL array)."""

    values: dict[str, Any]
    conditions: list[str | None] | None


def person(c: Chooser, dictionary: FeatureDictionary, huge: bool = True) -> Person:
    """A person with edge values: NULLs, zeros of both signs, boundaries, odd strings."""
    values = {name: _value(c, feature, huge) for name, feature in dictionary.items()}
    conditions: list[str | None] | None
    roll = c.integer(0, 5)
    if roll == 0:
        conditions = None
    else:
        codes: list[str | None] = list(dictionary.conditions)
        conditions = [c.choice(codes) for _ in range(c.integer(0, 3))]
        if roll == 1:
            conditions.append(None)  # a NULL element inside the array
    return Person(values, conditions)


def _value(c: Chooser, feature: Feature, huge: bool) -> Any:
    if feature.nullable and c.integer(0, 4) == 0:
        return None
    if feature.type is FeatureType.INT:
        roll = c.integer(0, 3)
        if roll == 0:
            return c.integer(-200, 200)
        if roll == 1:
            return 0
        edges = WHOLE_EDGES + ([MAX_WHOLE_NUMBER, -MAX_WHOLE_NUMBER] if huge else [])
        return c.choice(edges)
    if feature.type is FeatureType.FLOAT:
        roll = c.integer(0, 3)
        if roll == 0:
            return c.integer(-1000, 1000) / c.choice([1, 2, 3, 4, 10])
        if roll == 1:
            return c.choice([0.0, -0.0])
        return c.choice(FLOAT_EDGES + ([1e300, -1e300] if huge else []))
    if feature.type is FeatureType.STR:
        return c.choice(feature.values or STRINGS)
    if feature.type is FeatureType.BOOL:
        return c.choice([True, False])
    return date(2015, 1, 1) + timedelta(days=c.integer(0, 4000))


class RuleWriter:
    """Writes the text of a random well-typed rule (the parser is what is under test too)."""

    def __init__(self, c: Chooser, dictionary: FeatureDictionary, huge: bool = True) -> None:
        self.c = c
        self.dictionary = dictionary
        self.huge = huge
        self.by_type: dict[FeatureType, list[Feature]] = {}
        for feature in dictionary.values():
            self.by_type.setdefault(feature.type, []).append(feature)
        self.numbers = self.by_type.get(FeatureType.INT, []) + self.by_type.get(
            FeatureType.FLOAT, []
        )

    def rule(self, depth: int = 3) -> str:
        return self.boolean(depth)

    def boolean(self, depth: int) -> str:
        c = self.c
        # Numbers carry most of the semantics that engines disagree on: weight them up.
        kinds = ["compare_numbers"] * 4 + ["compare_strings", "membership", "has"]
        kinds += ["bool_feature", "compare_bools", "literal"]
        if depth > 0:
            kinds += ["not", "and_or", "and_or", "chain"]
        kind = c.choice(kinds)
        if kind == "compare_numbers":
            op = c.choice(["==", "!=", "<", "<=", ">", ">="])
            return f"{self.number(depth - 1)} {op} {self.number(depth - 1)}"
        if kind == "chain":
            first, second = c.choice(["<", "<="]), c.choice(["<", "<=", "==", "!="])
            return f"{self.number(0)} {first} {self.number(0)} {second} {self.number(0)}"
        if kind == "compare_strings":
            return self.string_comparison()
        if kind == "membership":
            return self.membership()
        if kind == "has":
            return f"has({c.choice(list(self.dictionary.conditions))!r})"
        if kind == "bool_feature":
            return c.choice(self.by_type[FeatureType.BOOL]).name
        if kind == "compare_bools":
            op = c.choice(["==", "!="])
            return f"{self.bool_operand()} {op} {self.bool_operand()}"
        if kind == "literal":
            return c.choice(["True", "False"])
        if kind == "not":
            return f"not ({self.boolean(depth - 1)})"
        op = c.choice(["and", "or"])
        operands = [f"({self.boolean(depth - 1)})" for _ in range(c.integer(2, 3))]
        return f" {op} ".join(operands)

    def bool_operand(self) -> str:
        if self.c.integer(0, 2) == 0:
            return self.c.choice(["True", "False"])
        return self.c.choice(self.by_type[FeatureType.BOOL]).name

    def number(self, depth: int) -> str:
        c = self.c
        # Zeros (for x / 0) and overflows (inf, and NaN from inf - inf) are where engines
        # differ most; uniform draws would reach them too rarely to matter.
        kinds = ["feature", "feature", "feature", "whole", "float", "zero", "zero"]
        if FeatureType.DATE in self.by_type:
            kinds.append("days_since")
        if self.huge:
            kinds += ["overflow", "not_a_number"]
        if depth > 0:
            kinds += ["arithmetic"] * 6 + ["negate"]
        kind = c.choice(kinds)
        if kind == "feature":
            return c.choice(self.numbers).name
        if kind == "whole":
            return repr(c.choice([*WHOLE_EDGES, c.integer(-100, 100)]))
        if kind == "float":
            return repr(c.choice(FLOAT_EDGES + (HUGE[:2] if self.huge else [])))
        if kind == "zero":
            return c.choice(["0", "0.0", "-0.0"])
        if kind == "days_since":
            return f"days_since({c.choice(self.by_type[FeatureType.DATE]).name})"
        if kind == "overflow":
            return f"({c.choice(self.numbers).name} * 1e300 * 1e300)"
        if kind == "not_a_number":
            a, b = c.choice(self.numbers).name, c.choice(self.numbers).name
            return f"({a} * 1e300 * 1e300 - {b} * 1e300 * 1e300)"
        if kind == "negate":
            return f"-({self.number(depth - 1)})"
        op = c.choice(["+", "-", "*", "/", "/"])
        return f"({self.number(depth - 1)} {op} {self.number(depth - 1)})"

    def string_operand(self, enumerated: Feature | None) -> str:
        if enumerated is not None:
            return repr(self.c.choice(enumerated.values or ()))
        if self.c.integer(0, 1) == 0:
            return repr(self.c.choice(STRINGS))
        plain = [f for f in self.by_type.get(FeatureType.STR, []) if f.values is None]
        return self.c.choice(plain).name if plain else repr(self.c.choice(STRINGS))

    def string_comparison(self) -> str:
        c = self.c
        features = self.by_type[FeatureType.STR]
        feature = c.choice(features)
        if feature.values is not None:
            op = c.choice(["==", "!="])
            other = self.string_operand(feature)
        else:
            op = c.choice(["==", "!=", "<", "<=", ">", ">="])
            other = self.string_operand(None)
        if c.integer(0, 1) == 0:
            return f"{other} {op} {feature.name}"
        return f"{feature.name} {op} {other}"

    def membership(self) -> str:
        c = self.c
        word = c.choice(["in", "not in"])
        kind = c.choice(["number", "string", "bool"])
        size = c.integer(1, 4)
        if kind == "number":
            items = [repr(c.choice(WHOLE_EDGES + FLOAT_EDGES)) for _ in range(size)]
            return f"{self.number(1)} {word} [{', '.join(items)}]"
        if kind == "bool":
            items = [c.choice(["True", "False"]) for _ in range(size)]
            return f"{c.choice(self.by_type[FeatureType.BOOL]).name} {word} [{', '.join(items)}]"
        feature = c.choice(self.by_type[FeatureType.STR])
        options = list(feature.values) if feature.values else STRINGS
        items = [repr(c.choice(options)) for _ in range(size)]
        return f"{feature.name} {word} [{', '.join(items)}]"


def rules(dictionary: FeatureDictionary, huge: bool = True) -> st.SearchStrategy[str]:
    """Hypothesis strategy: the text of a random well-typed rule."""

    @st.composite
    def build(draw: Callable[[st.SearchStrategy[Any]], Any]) -> str:
        return RuleWriter(HypothesisChooser(draw), dictionary, huge).rule()

    return build()


def persons(dictionary: FeatureDictionary, huge: bool = True) -> st.SearchStrategy[Person]:
    """Hypothesis strategy: a random person."""

    @st.composite
    def build(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Person:
        return person(HypothesisChooser(draw), dictionary, huge)

    return build()


def fixed_sample(
    dictionary: FeatureDictionary, rule_count: int, person_count: int, seed: int, huge: bool
) -> tuple[list[str], list[Person]]:
    """The same rules and persons on every run, for the engines tested with one query."""
    c = RandomChooser(random.Random(seed))
    writer = RuleWriter(c, dictionary, huge)
    return (
        [writer.rule() for _ in range(rule_count)],
        [person(c, dictionary, huge) for _ in range(person_count)],
    )
