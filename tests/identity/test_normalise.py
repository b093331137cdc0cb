"""Normalising identity fields for linkage."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from carematch.identity.normalise import address_parts, id_parts, name_parts, name_tokens
from tests.fixtures.factories import make_id


def test_homophones_share_pinyin():
    assert name_parts("张伟")[0] == name_parts("张玮")[0] == "zhangwei"
    assert name_parts("王丽")[0] == name_parts("王莉")[0]


def test_name_in_letters_meets_name_in_characters():
    assert name_parts("ZHANG Wei")[0] == name_parts("张伟")[0]
    assert name_parts("Wei Zhang")[2] == name_parts("张伟")[2]


def test_compound_surname_is_not_split():
    assert name_tokens("欧阳明远") == ("ouyang", "mingyuan")
    assert name_parts("欧阳明远")[1] == "ouyang"


def test_legacy_id_is_upgraded_and_gives_birth_date_and_sex():
    eighteen = make_id("449901", date(1965, 3, 9), 31, "M")
    fifteen = eighteen[:6] + eighteen[8:17]
    assert id_parts(fifteen) == (eighteen, True, "1965-03-09", "M")


def test_invalid_id_keeps_its_text_but_is_not_valid():
    eighteen = make_id("449901", date(1990, 1, 5), 12, "F")
    typo = eighteen[:10] + ("1" if eighteen[10] != "1" else "2") + eighteen[11:]
    normalised, valid, born, sex = id_parts(typo)
    assert normalised == typo and not valid and born is None and sex is None


def test_full_and_abbreviated_addresses_share_their_tokens():
    full = address_parts("广东省江城市江南区南华街道沙河路108号20栋2101室")
    short = address_parts("江南区沙河路108号20-2101")
    assert full == short == ("江南区", "沙河路108号", "20", "2101")


def test_village_address_with_room_only():
    assert address_parts("江城市临江区石溪街道猎德村东三巷189号301房") == (
        "临江区",
        "猎德村东三巷189号",
        None,
        "301",
    )


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)), st.integers(0, 999))
def test_any_valid_id_round_trips_its_birth_date(born: date, seq: int):
    id_number = make_id("449903", born, seq, "F")
    normalised, valid, implied, sex = id_parts(id_number.lower())
    assert valid and normalised == id_number.upper()
    assert implied == born.isoformat() and sex == "F"
