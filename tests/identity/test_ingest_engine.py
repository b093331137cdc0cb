"""The pure ingest engine: decoding, row splitting and validation, without a database."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from carematch.identity.ingest import (
    detect_encoding,
    normalise_phone,
    parse_csv_bytes,
    parse_date,
    validate_row,
)
from carematch.identity.sources import get_source
from tests.fixtures.factories import POLICE_HEADER, make_id, police_row, wrong_check_digit

COMMUNITY = "449901001001"


def _validate(text: str):
    parsed = parse_csv_bytes(text.encode("utf-8"))
    schema = get_source("police")
    return [validate_row(schema, parsed.header, row) for row in parsed.rows]


def test_gbk_is_detected_and_names_read_correctly():
    body = (
        POLICE_HEADER
        + "\r\n"
        + police_row("P1", "张玮", make_id("449901", date(1990, 1, 5), 11, "M"), COMMUNITY)
    ).encode("gbk")
    assert detect_encoding(body) == "gb18030"
    parsed = parse_csv_bytes(body)
    rows = list(parsed.rows)
    assert rows[0].cells[1] == "张玮"


def test_bom_is_stripped_from_the_header():
    body = (
        b"\xef\xbb\xbf" + (POLICE_HEADER + "\n" + police_row("P1", "李丽", "", COMMUNITY)).encode()
    )
    parsed = parse_csv_bytes(body)
    assert parsed.encoding == "utf-8-sig"
    assert parsed.header[0] == "record_id"


def test_utf8_file_with_one_damaged_line_stays_utf8_and_flags_that_line():
    good = police_row("P1", "王芳", "", COMMUNITY).encode()
    damaged = police_row("P2", "X", "", COMMUNITY).encode().replace(b"X", b"\xff\xfe")
    body = (
        POLICE_HEADER.encode() + b"\n" + good + b"\n" + damaged + b"\n" + good.replace(b"P1", b"P3")
    )
    parsed = parse_csv_bytes(body)
    assert parsed.encoding == "utf-8"
    rows = list(parsed.rows)
    assert [r.problems[0]["code"] for r in rows if r.problems] == ["bad_encoding"]
    assert "\\xff\\xfe" in rows[1].text


def test_row_text_is_verbatim_including_quoted_newlines():
    row = 'P1,"张\n伟",,M,1990-01-05,,"a, b",449901001001,local,,,,office'
    parsed = parse_csv_bytes((POLICE_HEADER + "\n" + row + "\n").encode())
    (only,) = list(parsed.rows)
    assert only.text == row
    assert only.line == 2


def test_wrong_column_count_is_a_hard_error():
    (result,) = _validate(POLICE_HEADER + "\n" + police_row("P1", "赵六", "", COMMUNITY) + ",extra")
    assert [e["code"] for e in result.errors] == ["column_count"]


def test_impossible_date_is_a_hard_error_with_column():
    (result,) = _validate(
        POLICE_HEADER + "\n" + police_row("P1", "赵六", "", COMMUNITY, born="2021-02-30")
    )
    assert result.errors[0]["code"] == "bad_date"
    assert result.errors[0]["column"] == "birth_date"


def test_every_reason_is_kept_not_just_the_first():
    row = police_row("P1", "赵六", "", COMMUNITY, born="1990-13-01").replace(",local,", ",martian,")
    (result,) = _validate(POLICE_HEADER + "\n" + row)
    assert {e["code"] for e in result.errors} == {"bad_date", "bad_value"}


def test_wrong_check_digit_is_a_soft_flag():
    good = make_id("449901", date(1985, 7, 1), 21, "M")
    (result,) = _validate(
        POLICE_HEADER
        + "\n"
        + police_row("P1", "钱七", wrong_check_digit(good), COMMUNITY, born="1985-07-01")
    )
    assert result.errors == []
    assert [f["code"] for f in result.flags] == ["id_checksum"]
    assert result.canonical["id_valid"] is False


def test_legacy_15_digit_id_is_upgraded_and_flagged():
    eighteen = make_id("449901", date(1965, 3, 9), 31, "M")
    fifteen = eighteen[:6] + eighteen[8:17]
    (result,) = _validate(
        POLICE_HEADER + "\n" + police_row("P1", "孙八", fifteen, COMMUNITY, born="1965-03-09")
    )
    assert result.canonical["id_number"] == eighteen
    assert result.canonical["id_valid"] is True
    assert "id_legacy15" in [f["code"] for f in result.flags]


def test_id_that_disagrees_with_birth_date_and_sex_is_flagged():
    id_number = make_id("449901", date(1990, 1, 5), 11, "M")
    (result,) = _validate(
        POLICE_HEADER
        + "\n"
        + police_row("P1", "周九", id_number, COMMUNITY, sex="F", born="1991-01-05")
    )
    assert {f["code"] for f in result.flags} == {"id_birth_mismatch", "id_sex_mismatch"}


def test_repeated_header_line_is_rejected_not_loaded():
    text = POLICE_HEADER + "\n" + police_row("P1", "吴十", "", COMMUNITY) + "\n" + POLICE_HEADER
    results = _validate(text)
    assert [r.errors[0]["code"] for r in results if r.errors] == ["repeated_header"]


def test_blank_lines_are_counted_not_returned_as_rows():
    text = POLICE_HEADER + "\n\n" + police_row("P1", "郑一", "", COMMUNITY) + "\n\n\n"
    parsed = parse_csv_bytes(text.encode())
    assert len(list(parsed.rows)) == 1
    assert parsed.blank_lines == [2, 4, 5]


def test_malformed_phone_is_flagged_and_plus86_is_normalised():
    assert normalise_phone("+86 138-0013-8000") == ("13800138000", True)
    assert normalise_phone("0086 13800138000") == ("13800138000", True)
    assert normalise_phone("12345")[1] is False


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_every_date_format_parses_to_the_same_day(day: date):
    forms = [
        day.isoformat(),
        f"{day.year}/{day.month}/{day.day}",
        f"{day:%Y%m%d}",
        f"{day.year}年{day.month}月{day.day}日",
        f"{day.year}.{day.month}.{day.day}",
    ]
    assert {parse_date(f) for f in forms} == {day}
