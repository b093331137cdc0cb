"""Errors of the rule language: a bad rule, a bad rule file, a bad dictionary, bad input values.

Each is an :class:`~carematch.core.errors.InvalidInput` (400, problem+json), so a rule typed
into the app or a rule file uploaded through the API is answered with a problem that names the
rule, the position and the problem, never with a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

from carematch.core.errors import InvalidInput


class RuleError(InvalidInput):
    """A rule that cannot be loaded: a syntax error, a forbidden construct, a type error.

    The message reads ``rule <id>, line <l>, column <c>: <problem>``; line and column count
    from 1, and the column counts characters (not bytes) in the rule's own text.
    """

    type = "/problems/invalid-rule"
    title = "Invalid rule"

    def __init__(self, rule_id: str, line: int, column: int, reason: str) -> None:
        super().__init__(
            f"rule {rule_id}, line {line}, column {column}: {reason}",
            rule=rule_id,
            line=line,
            column=column,
            reason=reason,
        )
        self.rule_id = rule_id
        self.line = line
        self.column = column
        self.reason = reason  # `problem` is taken: it renders the problem+json body


class RuleSetError(InvalidInput):
    """A rule file with one or more bad rules; every one is reported, not only the first."""

    type = "/problems/invalid-rules"
    title = "Invalid rules"

    def __init__(self, errors: Sequence[RuleError]) -> None:
        count = len(errors)
        head = f"{count} bad rule{'s' if count != 1 else ''}"
        super().__init__(
            head + ":\n" + "\n".join(e.detail for e in errors),
            errors=[
                {"rule": e.rule_id, "line": e.line, "column": e.column, "reason": e.reason}
                for e in errors
            ],
        )
        self.errors = list(errors)


class DictionaryError(InvalidInput):
    """A feature dictionary that cannot be loaded (unknown type, reserved name, …)."""

    type = "/problems/invalid-feature-dictionary"
    title = "Invalid feature dictionary"


class RuleInputError(InvalidInput):
    """Values given to a rule for one person that do not fit the dictionary.

    A string where a number belongs, a missing feature, a missing evaluation date: the online
    path refuses them rather than guess, because the batch path over a typed table could not
    have seen them.
    """

    type = "/problems/invalid-rule-input"
    title = "Invalid input for a rule"
