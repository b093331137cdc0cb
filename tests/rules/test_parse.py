"""Loading a rule: what the language accepts, and the error for everything it refuses.

Every refusal names the rule, the line and the column (both from 1; columns count characters)
and the problem, as issue 4 asks: "a rule with an unknown feature or a type error fails to
load with a message naming the rule, the position and the problem".
"""

from __future__ import annotations

import pytest

from carematch.rules import MAX_DEPTH, MAX_RULE_LENGTH, FeatureDictionary, RuleError, load_rule

ACCEPTED = [
    # literals and features
    "True",
    "lives_alone",
    "not lives_alone",
    "is_pregnant == True",
    "lives_alone != signed_family_doctor",
    # comparisons of every kind, chained as in Python
    "age >= 65",
    "glucose >= 7.0",
    "age == 45.0",
    "18 <= age < 60",
    "0 < phq9 <= gad7 < 27",
    "sbp > dbp",
    "hukou == 'migrant'",
    "'migrant' == hukou",
    "community < 'C200'",
    "origin_province == community",
    # membership
    "occupation in ['construction', 'delivery', 'ride_hailing']",
    "household_status not in ['general']",
    "age in [0, 1, 2.5]",
    "disability_level in [-1, 3]",
    "lives_alone in [True]",
    "age + 1 in [46]",
    # arithmetic
    "residence_months / 12 >= 2",
    "oop_12m > income_12m * 0.4",
    "-age < -60",
    "-(age - 70) > 0",
    "(sbp + dbp) / 2 > 100",
    "age - - 5 > 3",
    # functions
    "has('hypertension')",
    "not has('tb')",
    "days_since(last_followup) > 90",
    "days_since(last_followup) / 30 >= 3",
    # logic, nested
    "hukou == 'migrant' and (has('hypertension') or has('diabetes'))",
    "not (age < 18 or age > 60) and sex == 'F'",
    "(age >= 65 and lives_alone) or disability_level >= 3",
    # a rule may span lines (a YAML block) and carry comments
    "hukou == 'migrant'\nand has('hypertension')  # 流动人口高血压\n"
    "and days_since(last_followup) > 90",
    # strings with quotes, backslashes and Chinese
    "community == '社区\\'1'",
    'community != "b\'c"',
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted(dictionary: FeatureDictionary, text: str) -> None:
    rule = load_rule(text, dictionary, "ok")
    assert rule.text == text


def test_what_a_rule_reads(dictionary: FeatureDictionary) -> None:
    rule = load_rule(
        "hukou == 'migrant' and (has('hypertension') or days_since(last_followup) > 90)"
        " and hukou != 'local'",
        dictionary,
        "chronic_continuity",
    )
    assert rule.features == ("hukou", "last_followup")
    assert rule.conditions == ("hypertension",)
    assert rule.uses_evaluation_date
    assert not load_rule("age > 3", dictionary).uses_evaluation_date


REFUSED = [
    # names
    ("hukuo == 'migrant'", 1, 1, "unknown feature 'hukuo' (did you mean 'hukou'?)"),
    ("zzz > 1", 1, 1, "unknown feature 'zzz'"),
    ("age > 3 and\n    sexx == 'M'", 2, 5, "unknown feature 'sexx' (did you mean 'sex'?)"),
    ("'高血压' == hukuo", 1, 10, "unknown feature 'hukuo' (did you mean 'hukou'?)"),
    ("has > 1", 1, 1, "has is a function: call it, e.g. has(…)"),
    # enumerations
    (
        "hukou == 'migrnt'",
        1,
        10,
        "'migrnt' is not a value of hukou (did you mean 'migrant'?); its values are local, migrant",
    ),
    ("'X' == sex", 1, 1, "'X' is not a value of sex; its values are M, F"),
    ("sex in ['M', 'X']", 1, 14, "'X' is not a value of sex; its values are M, F"),
    (
        "sex < 'M'",
        1,
        7,
        "'<' cannot order sex: its values are names, not a scale; use == or in: sex < 'M'",
    ),
    # types
    ("hukou == 3", 1, 10, "cannot compare a str with a number: hukou == 3"),
    ("age == 'old'", 1, 8, "cannot compare a number with a str: age == 'old'"),
    ("lives_alone == 1", 1, 16, "cannot compare a bool with a number: lives_alone == 1"),
    ("age + hukou > 3", 1, 7, "'+' needs a number, but hukou is a str"),
    ("'a' * 3 == 'aaa'", 1, 1, "'*' needs a number, but 'a' is a str"),
    ("lives_alone + 1 > 0", 1, 1, "'+' needs a number, but lives_alone is a bool"),
    ("-hukou == 'x'", 1, 2, "unary '-' needs a number, but hukou is a str"),
    ("not age", 1, 5, "'not' needs a bool, but age is a number"),
    ("age > 1 and 3", 1, 13, "'and' needs a bool, but 3 is a number"),
    ("community or lives_alone", 1, 1, "'or' needs a bool, but community is a str"),
    (
        "lives_alone < True",
        1,
        15,
        "'<' cannot order booleans; use == or !=: lives_alone < True",
    ),
    ("age", 1, 1, "a rule must be true or false, but this is a number"),
    ("age + 1", 1, 1, "a rule must be true or false, but this is a number"),
    ("'yes'", 1, 1, "a rule must be true or false, but this is a str"),
    # dates
    (
        "last_followup > 3",
        1,
        1,
        "'last_followup' is a date; use days_since(last_followup) to compare it",
    ),
    ("days_since(age) > 3", 1, 12, "days_since() needs a date feature, but age is int"),
    (
        "days_since('2024-01-01') > 1",
        1,
        12,
        "days_since() takes a date feature by name, e.g. days_since(last_followup)",
    ),
    ("days_since(lastfollowup) > 1", 1, 12, "unknown feature 'lastfollowup'"),
    # has()
    ("has('tbb')", 1, 5, "unknown condition code 'tbb' (did you mean 'tb'?)"),
    ("has(tb)", 1, 5, "has() takes a condition code in quotes, e.g. has('tb')"),
    ("has('tb', 'hiv')", 1, 1, "has() takes exactly one argument, e.g. has('hypertension')"),
    ("has(code='tb')", 1, 1, "has() takes exactly one argument, e.g. has('hypertension')"),
    ("has()", 1, 1, "has() takes exactly one argument, e.g. has('hypertension')"),
    # membership
    ("age in age", 1, 8, "'in' needs a list of literals on its right, e.g. ['a', 'b']"),
    ("age not in (1, 2)", 1, 12, "'not in' needs a list of literals on its right, e.g. ['a', 'b']"),
    ("age in []", 1, 8, "'in' needs a non-empty list"),
    ("age in [1, 'a']", 1, 12, "cannot look for a number in a list holding a str: age in [1, 'a']"),
    ("age in [sbp]", 1, 9, "a list may hold only literals (numbers, strings, booleans)"),
    ("age in [-sbp]", 1, 9, "a list may hold only literals (numbers, strings, booleans)"),
    ("age in [1] == True", 1, 8, "a list can only follow 'in' or 'not in'"),
    ("[1] == [1]", 1, 1, "a list can only follow 'in' or 'not in', e.g. x in ['a', 'b']"),
    # literals
    ("None == age", 1, 1, "None is not a value in a rule (an unknown feature is NULL)"),
    ("1e999 > age", 1, 1, "the number 1e999 is out of range"),
    (
        "age < 9007199254740993",
        1,
        7,
        "the whole number 9007199254740993 is out of range (at most ±9007199254740992)",
    ),
    ("age == 1j", 1, 8, "a rule cannot use complex numbers"),
    ("community == b'x'", 1, 14, "a rule cannot use bytes"),
    ("community == ...", 1, 14, "a rule cannot use Ellipsis"),
    # forbidden constructs
    ("hukou.lower() == 'x'", 1, 1, "a rule cannot use attribute access (x.y)"),
    ("age.real > 1", 1, 1, "a rule cannot use attribute access (x.y)"),
    ("community[0] == 'C'", 1, 1, "a rule cannot use subscripts (x[i])"),
    ("(lambda: True)()", 1, 2, "a rule cannot use lambda"),
    ("(age + 1)(1) > 0", 1, 2, "a rule cannot use calls of expressions"),
    ("lambda: True", 1, 1, "a rule cannot use lambda"),
    (
        "eval('1') == 1",
        1,
        1,
        "function 'eval' is not allowed; the functions are has() and days_since()",
    ),
    ("__import__('os') == 1", 1, 1, "function '__import__' is not allowed"),
    ("len(community) > 2", 1, 1, "function 'len' is not allowed"),
    ("f'{age}' == '3'", 1, 1, "a rule cannot use f-strings"),
    ("(x := 3) > 2", 1, 2, "a rule cannot use assignment expressions (:=)"),
    ("[a for a in b] == [1]", 1, 1, "a rule cannot use comprehensions"),
    ("any(a for a in b)", 1, 1, "function 'any' is not allowed"),
    ("{'a': 1} == {}", 1, 1, "a rule cannot use dict literals"),
    ("{1} == {1}", 1, 1, "a rule cannot use set literals"),
    ("(1, 2) == (1, 2)", 1, 1, "a rule cannot use tuples"),
    (
        "age if lives_alone else 1",
        1,
        1,
        "a rule cannot use conditional expressions (x if c else y)",
    ),
    ("age is None", 1, 1, "'is' is not allowed; compare values with == or !="),
    ("age is not 3", 1, 1, "'is' is not allowed; compare values with == or !="),
    ("age % 2 == 0", 1, 1, "the operator % is not allowed; the arithmetic is + - * /"),
    ("age // 2 == 0", 1, 1, "the operator // is not allowed; the arithmetic is + - * /"),
    ("age ** 2 > 0", 1, 1, "the operator ** is not allowed; the arithmetic is + - * /"),
    ("age & 1 == 0", 1, 1, "the operator & is not allowed; the arithmetic is + - * /"),
    ("~age == 0", 1, 1, "a rule cannot use ~"),
    ("+age > 1", 1, 1, "a rule cannot use unary +"),
    ("*age", 1, 1, "syntax error: invalid syntax"),
    # syntax
    ("age >", 1, 6, "syntax error: invalid syntax"),
    ("age > > 3", 1, 7, "syntax error: invalid syntax"),
    ("hukou == 'x", 1, 10, "syntax error: unterminated string literal (detected at line 1)"),
    ("age > 3 )", 1, 9, "syntax error: unmatched ')'"),
    ("age > 3; import os", 1, 8, "syntax error: invalid syntax"),
    ("age > 3 and\n  hukou == 'local' or", 2, 22, "syntax error: invalid syntax"),
    # Wrapping a multi-line rule in brackets must not repair unbalanced brackets.
    ("age > 1) or (\nage < 0", 1, 8, "syntax error: unmatched ')'"),
    # sizes
    ("", 1, 1, "the rule is empty"),
    ("  \n ", 1, 1, "the rule is empty"),
    ("age > 1\x00", 1, 1, "the rule contains a NUL character"),
]


@pytest.mark.parametrize(("text", "line", "column", "reason"), REFUSED)
def test_refused(
    dictionary: FeatureDictionary, text: str, line: int, column: int, reason: str
) -> None:
    with pytest.raises(RuleError) as caught:
        load_rule(text, dictionary, "chronic_continuity")
    error = caught.value
    assert (error.rule_id, error.line, error.column) == ("chronic_continuity", line, column)
    assert error.reason.startswith(reason)
    assert error.detail == f"rule chronic_continuity, line {line}, column {column}: {error.reason}"


def test_the_error_is_a_problem_document(dictionary: FeatureDictionary) -> None:
    with pytest.raises(RuleError) as caught:
        load_rule("hukuo == 'migrant'", dictionary, "chronic_continuity")
    assert caught.value.problem() == {
        "type": "/problems/invalid-rule",
        "title": "Invalid rule",
        "status": 400,
        "detail": "rule chronic_continuity, line 1, column 1: unknown feature 'hukuo' "
        "(did you mean 'hukou'?)",
        "rule": "chronic_continuity",
        "line": 1,
        "column": 1,
        "reason": "unknown feature 'hukuo' (did you mean 'hukou'?)",
    }


def test_too_long(dictionary: FeatureDictionary) -> None:
    text = "age > 1 or " * (MAX_RULE_LENGTH // 11) + "age > 2"
    assert len(text) > MAX_RULE_LENGTH
    with pytest.raises(RuleError, match=f"the limit is {MAX_RULE_LENGTH}"):
        load_rule(text, dictionary)


def test_nesting_is_bounded(dictionary: FeatureDictionary) -> None:
    # Exactly at the limit loads; one level more is refused at the node that goes too deep.
    def nested(depth: int) -> str:
        # depth levels: the comparison, then depth - 2 additions, then the leaves
        return " + ".join(["age"] * (depth - 1)) + " > 0"

    load_rule(nested(MAX_DEPTH), dictionary)
    with pytest.raises(RuleError, match=f"deeper than {MAX_DEPTH} levels") as caught:
        load_rule(nested(MAX_DEPTH + 1), dictionary)
    assert caught.value.line == 1


@pytest.mark.parametrize(
    "bomb",
    [
        "(" * 5000 + "True" + ")" * 5000,
        "not " * 2400 + "True",
        "-" * 9000 + "1 > 0",
        "[" * 3000 + "]" * 3000,
        "age" + " + age" * 1600 + " > 0",
    ],
)
def test_recursion_bombs_are_refused_not_crashed(dictionary: FeatureDictionary, bomb: str) -> None:
    assert len(bomb) <= MAX_RULE_LENGTH + 10_000
    with pytest.raises(RuleError):
        load_rule(bomb, dictionary, "bomb")


@pytest.mark.parametrize("bad_id", ["", "has space", "x" * 101, "semi;colon", None])
def test_rule_ids_are_names(dictionary: FeatureDictionary, bad_id: object) -> None:
    with pytest.raises(RuleError, match="a rule id is"):
        load_rule("True", dictionary, bad_id)  # type: ignore[arg-type]


def test_rule_ids_may_be_chinese(dictionary: FeatureDictionary) -> None:
    assert load_rule("True", dictionary, "高血压流动人口").id == "高血压流动人口"
