"""Reading and validating departmental extracts: a pure engine, no database.

A file is decoded (UTF-8 with or without BOM, or GBK/GB18030), split into rows that keep their
exact original text, and each row is checked against its source's schema. Hard problems (the
row cannot be read: wrong column count, impossible date, undecodable bytes, a value of the
wrong type) send the row to quarantine with every reason; soft problems (an ID number whose
check digit is wrong, a malformed phone) are accepted with a flag.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from carematch.identity.sources import Column, SourceSchema
from carematch.synth.idcard import is_valid_id, upgrade_15_to_18


class IngestFileError(ValueError):
    """The file as a whole cannot be ingested (no header, no record_id column, unknown format)."""


@dataclass
class RawRow:
    """One data row as it was in the file: its first line number, exact text and cells."""

    line: int
    text: str
    cells: list[str] | None
    problems: list[dict[str, str]] = field(default_factory=list)


@dataclass
class RowResult:
    """The outcome of validating one row."""

    record_id: str | None
    canonical: dict[str, Any]
    attributes: dict[str, Any]
    sensitive: dict[str, Any]
    flags: list[dict[str, str]]
    errors: list[dict[str, str]]


@dataclass
class ParsedFile:
    """A decoded file: its encoding, header and rows, plus blank lines skipped."""

    encoding: str
    header: list[str]
    rows: Iterator[RawRow]
    sha256: str
    blank_lines: list[int] = field(default_factory=list)


# --- decoding -------------------------------------------------------------------------------


def detect_encoding(data: bytes) -> str:
    """Pick utf-8-sig, utf-8 or gb18030 by which decodes the most non-ASCII lines cleanly."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    utf8_ok = utf8_bad = gb_ok = 0
    for line in data.splitlines():
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8_ok += 1
        except UnicodeDecodeError:
            utf8_bad += 1
            try:
                line.decode("gb18030")
                gb_ok += 1
            except UnicodeDecodeError:
                pass
    # A GBK file almost never decodes as UTF-8, so any clean UTF-8 majority means UTF-8 with a
    # few damaged lines; GB18030 accepts most byte pairs, so it is the fallback, not the test.
    if utf8_bad == 0 or utf8_ok >= utf8_bad or gb_ok == 0:
        return "utf-8"
    return "gb18030"


_UNDECODED = re.compile("[\udc80-\udcff]")


def _bad_chars(text: str) -> bool:
    """True when decoding left surrogate escapes, i.e. the bytes were not valid text."""
    return _UNDECODED.search(text) is not None


def _visible(text: str) -> str:
    """Render undecodable bytes as \\xNN so the row can be stored and shown verbatim."""
    if not _bad_chars(text):
        return text
    return "".join(
        f"\\x{ord(ch) - 0xDC00:02x}" if "\udc80" <= ch <= "\udcff" else ch for ch in text
    )


def read_table(path: Path) -> ParsedFile:
    """Open a CSV or Parquet extract and return its header and rows."""
    suffix = path.suffix.lower()
    data = path.read_bytes()
    if suffix == ".parquet":
        return _read_parquet(path, data)
    if suffix not in {".csv", ".txt", ""}:
        raise IngestFileError(f"unsupported file type {suffix!r}: use .csv or .parquet")
    return parse_csv_bytes(data)


def parse_csv_bytes(data: bytes) -> ParsedFile:
    """Decode CSV bytes and split them into rows that keep their exact text."""
    encoding = detect_encoding(data)
    text = data.decode(encoding, errors="surrogateescape")
    sha = hashlib.sha256(data).hexdigest()
    consumed: list[str] = []
    line_no = 0

    def lines() -> Iterator[str]:
        nonlocal line_no
        for physical in io.StringIO(text, newline=""):
            line_no += 1
            consumed.append(physical)
            yield physical

    reader = csv.reader(lines())
    header: list[str] | None = None
    blank: list[int] = []
    header_line = 0
    while header is None:
        consumed.clear()
        try:
            first = next(reader)
        except StopIteration:
            raise IngestFileError("the file is empty: no header row") from None
        if not any(c.strip() for c in first):
            blank.append(line_no)
            continue
        header = [unicodedata.normalize("NFKC", c).strip().lower() for c in first]
        header_line = line_no
    if "record_id" not in header:
        raise IngestFileError(
            f"line {header_line}: the header has no record_id column (found: {', '.join(header)})"
        )
    parsed = ParsedFile(encoding, header, iter(()), sha, blank)

    def rows() -> Iterator[RawRow]:
        while True:
            consumed.clear()
            start = line_no + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raw = "".join(consumed).rstrip("\r\n")
                yield RawRow(start, _visible(raw), None, [_problem("csv_error", str(exc))])
                continue
            raw = "".join(consumed).rstrip("\r\n")
            if not cells or not any(c.strip() for c in cells):
                parsed.blank_lines.append(start)
                continue
            row = RawRow(start, _visible(raw), cells)
            if _bad_chars(raw):
                row.problems.append(
                    _problem("bad_encoding", f"bytes that are not valid {encoding}")
                )
            yield row

    parsed.rows = rows()
    return parsed


def _read_parquet(path: Path, data: bytes) -> ParsedFile:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    header = [c.strip().lower() for c in table.column_names]
    if "record_id" not in header:
        raise IngestFileError(f"the Parquet file has no record_id column (found: {header})")

    def rows() -> Iterator[RawRow]:
        for i, record in enumerate(table.to_pylist(), start=1):
            cells = ["" if v is None else str(v) for v in record.values()]
            text = json.dumps(record, ensure_ascii=False, default=str)
            yield RawRow(i, text, cells)

    return ParsedFile("parquet", header, rows(), hashlib.sha256(data).hexdigest())


# --- field parsers --------------------------------------------------------------------------

_DATE_PATTERNS = [
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
]
_TRUE = {"1", "true", "t", "yes", "y", "是", "有"}
_FALSE = {"0", "false", "f", "no", "n", "否", "无"}
_SEX = {"m": "M", "male": "M", "男": "M", "1": "M", "f": "F", "female": "F", "女": "F", "2": "F"}
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{9,11}$")


def parse_date(value: str) -> date:
    """Parse the date formats departments use; raise ValueError for unreadable or impossible."""
    value = unicodedata.normalize("NFKC", value).strip()
    for pattern in _DATE_PATTERNS:
        match = pattern.match(value)
        if match:
            year, month, day = (int(g) for g in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                raise ValueError(f"impossible date {value!r}") from None
    raise ValueError(f"unreadable date {value!r}")


def normalise_phone(value: str) -> tuple[str, bool]:
    """Digits only, without +86/0086; second value says whether it looks like a real number."""
    digits = re.sub(r"[\s\-()（）]", "", unicodedata.normalize("NFKC", value))
    if digits.startswith("+"):
        digits = digits[1:]
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    ok = digits.isdigit() and bool(_MOBILE.match(digits) or _LANDLINE.match(digits))
    return digits, ok


def normalise_name(value: str) -> str:
    """NFKC (full-width to half-width), trimmed, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", value).split())


def _problem(code: str, message: str, column: str | None = None) -> dict[str, str]:
    item = {"code": code, "message": message}
    if column:
        item["column"] = column
    return item


def _id_facts(id_number: str) -> tuple[date | None, str | None]:
    """Birth date and sex implied by a valid 18-digit ID number."""
    try:
        born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None, None
    return born, "M" if int(id_number[16]) % 2 == 1 else "F"


def _check_id(value: str, out: RowResult) -> None:
    raw = unicodedata.normalize("NFKC", value).strip().upper().replace(" ", "")
    if len(raw) == 15 and raw.isdigit():
        out.flags.append(_problem("id_legacy15", "15-digit legacy ID converted to 18", "id_number"))
        raw = upgrade_15_to_18(raw)
    if len(raw) == 18 and re.match(r"^\d{17}[\dX]$", raw):
        out.canonical["id_number"] = raw
        if is_valid_id(raw):
            out.canonical["id_valid"] = True
        else:
            out.flags.append(
                _problem("id_checksum", "ID number fails the GB 11643 check", "id_number")
            )
    else:
        out.canonical["id_number"] = raw
        out.flags.append(_problem("id_malformed", "ID number is not 15 or 18 digits", "id_number"))


def _parse_value(col: Column, value: str) -> Any:
    """Parse one non-identity value by its column kind; raise ValueError if it cannot be read."""
    value = unicodedata.normalize("NFKC", value).strip()
    if col.kind == "date":
        return parse_date(value).isoformat()
    if col.kind == "int":
        if not re.match(r"^-?\d+(\.0+)?$", value):
            raise ValueError(f"not a whole number: {value!r}")
        number: float = int(float(value))
    elif col.kind == "float":
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"not a number: {value!r}") from None
    elif col.kind == "bool":
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"not a yes/no value: {value!r}")
    elif col.kind == "enum":
        if value not in col.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(col.choices)}")
        return value
    elif col.kind == "codes":
        return sorted({c.strip() for c in re.split(r"[;,；，|]", value) if c.strip()})
    elif col.kind == "region":
        if not re.match(r"^\d{6}(\d{3}){0,2}$", value):
            raise ValueError(f"not a region code: {value!r}")
        return value
    else:
        return value
    if col.min_value is not None and number < col.min_value:
        raise ValueError(f"{number} is below the possible minimum {col.min_value}")
    if col.max_value is not None and number > col.max_value:
        raise ValueError(f"{number} is above the possible maximum {col.max_value}")
    return number


def validate_row(
    schema: SourceSchema, header: list[str], row: RawRow, today: date | None = None
) -> RowResult:
    """Check one row against its source schema; never raises for bad data."""
    out = RowResult(None, {"id_valid": False}, {}, {}, [], list(row.problems))
    if row.cells is None:
        return out
    if len(row.cells) != len(header):
        out.errors.append(
            _problem("column_count", f"expected {len(header)} columns, found {len(row.cells)}")
        )
        return out
    cells = dict(zip(header, row.cells, strict=True))
    if (
        row.cells[0].strip().lower() == header[0]
        and [c.strip().lower() for c in row.cells] == header
    ):
        out.errors.append(_problem("repeated_header", "the header line appears again"))
        return out
    record_id = cells.get("record_id", "").strip()
    if not record_id:
        out.errors.append(_problem("missing_record_id", "record_id is empty", "record_id"))
    out.record_id = record_id or None
    today = today or date.today()
    for name, value in cells.items():
        if name == "record_id":
            continue
        value = value.strip()
        col = schema.column(name)
        if not value:
            continue
        if col is None:
            out.attributes[name] = value
            continue
        if name == "name":
            out.canonical["name"] = normalise_name(value)
        elif name == "address":
            out.canonical["address"] = normalise_name(value)
        elif col.kind == "id_number":
            _check_id(value, out)
        elif col.kind == "sex":
            sex = _SEX.get(value.lower())
            if sex is None:
                out.flags.append(_problem("sex_unknown", f"unknown sex {value!r}", name))
            out.canonical["sex"] = sex
        elif col.kind == "phone":
            phone, ok = normalise_phone(value)
            out.canonical["phone"] = phone
            if not ok:
                out.flags.append(_problem("phone_malformed", "not a valid phone number", name))
        elif name == "birth_date":
            try:
                born = parse_date(value)
            except ValueError as exc:
                out.errors.append(_problem("bad_date", str(exc), name))
                continue
            if born > today:
                out.errors.append(_problem("bad_date", f"birth date {born} is in the future", name))
                continue
            out.canonical["birth_date"] = born
        elif name == "community_code":
            try:
                out.canonical["community_code"] = _parse_value(col, value)
            except ValueError as exc:
                out.errors.append(_problem("bad_value", str(exc), name))
        else:
            try:
                parsed = _parse_value(col, value)
            except ValueError as exc:
                code = "bad_date" if col.kind == "date" else "bad_value"
                out.errors.append(_problem(code, str(exc), name))
                continue
            (out.sensitive if col.sensitive else out.attributes)[name] = parsed
    _cross_check(out)
    return out


def _cross_check(out: RowResult) -> None:
    """Flag a valid ID whose implied birth date or sex disagrees with the record's."""
    id_number = out.canonical.get("id_number")
    if not id_number or not out.canonical.get("id_valid"):
        return
    born, sex = _id_facts(id_number)
    if born and out.canonical.get("birth_date") and born != out.canonical["birth_date"]:
        out.flags.append(_problem("id_birth_mismatch", "birth date differs from the ID's"))
    if sex and out.canonical.get("sex") and sex != out.canonical["sex"]:
        out.flags.append(_problem("id_sex_mismatch", "sex differs from the ID's"))


def row_hash(text: str) -> str:
    """Content hash of a row's exact text: re-ingesting an unchanged row adds nothing."""
    return hashlib.sha256(text.encode("utf-8", errors="surrogateescape")).hexdigest()
