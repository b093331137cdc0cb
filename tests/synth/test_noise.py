"""Per-source noise is present at the documented rates (manifest.json), measured against truth."""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict

import pytest

from carematch.synth.idcard import is_valid_id
from tests.synth.support import SOURCES, City, digits_only, parse_date

ID_SOURCES = tuple(s for s in SOURCES if s != "survey")


@pytest.fixture(scope="module")
def noise(city: City) -> dict[str, dict]:
    return json.loads((city.root / "manifest.json").read_text(encoding="utf-8"))["noise"]


def assert_rate(hits: int, n: int, rate: float) -> None:
    """Observed share within four binomial standard errors (plus a little) of the rate."""
    assert n > 0
    slack = 4 * math.sqrt(max(rate * (1 - rate), 1e-4) / n) + 0.003
    assert abs(hits / n - rate) <= slack, (hits, n, rate)


def distinct_rows(city: City, source: str) -> list[dict[str, str]]:
    """One row per person (the first), so duplicates do not weigh twice."""
    seen, rows = set(), []
    for r in city.rows(source):
        person = city.owner[(source, r["record_id"])]
        if person not in seen:
            seen.add(person)
            rows.append(r)
    return rows


@pytest.mark.parametrize("source", ID_SOURCES)
def test_id_numbers_missing_mistyped_and_legacy(city: City, noise: dict, source: str) -> None:
    spec = noise[source]
    rows = city.rows(source)
    missing = sum(r["id_number"] == "" for r in rows)
    assert_rate(missing, len(rows), spec["id_missing"])
    full = [r for r in rows if len(r["id_number"]) == 18]
    invalid = [r for r in full if not is_valid_id(r["id_number"])]
    assert_rate(len(invalid), len(full), spec["id_typo"])
    for r in invalid:  # a typo, not another person's number: one or two characters differ
        true = city.person_of(source, r)["id_number"]
        assert sum(a != b for a, b in zip(r["id_number"], true, strict=True)) in (1, 2)
    for r in full:
        if is_valid_id(r["id_number"]):
            assert r["id_number"].upper() == city.person_of(source, r)["id_number"]
    older = [r for r in rows if city.person_of(source, r)["birth_date"] < "1985"]
    legacy = [r for r in rows if len(r["id_number"]) == 15]
    if older:  # only people born before 1985 ever held a 15-digit card
        expected = spec["id_legacy15"] * (1 - spec["id_typo"]) * (1 - spec["id_missing"])
        assert_rate(len(legacy), len(older), expected)
    assert all(city.person_of(source, r)["birth_date"] < "1985" for r in legacy)
    assert {len(r["id_number"]) for r in rows} <= {0, 15, 18}


def test_noise_kinds_are_all_present_somewhere(city: City) -> None:
    ids = [r["id_number"] for s in ID_SOURCES for r in city.rows(s)]
    assert any(len(i) == 15 for i in ids)
    assert any(len(i) == 18 and not is_valid_id(i) for i in ids)
    assert any(i.endswith("x") and is_valid_id(i) for i in ids)
    names = [r["name"] for s in SOURCES for r in city.rows(s)]
    assert any(re.fullmatch(r"[A-Za-z]+ [A-Za-z]+", n) for n in names)
    assert any(" " in n and not n.isascii() for n in names)


@pytest.mark.parametrize("source", SOURCES)
def test_names_homophones_pinyin_and_spacing(city: City, noise: dict, source: str) -> None:
    spec = noise[source]
    rows = city.rows(source)
    pinyin = [r for r in rows if r["name"].isascii()]
    spaced = [r for r in rows if " " in r["name"] and not r["name"].isascii()]
    assert_rate(len(pinyin), len(rows), spec["name_pinyin"])
    assert_rate(len(spaced), len(rows), spec["name_spaced"])
    plain = [r for r in rows if not r["name"].isascii() and " " not in r["name"]]
    changed = [r for r in plain if r["name"] != city.person_of(source, r)["name"]]
    assert_rate(len(changed), len(plain), spec["name_homophone"])
    for r in changed:  # a homophone keeps the length and changes exactly one character
        true = city.person_of(source, r)["name"]
        assert len(r["name"]) == len(true)
        assert sum(a != b for a, b in zip(r["name"], true, strict=True)) == 1
    for r in pinyin[:200]:
        assert r["name"].lower() == city.person_of(source, r)["name_pinyin"].lower()


@pytest.mark.parametrize("source", SOURCES)
def test_birth_dates_formats_and_errors(city: City, noise: dict, source: str) -> None:
    spec = noise[source]
    rows = city.rows(source)
    styles = Counter()
    wrong = 0
    for r in rows:
        text = r["birth_date"]
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            styles["iso"] += 1
        elif "/" in text:
            styles["slash"] += 1
        elif "年" in text:
            styles["chinese"] += 1
        else:
            assert re.fullmatch(r"\d{8}", text)
            styles["compact"] += 1
        wrong += parse_date(text).isoformat() != city.person_of(source, r)["birth_date"]
    for style, share in spec["birth_formats"].items():
        assert_rate(styles[style], len(rows), share)
    assert_rate(wrong, len(rows), spec["birth_error"])


@pytest.mark.parametrize("source", SOURCES)
def test_sex_labels(city: City, noise: dict, source: str) -> None:
    rows = city.rows(source)
    chinese = sum(r["sex"] in ("男", "女") for r in rows)
    assert_rate(chinese, len(rows), noise[source]["sex_chinese"])
    for r in rows:
        male = r["sex"] in ("M", "男")
        assert r["sex"] in ("M", "F", "男", "女")
        assert male == (city.person_of(source, r)["sex"] == "M")


@pytest.mark.parametrize("source", [s for s in SOURCES if s != "immunization"])
def test_phones_formats_old_and_shared_numbers(city: City, noise: dict, source: str) -> None:
    spec = noise[source]
    rows = city.rows(source)
    present = [r for r in rows if r["phone"]]
    formatted = [r for r in present if not re.fullmatch(r"1\d{10}", r["phone"])]
    assert_rate(len(rows) - len(present), len(rows), spec["phone_missing"])
    assert_rate(len(formatted), len(present), spec["phone_format"])
    for r in formatted:
        assert re.fullmatch(r"\+?(86)?[ -]?1\d{2}[ -]?\d{4}[ -]?\d{4}", r["phone"]), r["phone"]
    old = [r for r in present if digits_only(r["phone"]) == city.person_of(source, r)["old_phone"]]
    changed = [r for r in present if city.person_of(source, r)["old_phone"]]
    if spec["phone_old"]:
        assert old
        assert len(old) <= len(changed)


def test_children_carry_their_guardians_phone(city: City) -> None:
    households = defaultdict(list)
    for p in city.persons.values():
        households[p["household_id"]].append(p)
    matched = 0
    rows = [r for r in city.rows("immunization") if r["phone"]]
    for r in rows:
        child = city.person_of("immunization", r)
        adults = [p for p in households[child["household_id"]] if int(p["age"]) >= 18]
        numbers = {p["phone"] for p in adults} | {p["old_phone"] for p in adults}
        matched += digits_only(r["phone"]) in numbers
    assert matched == len(rows)


@pytest.mark.parametrize(
    "source", ["police", "ehr", "social_security", "immunization", "poverty", "survey"]
)
def test_addresses_abbreviated_moved_or_missing(city: City, noise: dict, source: str) -> None:
    spec = noise[source]
    rows = city.rows(source)
    present = [r for r in rows if r["address"]]
    assert_rate(len(rows) - len(present), len(rows), spec["address_missing"])
    abbreviated = [r for r in present if not r["address"].startswith("广东省江城市")]
    assert_rate(len(abbreviated), len(present), spec["address_abbrev"])
    households = {h["household_id"]: h for h in city.rows("truth/households")}
    full = [r for r in present if r["address"].startswith("广东省江城市")]
    moved = [r for r in full if city.person_of(source, r)["moves_12m"] != "0"]
    stale = [
        r
        for r in moved
        if r["address"] == households[city.person_of(source, r)["household_id"]]["previous_address"]
    ]
    current = [r for r in full if r["address"] == city.person_of(source, r)["address"]]
    assert len(stale) + len(current) == len(full)
    assert_rate(len(stale), len(moved), spec["address_old"])


@pytest.mark.parametrize("source", SOURCES)
def test_duplicate_registrations(city: City, noise: dict, source: str) -> None:
    # A survey may screen one person twice on different days; a duplicate repeats the same visit.
    people = Counter(
        (city.owner[(source, r["record_id"])], r.get("survey_date", "")) for r in city.rows(source)
    )
    extra = sum(n - 1 for n in people.values())
    if source == "insurance":  # a settlement submitted twice: identical apart from record_id
        rows = city.rows(source)
        content = Counter(tuple(v for k, v in r.items() if k != "record_id") for r in rows)
        doubled = sum(n - 1 for n in content.values())
        assert_rate(doubled, len(rows) - doubled, noise[source]["duplicate"])
    else:
        assert_rate(extra, len(people), noise[source]["duplicate"])


def test_hard_negatives_namesakes_and_shared_homes(city: City) -> None:
    by_name_birth = defaultdict(list)
    for p in city.persons.values():
        by_name_birth[(p["name"], p["birth_date"])].append(p)
    namesakes = [group for group in by_name_birth.values() if len(group) > 1]
    assert len(namesakes) >= 10
    assert all(len({p["id_number"] for p in g}) == len(g) for g in namesakes)
    assert all(len({p["household_id"] for p in g}) == len(g) for g in namesakes)
    # Household members share an address, and civil affairs records one phone for the household.
    homes = defaultdict(set)
    for p in city.persons.values():
        homes[p["household_id"]].add(p["address"])
    assert all(len(a) == 1 for a in homes.values())
    by_household = defaultdict(list)
    for r in city.rows("poverty"):
        by_household[r["household_id"]].append(digits_only(r["phone"]))
    shared = sum(len(set(v)) < len(v) for v in by_household.values() if len(v) > 1)
    assert shared > 0.5 * sum(len(v) > 1 for v in by_household.values())
