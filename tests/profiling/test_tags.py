"""Demand tags: the shipped library, a broken library's report, batch vs online, explanations."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import yaml

from carematch.profiling.features import compute_features, persons_table, source_table
from carematch.profiling.tags import (
    TagLibraryError,
    default_library,
    evaluate_batch,
    evaluate_one,
    load_library,
    service_codes,
)
from tests.profiling.conftest import City, count_overdue

AS_OF = date(2026, 6, 30)
TYPES = {"basic_medical", "public_health", "health_management", "mental_health", "special_groups"}
LEVELS = {"survival", "maintenance", "development"}


def catalogue() -> set[str]:
    """Service codes read straight from the catalogue file."""
    text = resources.files("carematch.data").joinpath("services.yaml").read_text("utf-8")
    return {entry["code"] for entry in yaml.safe_load(text)}


def test_the_shipped_library_loads_and_covers_the_taxonomy():
    library = default_library()
    tags = library.tags.values()
    assert len(library.tags) >= 25
    assert set(library.rules) == set(library.tags)
    assert {t.type for t in tags} == TYPES
    assert {t.level for t in tags} == LEVELS
    assert len({g for t in tags for g in t.groups}) >= 6
    assert {t.priority for t in tags} == {1, 2, 3}
    known = catalogue()
    assert all(t.services and set(t.services) <= known for t in tags)
    assert all(t.label_zh and t.label_en for t in tags)


@pytest.mark.parametrize(
    "need",
    [
        "chronic_continuity",  # chronic continuity for movers
        "occupational_dust_exposure",
        "child_catch_up",
        "prenatal_care",
        "elderly_checkup",
        "depression_support",
        "cross_province_settlement",
        "tb_management",
        "disability_rehab",
    ],
)
def test_the_needs_the_issue_names_have_a_tag(need: str):
    assert need in default_library().tags


def _library(tmp_path: Path, tags: list[dict]) -> Path:
    shipped = resources.files("carematch.profiling").joinpath("tags.yaml").read_text("utf-8")
    data = yaml.safe_load(shipped)
    data["tags"] = tags
    path = tmp_path / "tags.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _tag(tag_id: str, rule: str = "age >= 65", **changes) -> dict:
    return {
        "id": tag_id,
        "label": {"zh": "标签", "en": "Tag"},
        "rule": rule,
        "type": "public_health",
        "level": "maintenance",
        "groups": ["elderly_chronic"],
        "services": ["elderly_checkup"],
        "priority": 3,
    } | changes


def test_a_good_small_library_loads(tmp_path: Path):
    library = load_library(_library(tmp_path, [_tag("ok")]), service_codes())
    assert list(library.tags) == ["ok"]


def test_a_broken_library_reports_every_problem_at_once(tmp_path: Path):
    bad_rule = "age > 3 and bogus == 1"
    path = _library(
        tmp_path,
        [
            _tag("fine"),
            _tag("svc", services=["elderly_checkup", "no_such_service"]),
            _tag("typ", type="bogus_type"),
            _tag("dup"),
            _tag("dup"),
            _tag("rul", rule=bad_rule),
            _tag("pri", priority="high"),
        ],
    )
    with pytest.raises(TagLibraryError) as caught:
        load_library(path, service_codes())
    message = str(caught.value)
    assert "tag svc" in message and "'no_such_service'" in message
    assert "tag typ" in message and "'bogus_type'" in message
    assert "tag dup" in message and "twice" in message
    column = bad_rule.index("bogus") + 1
    assert f"rule rul, line 1, column {column}" in message and "'bogus'" in message
    assert "tag pri" in message and "'high'" in message
    assert "tag fine" not in message and "rule fine" not in message


def test_an_unreadable_library_is_a_library_error(tmp_path: Path):
    path = tmp_path / "tags.yaml"
    path.write_text("tags: [unclosed", encoding="utf-8")
    with pytest.raises(TagLibraryError):
        load_library(path, service_codes())


def _instances(instances) -> list[tuple[str, str, str]]:
    return sorted((i.person_id, i.tag, json.dumps(i.because, sort_keys=True)) for i in instances)


def test_batch_equals_one_by_one_for_every_person_of_a_city(city: City):
    library = default_library()
    batch = evaluate_batch(city.features, library, city.as_of)
    online = [
        instance
        for values in city.features.to_pylist()
        for instance in evaluate_one(values, library, city.as_of)
    ]
    assert len(batch) > city.features.num_rows  # about 1.5 tags a person
    assert len({i.tag for i in batch}) >= 28
    assert _instances(batch) == _instances(online)


def test_batch_does_not_depend_on_the_order_rows_come_back_in(city: City):
    library = default_library()
    expected = _instances(evaluate_batch(city.features, library, city.as_of))
    con = duckdb.connect(config={"preserve_insertion_order": False, "threads": 2})
    shuffled = city.features.take(pa.array(range(city.features.num_rows - 1, -1, -1)))
    assert _instances(evaluate_batch(shuffled, library, city.as_of, con=con)) == expected
    assert _instances(evaluate_batch(city.features, library, city.as_of, con=con)) == expected


def test_explanations_are_plain_json(city: City):
    for instance in evaluate_batch(city.features, default_library(), city.as_of):
        assert json.loads(json.dumps(instance.because)) == instance.because
        assert instance.because  # every tag instance says why


def _features(hukou: str, conditions: list[str], moves: int = 0) -> dict:
    table = compute_features(
        persons_table([{"person_id": "A", "sex": "M", "birth_date": date(1978, 3, 2)}]),
        {
            "police": source_table(
                "police",
                [{"person_id": "A", "record_id": "P1", "hukou": hukou, "moves_12m": moves}],
            ),
            "ehr": source_table(
                "ehr",
                [
                    {
                        "person_id": "A",
                        "record_id": "E1",
                        "conditions": conditions,
                        "last_visit_date": date(2026, 5, 1),
                    }
                ],
            ),
        },
        AS_OF,
        count_overdue,
    )
    return table.to_pylist()[0]


def test_a_migrant_with_hypertension_needs_chronic_continuity_and_is_told_why():
    values = _features("migrant", ["hypertension"])
    tags = {i.tag: i for i in evaluate_one(values, default_library(), AS_OF)}
    assert "chronic_continuity" in tags
    because = tags["chronic_continuity"].because
    assert because["hukou"] == "migrant"
    assert because["has('hypertension')"] is True
    batch = evaluate_batch(pa.Table.from_pylist([values]), default_library(), AS_OF)
    assert [i.because for i in batch if i.tag == "chronic_continuity"] == [because]


def test_a_settled_local_with_hypertension_does_not_need_continuity_care():
    def tags(values: dict) -> set[str]:
        return {i.tag for i in evaluate_one(values, default_library(), AS_OF)}

    assert "chronic_continuity" not in tags(_features("local", ["hypertension"]))
    assert "chronic_continuity" in tags(_features("local", ["hypertension"], moves=2))


def test_a_chronic_patient_never_followed_up_is_overdue_as_well_as_one_seen_long_ago():
    from datetime import date

    from carematch.profiling.tags import default_library, evaluate_one, feature_dictionary

    library = default_library()
    as_of = date(2026, 6, 30)
    # A plain adult: the non-nullable features at their "nothing recorded" values.
    base = {
        name: (False if f.type == "bool" else 0 if f.type in ("int", "float") else None)
        if not f.nullable
        else None
        for name, f in feature_dictionary().items()
    }
    base["household_status"] = "general"
    never = {**base, "ever_followed_up": False, "last_followup": None}
    long_ago = {**base, "ever_followed_up": True, "last_followup": date(2026, 1, 2)}
    recent = {**base, "ever_followed_up": True, "last_followup": date(2026, 6, 1)}

    def overdue(values, conditions=("hypertension",)):
        tags = evaluate_one({**values, "conditions": list(conditions)}, library, as_of)
        return [t for t in tags if t.tag == "chronic_followup_overdue"]

    assert overdue(never)[0].because["ever_followed_up"] is False
    assert overdue(long_ago)[0].because["last_followup"] == "2026-01-02"
    assert overdue(recent) == []
    assert overdue(never, conditions=()) == []
