"""The pure ledger: entries balance per unit, no person goes negative, balances equal lines.

The property test drives random sequences of earn / redeem / volunteer / receive help / expire /
reverse, with sources drawn from a small pool so that replays happen, and checks the ledger
against an independent tally kept by the test.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.points import ledger
from carematch.points.ledger import (
    Ledger,
    Line,
    NotReversible,
    Overdrawn,
    PointRules,
    SourceRef,
    SourceReused,
    UnbalancedEntry,
    Unit,
    person_account,
)
from carematch.providers.catalogue import service_catalogue

RULES_FILE = Path(ledger.__file__).with_name("rules.yaml")


def packaged_rules() -> PointRules:
    return ledger.parse_rules(yaml.safe_load(RULES_FILE.read_text("utf-8")), service_catalogue())


RULES = packaged_rules()
TALK = RULES.activities["health_talk"]
DELIVERY = RULES.redemptions["medication_delivery"]
CHAT = RULES.help_kinds["companionship"]


# ---- single entries --------------------------------------------------------------------------


def test_an_earning_credits_the_person_and_debits_the_activity_funding():
    posting = ledger.earn("p1", TALK, SourceRef("health_talk", "t1"))
    after = ledger.apply({}, posting)
    assert after == {"person:p1:points": TALK.points, "issuance:health_talk": -TALK.points}
    assert sum(after.values()) == 0


def test_a_redemption_beyond_the_balance_is_refused_and_names_the_shortfall():
    posting = ledger.redeem("p1", DELIVERY, SourceRef("redemption", "r1"))
    with pytest.raises(Overdrawn) as refused:
        ledger.apply({"person:p1:points": DELIVERY.price - 1}, posting)
    assert refused.value.balance == DELIVERY.price - 1
    assert refused.value.amount == -DELIVERY.price


def test_a_redemption_of_exactly_the_balance_leaves_zero():
    posting = ledger.redeem("p1", DELIVERY, SourceRef("redemption", "r1"))
    after = ledger.apply({"person:p1:points": DELIVERY.price}, posting)
    assert after["person:p1:points"] == 0


def test_time_bank_minutes_earn_one_for_one_and_spend_from_the_same_account():
    given = ledger.volunteer(RULES, "v1", CHAT, 90, SourceRef("help_record", "h1"))
    spent = ledger.receive_help(RULES, "v1", CHAT, 60, SourceRef("help_record", "h2"))
    after = ledger.apply(ledger.apply({}, given), spent)
    assert RULES.minutes_per_minute == 1
    assert after["person:v1:minutes"] == 30
    assert after["volunteering:companionship"] == -90
    assert after["help:companionship"] == 60
    assert "person:v1:points" not in after  # minutes never touch points


def test_the_rate_scales_minutes_given_but_not_minutes_spent():
    doubled = PointRules(RULES.activities, RULES.redemptions, RULES.help_kinds, 2, 480)
    given = ledger.volunteer(doubled, "v1", CHAT, 30, SourceRef("help_record", "h1"))
    assert given.amount_for("person:v1:minutes") == 60


@pytest.mark.parametrize("minutes", [0, -5, 481, 10_000])
def test_minutes_outside_one_record_s_range_are_refused(minutes):
    with pytest.raises(ledger.LedgerError):
        ledger.volunteer(RULES, "v1", CHAT, minutes, SourceRef("help_record", "h1"))


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [Line(person_account("p1", Unit.POINTS), 5)],
        [Line(person_account("p1", Unit.POINTS), 5), Line(ledger.issuance_account("x"), -4)],
        [Line(person_account("p1", Unit.POINTS), 0), Line(ledger.issuance_account("x"), 0)],
        # Balanced in total, but points against minutes: the units never mix.
        [Line(person_account("p1", Unit.POINTS), 5), Line(ledger.volunteering_account("x"), -5)],
        [Line(person_account("p1", Unit.POINTS), 5), Line(person_account("p1", Unit.POINTS), -5)],
    ],
)
def test_entries_that_do_not_balance_per_unit_are_refused(lines):
    with pytest.raises(UnbalancedEntry):
        ledger.check_balanced(lines)


def test_an_entry_may_carry_both_units_when_each_balances():
    lines = [
        Line(person_account("p1", Unit.POINTS), 5),
        Line(ledger.issuance_account("x"), -5),
        Line(person_account("p1", Unit.MINUTES), 7),
        Line(ledger.volunteering_account("y"), -7),
    ]
    assert len(ledger.check_balanced(lines)) == 4


def test_a_reversal_flips_every_line_and_cannot_itself_be_reversed():
    original = ledger.earn("p1", TALK, SourceRef("health_talk", "t1"))
    undo = ledger.reversal("E1", original, "wrong person")
    assert undo.source == SourceRef("reversal", "E1")
    assert sorted((x.account.key, x.amount) for x in undo.lines) == sorted(
        (x.account.key, -x.amount) for x in original.lines
    )
    with pytest.raises(NotReversible):
        ledger.reversal("E2", undo)


def test_the_reversal_source_kind_is_reserved():
    with pytest.raises(ledger.InvalidSource):
        ledger.earn("p1", TALK, SourceRef("reversal", "E1"))


@pytest.mark.parametrize(
    ("kind", "ident"),
    [("", "x"), ("Service", "x"), ("a" * 33, "x"), ("svc", ""), ("svc", "a b"), ("svc", "x" * 65)],
)
def test_malformed_source_references_are_refused(kind, ident):
    with pytest.raises(ledger.InvalidSource):
        SourceRef(kind, ident)


def test_posting_a_source_again_replays_and_a_different_movement_is_refused():
    book = Ledger()
    first = book.post("E1", ledger.earn("p1", TALK, SourceRef("service_record", "s1")))
    again = book.post("E2", ledger.earn("p1", TALK, SourceRef("service_record", "s1")))
    assert (first.created, again.created, again.entry_id) == (True, False, "E1")
    assert book.balance("person:p1:points") == TALK.points
    checkup = RULES.activities["annual_checkup"]
    with pytest.raises(SourceReused):
        book.post("E3", ledger.earn("p1", checkup, SourceRef("service_record", "s1")))
    # The same source for another person is another entry (a health talk has many attendees).
    assert book.post("E4", ledger.earn("p2", TALK, SourceRef("service_record", "s1"))).created


# ---- the rules file --------------------------------------------------------------------------


def test_the_packaged_rules_match_the_issue_s_examples():
    assert RULES.activities["annual_checkup"].points == 50
    assert RULES.activities["health_talk"].points == 20
    assert RULES.activities["questionnaire"].points == 10
    assert RULES.minutes_per_minute == 1
    assert RULES.activity_for_service("elderly_checkup") == RULES.activities["annual_checkup"]
    assert RULES.activity_for_service("general_outpatient") is None


def _rules(**overrides):
    raw = yaml.safe_load(RULES_FILE.read_text("utf-8"))
    raw.update(overrides)
    return raw


@pytest.mark.parametrize(
    "raw",
    [
        [],
        _rules(extra=1),
        _rules(redemptions={"no_such_service": 10}),
        _rules(redemptions={"fitness_support": 0}),
        _rules(redemptions={"fitness_support": 1.5}),
        _rules(activities={"x": {"points": 5, "name": "x"}}),
        _rules(activities={"x": {"points": True, "name": "x", "name_en": "x"}}),
        _rules(activities={"Bad-Code": {"points": 5, "name": "x", "name_en": "x"}}),
        _rules(
            activities={
                "a": {"points": 5, "name": "a", "name_en": "a", "services": ["elderly_checkup"]},
                "b": {"points": 5, "name": "b", "name_en": "b", "services": ["elderly_checkup"]},
            }
        ),
        _rules(activities={"a": {"points": 5, "name": "a", "name_en": "a", "services": ["nope"]}}),
        _rules(activities={}),
        _rules(timebank={"help_kinds": {}}),
        _rules(
            timebank={"minutes_per_minute": 0, "help_kinds": {"a": {"name": "a", "name_en": "a"}}}
        ),
    ],
)
def test_malformed_rules_are_refused_at_load(raw):
    with pytest.raises(ledger.RulesError):
        ledger.parse_rules(raw, service_catalogue())


def test_the_engine_imports_neither_the_database_nor_the_web():
    tree = ast.parse(Path(ledger.__file__).read_text("utf-8"))
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported.isdisjoint({"sqlalchemy", "fastapi", "carematch", "pydantic"}), imported


# ---- the property test -----------------------------------------------------------------------

PERSONS = ("p1", "p2", "p3")
SOURCES = st.sampled_from([f"s{i}" for i in range(8)])
ACTIVITIES = list(RULES.activities.values())
OFFERS = list(RULES.redemptions.values())
HELP = list(RULES.help_kinds.values())

operations = st.one_of(
    st.tuples(st.just("earn"), st.sampled_from(PERSONS), st.sampled_from(ACTIVITIES), SOURCES),
    st.tuples(st.just("redeem"), st.sampled_from(PERSONS), st.sampled_from(OFFERS), SOURCES),
    st.tuples(
        st.just("volunteer"),
        st.sampled_from(PERSONS),
        st.tuples(st.sampled_from(HELP), st.integers(1, 480)),
        SOURCES,
    ),
    st.tuples(
        st.just("receive_help"),
        st.sampled_from(PERSONS),
        st.tuples(st.sampled_from(HELP), st.integers(1, 480)),
        SOURCES,
    ),
    st.tuples(
        st.just("expire"),
        st.sampled_from(PERSONS),
        st.tuples(st.sampled_from(list(Unit)), st.integers(1, 200)),
        SOURCES,
    ),
    st.tuples(st.just("reverse"), st.just(""), st.integers(0, 10_000), st.just("")),
)


def build(op: tuple) -> ledger.Posting | None:
    """The posting an operation asks for (None for a reversal, built from the ledger)."""
    verb, person, what, source = op
    if verb == "earn":
        return ledger.earn(person, what, SourceRef("activity", source))
    if verb == "redeem":
        return ledger.redeem(person, what, SourceRef("redemption", source))
    if verb == "volunteer":
        return ledger.volunteer(RULES, person, what[0], what[1], SourceRef("help_given", source))
    if verb == "receive_help":
        return ledger.receive_help(RULES, person, what[0], what[1], SourceRef("help_got", source))
    if verb == "expire":
        return ledger.expire(person, what[0], what[1], SourceRef("expiry_run", source))
    return None


def check_invariants(book: Ledger, tally: dict[str, int]) -> None:
    """What must hold after every operation, whatever happened."""
    accounts = {line.account.key: line.account for p in book.entries.values() for line in p.lines}
    for posting in book.entries.values():
        per_unit: dict[Unit, int] = defaultdict(int)
        for line in posting.lines:
            per_unit[line.account.unit] += line.amount
        assert len(posting.lines) >= 2 and set(per_unit.values()) <= {0}
    totals: dict[Unit, int] = defaultdict(int)
    for key, account in accounts.items():
        assert book.balance(key) == book.sum_of_lines(key), key
        totals[account.unit] += book.balance(key)
        if account.kind is ledger.AccountKind.PERSON:
            assert book.balance(key) >= 0, key
            assert book.balance(key) == tally[key], key
    # Every unit is a closed system: what persons hold, issuance accounts owe.
    assert set(totals.values()) <= {0}


@settings(max_examples=300, deadline=None)
@given(st.lists(operations, max_size=60))
def test_random_sequences_keep_the_ledger_balanced_and_never_negative(ops):
    book = Ledger()
    # The test's own tally of person balances: what each accepted operation should have done.
    tally: dict[str, int] = defaultdict(int)
    posted: list[str] = []
    for n, op in enumerate(ops):
        before = dict(book.balances)
        entry_id = f"E{n}"
        try:
            if op[0] == "reverse":
                if not posted:
                    continue
                target = posted[op[2] % len(posted)]
                original = book.entries[target]
                result = book.reverse(target, entry_id, "correction")
                if result.created:
                    assert original.kind is not ledger.EntryKind.REVERSAL
                    for line in original.lines:
                        if line.account.kind is ledger.AccountKind.PERSON:
                            tally[line.account.key] -= line.amount
            else:
                posting = build(op)
                assert posting is not None
                result = book.post(entry_id, posting)
                if result.created:
                    for line in posting.lines:
                        if line.account.kind is ledger.AccountKind.PERSON:
                            tally[line.account.key] += line.amount
                else:
                    assert book.balances == before  # a replay moves nothing
            if result.created:
                posted.append(result.entry_id)
        except (Overdrawn, SourceReused, NotReversible):
            assert book.balances == before  # a refusal moves nothing
        check_invariants(book, tally)
    # An entry is reversed at most once, and every reversal names an entry that exists.
    reversed_ids = [p.reverses for p in book.entries.values() if p.reverses is not None]
    assert len(reversed_ids) == len(set(reversed_ids))
    assert set(reversed_ids) <= set(book.entries)
