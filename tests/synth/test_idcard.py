"""GB 11643-1999 identity numbers: check character, validation, 15→18 upgrade, bulk builder."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carematch.synth.idcard import (
    check_digit,
    fixed_width_strings,
    id_digit_matrix,
    is_valid_id,
    to_15_digits,
    upgrade_15_to_18,
)

# The standard's worked example and two widely published sample numbers.
KNOWN = ["11010519491231002X", "440524188001010014", "11010119900307803X"]

areas = st.integers(min_value=110000, max_value=659999).map(str)
births = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2026, 6, 30))
sequences = st.integers(min_value=0, max_value=999).map(lambda s: f"{s:03d}")


def make(area: str, birth: dt.date, sequence: str) -> str:
    body = f"{area}{birth:%Y%m%d}{sequence}"
    return body + check_digit(body)


@pytest.mark.parametrize("number", KNOWN)
def test_known_numbers_are_valid(number: str) -> None:
    assert check_digit(number[:17]) == number[17]
    assert is_valid_id(number)


@given(areas, births, sequences)
def test_built_numbers_validate(area: str, birth: dt.date, sequence: str) -> None:
    number = make(area, birth, sequence)
    assert len(number) == 18
    assert is_valid_id(number)
    assert is_valid_id(number[:17] + number[17].lower())


@given(areas, births, sequences, st.integers(0, 16), st.integers(1, 9))
def test_any_single_substitution_breaks_the_check(
    area: str, birth: dt.date, sequence: str, position: int, delta: int
) -> None:
    number = make(area, birth, sequence)
    digit = str((int(number[position]) + delta) % 10)
    changed = number[:position] + digit + number[position + 1 :]
    assert check_digit(changed[:17]) != changed[17]
    assert not is_valid_id(changed)


@given(areas, births, sequences, st.integers(0, 15))
def test_swapping_two_different_neighbours_breaks_the_check(
    area: str, birth: dt.date, sequence: str, position: int
) -> None:
    number = make(area, birth, sequence)
    a, b = number[position], number[position + 1]
    swapped = number[:position] + b + a + number[position + 2 :]
    assert (swapped == number) or check_digit(swapped[:17]) != swapped[17]


@given(areas, st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(1999, 12, 31)), sequences)
def test_upgrade_from_15_digits_restores_the_18_digit_number(
    area: str, birth: dt.date, sequence: str
) -> None:
    number = make(area, birth, sequence)
    legacy = number[:6] + number[8:17]
    assert len(legacy) == 15
    assert upgrade_15_to_18(legacy) == number


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1101051949123100",
        "11010519491232002X",
        "11010519490230002X",
        "1101051949123100XX",
        "１１０１０５１９４９１２３１００２Ｘ",
        None,
        12345,
    ],
)
def test_invalid_inputs_are_rejected(text: object) -> None:
    assert not is_valid_id(text)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["11010549123100", "110105491332002", "11010549123100X", "abc"])
def test_upgrade_rejects_what_is_not_a_15_digit_id(text: str) -> None:
    with pytest.raises(ValueError):
        upgrade_15_to_18(text)


def test_check_digit_needs_17_digits() -> None:
    with pytest.raises(ValueError):
        check_digit("1234")


@given(st.lists(st.tuples(areas, births, st.integers(0, 999)), min_size=1, max_size=30))
def test_vectorised_builder_agrees_with_scalar_functions(
    rows: list[tuple[str, dt.date, int]],
) -> None:
    area = np.array([int(a) for a, _, _ in rows])
    birth = np.array([b.isoformat() for _, b, _ in rows], dtype="datetime64[D]")
    seq = np.array([s for _, _, s in rows])
    chars = id_digit_matrix(area, birth, seq)
    numbers = fixed_width_strings(chars).to_pylist()
    assert numbers == [make(a, b, f"{s:03d}") for a, b, s in rows]
    legacy = fixed_width_strings(to_15_digits(chars)).to_pylist()
    for number, short in zip(numbers, legacy, strict=True):
        if number[6:8] == "19":
            assert upgrade_15_to_18(short) == number
