"""The pre-screening engine (接种前预检): questionnaire + record → pass / defer / contraindicated /
needs_review, each with its reasons, from a rule table in a data file.

The table (``carematch/vaccination/prescreen_rules.yaml``; its header is the format) holds the
questions, the variables the record supplies, and CRE rules (docs/rules.md), each applying to
all vaccines, the live ones, the inactivated ones, the live injectable ones or a list of series.
The engine knows no vaccine, question or rule by name: a health authority changes the file, not
the code. The table is checked whole when it is loaded, so a typo stops the service at start
rather than letting a contraindication slip through at the vaccination desk.

Decisions this engine makes (pinned by tests):

* When several rules fire the outcome is the highest of contraindicated > needs_review > defer
  > pass, and every fired rule's reason is kept, highest outcome first.
* ``review_required`` is true whenever a needs_review rule fired (a high-risk person, 高危人群),
  even when a contraindication outranks it: the vaccinator reviews every high-risk person.
* ``suggested`` is the outcome without the high-risk rules: what the machine would say on its
  own, kept so that agreement between the machine and the reviewer can be measured.
* A question left unanswered is unknown (CRE's null), so a rule reading only it does not fire;
  the API asks every question, so this only happens for tables that add a question later.

Pure: no database, no web framework.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from carematch.core.errors import InvalidInput
from carematch.rules import (
    Feature,
    FeatureDictionary,
    FeatureType,
    RuleSet,
    RuleSetError,
    load_rules,
)
from carematch.vaccination.schedule import Schedule

Outcome = Literal["pass", "defer", "contraindicated", "needs_review"]
PASS: Final = "pass"
DEFER: Final = "defer"
CONTRAINDICATED: Final = "contraindicated"
NEEDS_REVIEW: Final = "needs_review"
OUTCOMES: tuple[Outcome, ...] = (PASS, DEFER, NEEDS_REVIEW, CONTRAINDICATED)
"""Every outcome, lowest precedence first."""
RANK: Mapping[str, int] = {outcome: i for i, outcome in enumerate(OUTCOMES)}
RULE_OUTCOMES = frozenset({DEFER, NEEDS_REVIEW, CONTRAINDICATED})
"""What a rule may decide; pass is what remains when none fires."""

SCOPES = frozenset({"all", "live", "inactivated", "live_injectable"})
RECORD_VARIABLES: Mapping[str, FeatureType] = {
    "days_since_other_live": FeatureType.INT,
    "age_months": FeatureType.INT,
}
"""The variables this engine fills from the record; the table must declare each of them."""
RULES_FILE = "prescreen_rules.yaml"


class PrescreenTableError(InvalidInput):
    """A pre-screening table that cannot be used; the message lists every problem."""

    type = "/problems/invalid-prescreen-table"
    title = "Invalid pre-screening table"


@dataclass(frozen=True, slots=True)
class Question:
    """One yes/no question of the questionnaire, in both languages."""

    key: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class ScreenRule:
    """One row of the table: which vaccines, the CRE condition, the outcome and its reason."""

    id: str
    applies_to: str | tuple[str, ...]
    outcome: Outcome
    reason_zh: str
    reason_en: str


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule that fired, with its outcome and reason."""

    rule: str
    outcome: Outcome
    reason_zh: str
    reason_en: str


@dataclass(frozen=True, slots=True)
class Screening:
    """The engine's answer for one person, one vaccine series, one day."""

    series: str
    outcome: Outcome
    findings: tuple[Finding, ...]
    review_required: bool
    suggested: Outcome
    """The outcome without the high-risk (needs_review) rules."""


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """What the record says that the rules read: conditions, days since another live vaccine,
    age in months."""

    conditions: frozenset[str] = frozenset()
    days_since_other_live: int | None = None
    age_months: int | None = None


@dataclass(frozen=True)
class PrescreenTable:
    """A checked table: the questions, the rules and the compiled CRE rule set."""

    questions: tuple[Question, ...]
    rules: tuple[ScreenRule, ...]
    compiled: RuleSet
    schedule: Schedule

    @property
    def question_keys(self) -> tuple[str, ...]:
        """The questionnaire's variables, in the file's order."""
        return tuple(q.key for q in self.questions)

    def applies(self, rule: ScreenRule, series_code: str) -> bool:
        """Whether ``rule`` concerns a dose of ``series_code``."""
        scope = rule.applies_to
        if isinstance(scope, tuple):
            return series_code in scope
        if scope == "all":
            return True
        position = self.schedule.position(series_code)
        if position is None:
            return False
        series = self.schedule.series[position]
        if scope == "live":
            return series.live
        if scope == "inactivated":
            return not series.live
        return series.live_injectable

    def screen(
        self, series_code: str, answers: Mapping[str, bool | None], record: RecordFacts
    ) -> Screening:
        """Screen one person for a dose of ``series_code``.

        Args:
            series_code: a series of the schedule.
            answers: the questionnaire, question key → yes/no (missing or None: unknown).
            record: what the record says (conditions, days since another live vaccine, age).

        Raises:
            InvalidInput: the series is not in the schedule, or an answer names no question.
        """
        if self.schedule.position(series_code) is None:
            raise InvalidInput(f"unknown vaccine series {series_code!r}")
        unknown = set(answers) - set(self.question_keys)
        if unknown:
            raise InvalidInput(f"unknown questions: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {key: answers.get(key) for key in self.question_keys}
        values["days_since_other_live"] = record.days_since_other_live
        values["age_months"] = record.age_months
        conditions = record.conditions & frozenset(self.compiled_conditions)
        findings: list[Finding] = []
        for rule in self.rules:
            if not self.applies(rule, series_code):
                continue
            if self.compiled[rule.id].evaluate(values, conditions=conditions):
                findings.append(Finding(rule.id, rule.outcome, rule.reason_zh, rule.reason_en))
        findings.sort(key=lambda f: -RANK[f.outcome])  # stable: file order within an outcome
        return Screening(
            series=series_code,
            outcome=decide(f.outcome for f in findings),
            findings=tuple(findings),
            review_required=any(f.outcome == NEEDS_REVIEW for f in findings),
            suggested=decide(f.outcome for f in findings if f.outcome != NEEDS_REVIEW),
        )

    @property
    def compiled_conditions(self) -> tuple[str, ...]:
        """The condition codes the table's ``has()`` may test."""
        return tuple(next(iter(self.compiled.values())).dictionary.conditions)


def decide(outcomes: Iterable[str]) -> Outcome:
    """The outcome of several fired rules: the highest by precedence, pass when none fired."""
    best: Outcome = PASS
    for outcome in outcomes:
        if RANK[outcome] > RANK[best]:
            best = OUTCOMES[RANK[outcome]]
    return best


def _text(raw: Any, where: str, problems: list[str]) -> tuple[str, str]:
    if not isinstance(raw, Mapping) or not all(
        isinstance(raw.get(lang), str) and raw[lang].strip() for lang in ("zh", "en")
    ):
        problems.append(f"{where}: needs zh and en text")
        return "", ""
    return raw["zh"].strip(), raw["en"].strip()


def parse_table(data: Any, schedule: Schedule, origin: str = RULES_FILE) -> PrescreenTable:
    """Check a loaded table against the schedule and compile every rule with CRE.

    Raises:
        PrescreenTableError: naming every problem (unknown outcome, scope or series, a rule
            that does not compile, a missing record variable, a question without text …).
    """
    if not isinstance(data, Mapping):
        raise PrescreenTableError(f"{origin}: a table is a mapping with questions, record, rules")
    problems: list[str] = []
    unknown_keys = set(data) - {"questions", "record", "conditions", "rules"}
    if unknown_keys:
        problems.append(f"unknown keys {sorted(unknown_keys)}")
    questions: list[Question] = []
    raw_questions = data.get("questions")
    if not isinstance(raw_questions, Mapping) or not raw_questions:
        problems.append("'questions' must map each question's variable to its zh and en text")
        raw_questions = {}
    for key, text in raw_questions.items():
        zh, en = _text(text, f"question {key!r}", problems)
        questions.append(Question(str(key), zh, en))
    raw_record = data.get("record")
    raw_record = raw_record if isinstance(raw_record, Mapping) else {}
    features = [
        Feature(q.key, FeatureType.BOOL, description={"zh": q.zh, "en": q.en}) for q in questions
    ]
    for name, kind in RECORD_VARIABLES.items():
        spec = raw_record.get(name)
        if not isinstance(spec, Mapping) or spec.get("type") != kind.value:
            problems.append(f"record variable {name!r} must be declared with type {kind.value}")
        features.append(Feature(name, kind))
    for name in set(raw_record) - set(RECORD_VARIABLES):
        problems.append(f"record variable {name!r} is not one the engine fills")
    raw_conditions = data.get("conditions") or {}
    if not isinstance(raw_conditions, Mapping):
        problems.append("'conditions' must map condition codes to zh and en text")
        raw_conditions = {}
    try:
        dictionary = FeatureDictionary(
            features, {str(c): dict(t) for c, t in raw_conditions.items() if isinstance(t, Mapping)}
        )
    except InvalidInput as exc:
        raise PrescreenTableError(f"{origin}: {exc.detail}") from None
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.append("'rules' must be a non-empty list")
        raw_rules = []
    codes = {s.code for s in schedule.series}
    rules: list[ScreenRule] = []
    entries: list[dict[str, Any]] = []
    for number, raw in enumerate(raw_rules, start=1):
        if not isinstance(raw, Mapping):
            problems.append(f"rule #{number}: must be a mapping")
            continue
        rule_id = str(raw.get("id", f"#{number}"))
        where = f"rule {rule_id}"
        extra = set(raw) - {"id", "applies_to", "rule", "outcome", "reason"}
        if extra:
            problems.append(f"{where}: unknown keys {sorted(extra)}")
        outcome = raw.get("outcome")
        if outcome not in RULE_OUTCOMES:
            problems.append(
                f"{where}: unknown outcome {outcome!r} (one of {', '.join(sorted(RULE_OUTCOMES))})"
            )
        scope = raw.get("applies_to")
        applies: str | tuple[str, ...] = "all"
        if isinstance(scope, list) and scope:
            missing = [c for c in scope if c not in codes]
            if missing:
                problems.append(
                    f"{where}: unknown series {missing} (the schedule has {sorted(codes)})"
                )
            applies = tuple(str(c) for c in scope)
        elif isinstance(scope, str) and scope in SCOPES:
            applies = scope
        else:
            problems.append(
                f"{where}: applies_to must be one of {sorted(SCOPES)} or a list of series codes"
            )
        zh, en = _text(raw.get("reason"), f"{where} reason", problems)
        rules.append(ScreenRule(rule_id, applies, outcome, zh, en))  # type: ignore[arg-type]
        entries.append({"id": raw.get("id"), "rule": raw.get("rule")})
    compiled: RuleSet | None = None
    try:
        compiled = load_rules(entries, dictionary)
        for rule in compiled.values():
            rule.to_sql("duckdb")  # "every rule compiles": the batch path must work too
    except RuleSetError as exc:
        problems.extend(str(error) for error in exc.errors)
    if problems:
        raise PrescreenTableError(f"{origin}: " + "; ".join(problems))
    assert compiled is not None
    return PrescreenTable(tuple(questions), tuple(rules), compiled, schedule)


def load_table(source: str | Path, schedule: Schedule) -> PrescreenTable:
    """Load and check a table from a file (a Path) or YAML text (a str).

    Raises:
        PrescreenTableError: not readable, not YAML, or not a valid table.
    """
    try:
        text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PrescreenTableError(f"cannot read the pre-screening table: {exc}") from None
    return parse_table(data, schedule, str(source) if isinstance(source, Path) else RULES_FILE)


@lru_cache(maxsize=4)
def shipped_table(schedule: Schedule) -> PrescreenTable:
    """The table shipped in the package, checked against ``schedule`` once per process."""
    text = resources.files("carematch.vaccination").joinpath(RULES_FILE).read_text("utf-8")
    return load_table(text, schedule)
