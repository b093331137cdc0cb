"""Parse and check a rule: Python's ``ast`` against a whitelist, then types against the dictionary.

The text is parsed by :func:`ast.parse` in ``eval`` mode (an expression, never a statement)
and never evaluated. Every node is either translated into the typed tree of
:mod:`carematch.rules.nodes` or rejected with a :class:`RuleError` that names the rule, the
line and column (from 1, counted in characters) and the problem. Length and nesting are
bounded before anything recurses, so no rule can exhaust the stack.
"""

from __future__ import annotations

import ast
import difflib
import io
import math
import tokenize
from collections.abc import Iterable
from typing import NoReturn

from carematch.rules.dictionary import Feature, FeatureDictionary, FeatureType
from carematch.rules.errors import RuleError
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

MAX_RULE_LENGTH = 10_000
"""Characters in one rule: room for a long list of community codes, not for a generated bomb."""

MAX_DEPTH = 50
"""Nesting of the expression tree; real rules stay under 10."""

MAX_WHOLE_NUMBER = 2**53
"""Largest whole-number literal (and feature value): every one converts to a double exactly,
so int/float comparisons mean the same in Python and in every SQL engine."""

FUNCTIONS = ("has", "days_since")

_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMPARISON = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_ORDERING = frozenset({"<", "<=", ">", ">="})

# What each forbidden construct is called in an error message.
_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access (x.y)",
    ast.Subscript: "subscripts (x[i])",
    ast.Slice: "slices (x[i:j])",
    ast.Lambda: "lambda",
    ast.IfExp: "conditional expressions (x if c else y)",
    ast.Dict: "dict literals",
    ast.Set: "set literals",
    ast.Tuple: "tuples",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.Starred: "starred expressions (*x)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
_FORBIDDEN_OPERATORS: dict[type[ast.AST], str] = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.Pow: "**",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.Invert: "~",
    ast.UAdd: "unary +",
}


def parse_rule(text: str, dictionary: FeatureDictionary, rule_id: str = "rule") -> Node:
    """Parse and check one rule; return its typed tree.

    Args:
        text: the rule, e.g. ``"hukou == 'migrant' and has('hypertension')"``. It may span
            several lines (as a YAML block scalar does) without enclosing parentheses.
        dictionary: the features and condition codes the rule may name.
        rule_id: the rule's name in error messages.

    Raises:
        RuleError: the rule is not in the language, names something unknown or is ill-typed.
    """
    return _Checker(text, dictionary, rule_id).check()


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _brackets_balanced(text: str) -> bool:
    """Whether brackets nest properly, so wrapping the text in ``( … )`` cannot change it."""
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
                if depth < 0:
                    return False
    except (tokenize.TokenError, SyntaxError):
        return False
    return depth == 0


class _Checker:
    """One rule's check: positions are reported against the rule's own lines."""

    def __init__(self, text: str, dictionary: FeatureDictionary, rule_id: str) -> None:
        self.text = text
        self.dictionary = dictionary
        self.rule_id = rule_id
        self.source = text
        self.line_shift = 0  # lines added in front of the text to parse it (see _parse)

    # -- errors -------------------------------------------------------------------------

    def fail_at(self, line: int, column: int, problem: str) -> NoReturn:
        raise RuleError(self.rule_id, line, column, problem)

    def fail(self, node: ast.AST, problem: str) -> NoReturn:
        line, column = self.position(node)
        self.fail_at(line, column, problem)

    def position(self, node: ast.AST) -> tuple[int, int]:
        lineno: int = getattr(node, "lineno", 1)
        offset: int = getattr(node, "col_offset", 0)
        lines = self.source.splitlines()
        source_line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
        # ast counts columns in UTF-8 bytes; people count characters (规则里有中文).
        prefix = source_line.encode("utf-8")[:offset].decode("utf-8", errors="replace")
        return max(1, lineno - self.line_shift), len(prefix) + 1

    def snippet(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.source, node) or ""
        text = " ".join(text.split())
        return text if len(text) <= 60 else text[:57] + "..."

    # -- the whole rule -------------------------------------------------------------------

    def check(self) -> Node:
        if not isinstance(self.text, str):
            self.fail_at(1, 1, f"a rule is text, not {type(self.text).__name__}")
        if not self.text.strip():
            self.fail_at(1, 1, "the rule is empty")
        if len(self.text) > MAX_RULE_LENGTH:
            self.fail_at(
                1, 1, f"the rule has {len(self.text)} characters; the limit is {MAX_RULE_LENGTH}"
            )
        if "\x00" in self.text:
            line = self.text[: self.text.index("\x00")].count("\n") + 1
            self.fail_at(line, 1, "the rule contains a NUL character")
        tree = self._parse()
        self._check_depth(tree)
        body = self.expr(tree.body)
        if body.kind is not Kind.BOOL:
            self.fail(tree.body, f"a rule must be true or false, but this is a {body.kind.value}")
        return body

    def _parse(self) -> ast.Expression:
        try:
            return ast.parse(self.text, mode="eval")
        except SyntaxError as error:
            first = error
        except (RecursionError, MemoryError):
            self.fail_at(1, 1, "the rule is nested too deeply")
        # A rule written over several lines (a YAML block) is one expression: Python needs it
        # inside brackets to read it so. Wrapping is only safe when the rule's own brackets
        # balance; otherwise "a) or (b" would turn into the valid "(a) or (b)".
        if "\n" in self.text.strip() and _brackets_balanced(self.text):
            # The opening bracket gets its own line, so columns stay the rule's own.
            self.source = "(\n" + self.text + "\n)"
            self.line_shift = 1
            try:
                return ast.parse(self.source, mode="eval")
            except SyntaxError as error:
                first = error
            except (RecursionError, MemoryError):
                self.fail_at(1, 1, "the rule is nested too deeply")
        lines = self.text.splitlines() or [""]
        line = min(max(1, (first.lineno or 1) - self.line_shift), len(lines))
        column = first.offset or 0
        if column < 1 or (first.lineno or 1) - self.line_shift > len(lines):
            # Python points past the end (or at the bracket we added): the rule ends too early.
            column = len(lines[line - 1]) + 1
        self.fail_at(line, column, f"syntax error: {first.msg}")

    def _check_depth(self, tree: ast.Expression) -> None:
        # Iterative on purpose: a recursive walk of a deep tree is what this guards against.
        stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                self.fail(node, f"the rule nests deeper than {MAX_DEPTH} levels")
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    stack.append((child, depth + 1))

    # -- expressions ----------------------------------------------------------------------

    def expr(self, node: ast.expr) -> Node:
        if isinstance(node, ast.Constant):
            return self.literal(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.BoolOp):
            return self.logical(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.List):
            self.fail(node, "a list can only follow 'in' or 'not in', e.g. x in ['a', 'b']")
        what = _FORBIDDEN.get(type(node), type(node).__name__)
        self.fail(node, f"a rule cannot use {what}")

    def literal(self, node: ast.Constant) -> Literal:
        value = node.value
        if isinstance(value, bool | str):
            if isinstance(value, str) and "\x00" in value:
                self.fail(node, "a string cannot contain a NUL character")
            return Literal(value)
        if isinstance(value, int):
            if abs(value) > MAX_WHOLE_NUMBER:
                self.fail(
                    node,
                    f"the whole number {value} is out of range (at most ±{MAX_WHOLE_NUMBER})",
                )
            return Literal(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                self.fail(node, f"the number {self.snippet(node)} is out of range")
            return Literal(value)
        if value is None:
            self.fail(node, "None is not a value in a rule (an unknown feature is NULL)")
        what = {bytes: "bytes", complex: "complex numbers"}.get(type(value), repr(value))
        self.fail(node, f"a rule cannot use {what}")

    def name(self, node: ast.Name) -> FeatureRef:
        feature = self.feature(node)
        if feature.type is FeatureType.DATE:
            self.fail(
                node,
                f"{feature.name!r} is a date; use days_since({feature.name}) to compare it",
            )
        return FeatureRef(feature)

    def feature(self, node: ast.Name) -> Feature:
        if node.id in FUNCTIONS:
            self.fail(node, f"{node.id} is a function: call it, e.g. {node.id}(…)")
        if node.id not in self.dictionary:
            self.fail(node, f"unknown feature {node.id!r}{_suggest(node.id, self.dictionary)}")
        return self.dictionary[node.id]

    def unary(self, node: ast.UnaryOp) -> Node:
        if isinstance(node.op, ast.Not):
            operand = self.expr(node.operand)
            self.expect(node.operand, operand, Kind.BOOL, "'not'")
            return Not(operand)
        if isinstance(node.op, ast.USub):
            operand = self.expr(node.operand)
            self.expect(node.operand, operand, Kind.NUMBER, "unary '-'")
            if isinstance(operand, Literal) and not isinstance(operand.value, bool | str):
                # A negative literal stays a literal, so it can stand in an `in` list.
                return Literal(-operand.value)
            return Negate(operand)
        self.fail(node, f"a rule cannot use {_FORBIDDEN_OPERATORS[type(node.op)]}")

    def binary(self, node: ast.BinOp) -> Arithmetic:
        op = _ARITHMETIC.get(type(node.op))
        if op is None:
            symbol = _FORBIDDEN_OPERATORS.get(type(node.op), type(node.op).__name__)
            self.fail(node, f"the operator {symbol} is not allowed; the arithmetic is + - * /")
        left, right = self.expr(node.left), self.expr(node.right)
        self.expect(node.left, left, Kind.NUMBER, f"'{op}'")
        self.expect(node.right, right, Kind.NUMBER, f"'{op}'")
        return Arithmetic(op, left, right)

    def logical(self, node: ast.BoolOp) -> Logical:
        op = "and" if isinstance(node.op, ast.And) else "or"
        operands = []
        for value in node.values:
            operand = self.expr(value)
            self.expect(value, operand, Kind.BOOL, f"'{op}'")
            operands.append(operand)
        return Logical(op, tuple(operands))

    def expect(self, node: ast.expr, checked: Node, kind: Kind, where: str) -> None:
        if checked.kind is not kind:
            self.fail(
                node,
                f"{where} needs a {kind.value}, but {self.snippet(node)} is a {checked.kind.value}",
            )

    def compare(self, node: ast.Compare) -> Node:
        parts: list[Node] = []
        left_node = node.left
        left = self.expr(left_node)
        pairs = list(zip(node.ops, node.comparators, strict=True))
        for index, (op_node, right_node) in enumerate(pairs):
            if isinstance(op_node, ast.Is | ast.IsNot):
                self.fail(node, "'is' is not allowed; compare values with == or !=")
            if isinstance(op_node, ast.In | ast.NotIn):
                parts.append(self.membership(left_node, left, right_node, op_node))
                if index + 1 < len(pairs):
                    # The list would be the left operand of the next comparison.
                    self.fail(right_node, "a list can only follow 'in' or 'not in'")
                break
            right = self.expr(right_node)
            op = _COMPARISON[type(op_node)]
            self.check_comparison(left_node, left, op, right_node, right)
            parts.append(Comparison(op, left, right))
            left_node, left = right_node, right
        # Python's chain a < b < c means a < b and b < c; b has no side effects to repeat.
        return parts[0] if len(parts) == 1 else Logical("and", tuple(parts))

    def check_comparison(
        self, left_node: ast.expr, left: Node, op: str, right_node: ast.expr, right: Node
    ) -> None:
        pair = f"{self.snippet(left_node)} {op} {self.snippet(right_node)}"
        if left.kind is not right.kind:
            self.fail(
                right_node,
                f"cannot compare a {left.kind.value} with a {right.kind.value}: {pair}",
            )
        if op in _ORDERING:
            if left.kind is Kind.BOOL:
                self.fail(right_node, f"'{op}' cannot order booleans; use == or !=: {pair}")
            for side in (left, right):
                if isinstance(side, FeatureRef) and side.feature.values is not None:
                    self.fail(
                        right_node,
                        f"'{op}' cannot order {side.feature.name}: its values are names, "
                        f"not a scale; use == or in: {pair}",
                    )
        self.check_enumeration(left, right_node, right)
        self.check_enumeration(right, left_node, left)

    def check_enumeration(self, side: Node, other_node: ast.expr, other: Node) -> None:
        """Refuse a literal that the enumerated feature on the other side can never equal."""
        if not (isinstance(side, FeatureRef) and side.feature.values is not None):
            return
        if isinstance(other, Literal) and other.value not in side.feature.values:
            self.fail_enumeration(other_node, side.feature, str(other.value))

    def fail_enumeration(self, node: ast.expr, feature: Feature, value: str) -> NoReturn:
        values = feature.values or ()
        self.fail(
            node,
            f"{value!r} is not a value of {feature.name}{_suggest(value, values)}; "
            f"its values are {', '.join(values)}",
        )

    def membership(
        self, left_node: ast.expr, left: Node, right_node: ast.expr, op_node: ast.cmpop
    ) -> Membership:
        word = "not in" if isinstance(op_node, ast.NotIn) else "in"
        if not isinstance(right_node, ast.List):
            self.fail(
                right_node, f"'{word}' needs a list of literals on its right, e.g. ['a', 'b']"
            )
        if not right_node.elts:
            self.fail(right_node, f"'{word}' needs a non-empty list")
        values: list[Literal] = []
        for element in right_node.elts:
            if not isinstance(element, ast.Constant | ast.UnaryOp):
                self.fail(element, "a list may hold only literals (numbers, strings, booleans)")
            value = self.expr(element)
            if not isinstance(value, Literal):
                self.fail(element, "a list may hold only literals (numbers, strings, booleans)")
            if value.kind is not left.kind:
                self.fail(
                    element,
                    f"cannot look for a {left.kind.value} in a list holding a "
                    f"{value.kind.value}: {self.snippet(left_node)} {word} "
                    f"{self.snippet(right_node)}",
                )
            enumerated = left.feature if isinstance(left, FeatureRef) else None
            if enumerated and enumerated.values and value.value not in enumerated.values:
                self.fail_enumeration(element, enumerated, str(value.value))
            values.append(value)
        return Membership(left, tuple(values), negated=word == "not in")

    def call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            what = _FORBIDDEN.get(type(node.func), "calls of expressions")
            self.fail(node.func, f"a rule cannot use {what}")
        name = node.func.id
        if name not in FUNCTIONS:
            self.fail(
                node,
                f"function {name!r} is not allowed; the functions are has() and days_since()",
            )
        if node.keywords or len(node.args) != 1:
            example = "has('hypertension')" if name == "has" else "days_since(last_followup)"
            self.fail(node, f"{name}() takes exactly one argument, e.g. {example}")
        (argument,) = node.args
        if name == "has":
            if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                self.fail(argument, "has() takes a condition code in quotes, e.g. has('tb')")
            code = argument.value
            if code not in self.dictionary.conditions:
                self.fail(
                    argument,
                    f"unknown condition code {code!r}{_suggest(code, self.dictionary.conditions)}",
                )
            return Has(code)
        if not isinstance(argument, ast.Name):
            self.fail(
                argument,
                "days_since() takes a date feature by name, e.g. days_since(last_followup)",
            )
        feature = self.feature(argument)
        if feature.type is not FeatureType.DATE:
            self.fail(
                argument,
                f"days_since() needs a date feature, but {feature.name} is {feature.type.value}",
            )
        return DaysSince(feature)
