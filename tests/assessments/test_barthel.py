"""The Barthel engine: answers are checked item by item, the total stays in 0..100, and the
grading from barthel.yaml gives every total exactly one level, never rising with the total."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carematch.assessments.barthel import ScaleFileError, barthel, parse_scale

SCALE = barthel()
answer_sets = st.fixed_dictionaries(
    {item.code: st.sampled_from(item.scores) for item in SCALE.items}
)


def test_the_scale_has_the_ten_standard_items_and_scores():
    scores = {item.code: sorted(item.scores) for item in SCALE.items}
    assert scores == {
        "feeding": [0, 5, 10],
        "bathing": [0, 5],
        "grooming": [0, 5],
        "dressing": [0, 5, 10],
        "bowels": [0, 5, 10],
        "bladder": [0, 5, 10],
        "toilet_use": [0, 5, 10],
        "transfers": [0, 5, 10, 15],
        "mobility": [0, 5, 10, 15],
        "stairs": [0, 5, 10],
    }
    assert SCALE.max_total == 100


@pytest.mark.parametrize(
    ("total", "level"),
    [(100, 0), (99, 1), (61, 1), (60, 2), (41, 2), (40, 3), (35, 3), (21, 3), (20, 4), (0, 4)],
)
def test_the_chinese_grading_cut_points(total, level):
    assert SCALE.level(total) == level


@given(answer_sets)
def test_every_allowed_answer_set_scores_and_grades_once(answers):
    assert SCALE.problems(answers) == []
    total = SCALE.total(answers)
    assert 0 <= total <= 100
    assert sum(1 for b in SCALE.bands if b.low <= total <= b.high) == 1
    assert SCALE.level(total) in range(5)


@given(st.integers(0, 100), st.integers(0, 100))
def test_the_level_never_rises_with_the_total(a, b):
    low, high = sorted((a, b))
    assert SCALE.level(low) >= SCALE.level(high)


@given(answer_sets, st.sampled_from([item.code for item in SCALE.items]))
def test_raising_one_item_never_raises_the_level(answers, code):
    item = next(i for i in SCALE.items if i.code == code)
    better = {**answers, code: max(item.scores)}
    assert SCALE.total(better) >= SCALE.total(answers)
    assert SCALE.level(SCALE.total(better)) <= SCALE.level(SCALE.total(answers))


def test_every_fault_in_the_answers_is_named():
    answers = {item.code: max(item.scores) for item in SCALE.items}
    del answers["stairs"]
    answers["bathing"] = 10  # bathing allows 0 or 5
    answers["feeding"] = True  # a bool is not a score
    answers["walking_speed"] = 5
    problems = SCALE.problems(answers)
    assert len(problems) == 4
    joined = " ".join(problems)
    for word in ("walking_speed", "stairs", "bathing", "feeding", "0/5"):
        assert word in joined


def _file(levels):
    return {
        "items": {
            "a": {
                "label": {"zh": "甲", "en": "A"},
                "scores": [
                    {"score": 10, "zh": "好", "en": "good"},
                    {"score": 0, "zh": "差", "en": "bad"},
                ],
            }
        },
        "levels": [
            {"level": lv, "min": lo, "max": hi, "zh": "x", "en": "x"} for lv, lo, hi in levels
        ],
    }


@pytest.mark.parametrize(
    ("levels", "reason"),
    [
        ([(0, 6, 10), (1, 0, 4)], "falls in 0 bands"),  # 5 is uncovered
        ([(0, 5, 10), (1, 0, 5)], "falls in 2 bands"),  # 5 is covered twice
        ([(1, 6, 10), (0, 0, 5)], "never give a higher"),  # level rises with the total
    ],
)
def test_a_bad_grading_stops_the_load(levels, reason):
    with pytest.raises(ScaleFileError, match=reason):
        parse_scale(_file(levels))


def test_a_good_file_loads():
    scale = parse_scale(_file([(0, 6, 10), (1, 0, 5)]))
    assert scale.max_total == 10 and scale.level(5) == 1 and scale.level(10) == 0
