"""Normalising identity fields for linkage: names to pinyin, ID numbers, dates, phones, addresses.

Pure functions over plain values, plus :func:`prepare_frame`, which turns a table of canonical
columns (``name, id_number, sex, birth_date, phone, address``) into the comparison columns the
linkage model reads. Repeated values are converted once (names and addresses repeat a lot).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

import pandas as pd
from pypinyin import Style, lazy_pinyin

from carematch.identity.ingest import normalise_phone, parse_date
from carematch.synth.idcard import is_valid_id, upgrade_15_to_18

# Two-character surnames (复姓) that must not be split after the first character.
COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "令狐",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "东郭",
        "百里",
        "呼延",
        "澹台",
        "公冶",
        "宗政",
        "濮阳",
        "太史",
        "申屠",
        "轩辕",
        "钟离",
        "闻人",
    ]
)
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LETTERS = re.compile(r"[^a-z]")

_ADDRESS_PREFIX = re.compile(r"^(?:\S{2,3}?省)?(?:\S{2,3}?市)?")
_DISTRICT = re.compile(r"^(\S{1,4}?(?:区|县))")
_STREET = re.compile(r"^(\S{1,6}?(?:街道|镇|乡))")
_ROAD_NO = re.compile(r"^(.+?\d+号)")
_BUILDING_ROOM = re.compile(r"^(\d+)(?:栋|幢|座|-)(\d+)(?:室|房)?$")
_ROOM = re.compile(r"^(\d+)(?:室|房)?$")


@lru_cache(maxsize=500_000)
def name_parts(name: str | None) -> tuple[str | None, str | None, str | None]:
    """(pinyin of the whole name, pinyin of the surname, pinyin with tokens sorted).

    A name in characters (张伟) and the same name in letters (ZHANG Wei, Wei Zhang) give the
    same first or third value, so systems that store pinyin still link. Homophones (伟/玮)
    share their pinyin.
    """
    if not name:
        return None, None, None
    text = unicodedata.normalize("NFKC", name).strip()
    if not text:
        return None, None, None
    if _HAN.search(text):
        han = "".join(_HAN.findall(text))
        surname_len = 2 if han[:2] in COMPOUND_SURNAMES else 1
        surname = "".join(lazy_pinyin(han[:surname_len], style=Style.NORMAL))
        given = "".join(lazy_pinyin(han[surname_len:], style=Style.NORMAL))
        tokens = [surname, given]
    else:
        tokens = [t for t in (_LETTERS.sub("", w) for w in text.lower().split()) if t]
        if not tokens:
            return None, None, None
        surname = tokens[0]
    full = "".join(tokens)
    return full or None, surname or None, "".join(sorted(tokens)) or None


@lru_cache(maxsize=500_000)
def name_tokens(name: str | None) -> tuple[str | None, str | None]:
    """(first, last) name token in pinyin: surname and given name for a Chinese name."""
    if not name:
        return None, None
    text = unicodedata.normalize("NFKC", name).strip()
    if _HAN.search(text):
        han = "".join(_HAN.findall(text))
        cut = 2 if han[:2] in COMPOUND_SURNAMES else 1
        first = "".join(lazy_pinyin(han[:cut], style=Style.NORMAL)) or None
        last = "".join(lazy_pinyin(han[cut:], style=Style.NORMAL)) or None
        return first, last
    tokens = [t for t in (_LETTERS.sub("", w) for w in text.lower().split()) if t]
    if not tokens:
        return None, None
    return tokens[0], tokens[-1] if len(tokens) > 1 else None


@lru_cache(maxsize=500_000)
def id_parts(value: str | None) -> tuple[str | None, bool, str | None, str | None]:
    """(normalised ID, valid per GB 11643, birth date implied, sex implied)."""
    if not value:
        return None, False, None, None
    raw = unicodedata.normalize("NFKC", value).strip().upper().replace(" ", "")
    if not raw:
        return None, False, None, None
    if len(raw) == 15 and raw.isdigit():
        raw = upgrade_15_to_18(raw)
    if len(raw) == 18 and is_valid_id(raw):
        born = f"{raw[6:10]}-{raw[10:12]}-{raw[12:14]}"
        return raw, True, born, "M" if int(raw[16]) % 2 else "F"
    return raw, False, None, None


@lru_cache(maxsize=200_000)
def birth_iso(value: str | None) -> str | None:
    """ISO date from any of the accepted formats, or None."""
    if not value:
        return None
    try:
        return parse_date(str(value)).isoformat()
    except ValueError:
        return None


@lru_cache(maxsize=500_000)
def phone_digits(value: str | None) -> str | None:
    if not value:
        return None
    digits, _ = normalise_phone(str(value))
    return digits or None


@lru_cache(maxsize=500_000)
def address_parts(value: str | None) -> tuple[str | None, str | None, str | None, str | None]:
    """(district, road and number, building, room) of a Chinese address, each may be None.

    Province and city are dropped; the street (街道/镇) is skipped because abbreviated
    addresses omit it. Non-Chinese addresses keep their normalised text as "road".
    """
    if not value:
        return None, None, None, None
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value)))
    if not _HAN.search(text):
        latin = " ".join(str(value).lower().split())
        return None, latin or None, None, None
    text = _ADDRESS_PREFIX.sub("", text, count=1)
    district: str | None = None
    if m := _DISTRICT.match(text):
        district, text = m.group(1), text[m.end() :]
    if m := _STREET.match(text):
        text = text[m.end() :]
    road: str | None = None
    building: str | None = None
    room: str | None = None
    if m := _ROAD_NO.match(text):
        road, text = m.group(1), text[m.end() :]
    if m := _BUILDING_ROOM.match(text):
        building, room = m.group(1), m.group(2)
    elif m := _ROOM.match(text):
        room = m.group(1)
    elif text:
        road = (road or "") + text
    return district, road, building, room


def address_tokens(
    district: str | None, road: str | None, building: str | None, room: str | None
) -> list[str] | None:
    """The words an address is made of, for partial agreement (shared words).

    A Latin address is split on spaces (street number, street, locality, postcode and state
    survive a dropped or misspelt word); a Chinese one is its parsed parts, each tagged so
    that a building number never meets a room number.
    """
    if road is None:
        return None
    if district is None and building is None and room is None:
        return sorted(set(road.split()))
    parts = zip("drbu", (district, road, building, room), strict=True)
    return sorted(f"{tag}:{part}" for tag, part in parts if part)


def _days(iso: str | None) -> int | None:
    if not iso:
        return None
    return date.fromisoformat(iso).toordinal()


SEX = {"M": "M", "F": "F", "男": "M", "女": "F", "m": "M", "f": "F", "1": "M", "2": "F"}
CANONICAL = ("name", "id_number", "sex", "birth_date", "phone", "address")


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # NaN
        return None
    text = str(value)
    return text if text.strip() else None


def prepare_record(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Comparison columns of one canonical record: the single definition, batch and online.

    ``values`` holds ``record_id`` and any of name, id_number, sex, birth_date, phone, address.
    """
    record_id = str(values["record_id"])
    name = _text(values.get("name"))
    name_py, surname_py, name_sorted = name_parts(name)
    name_first, name_last = name_tokens(name)
    id18, id_valid, id_birth, id_sex = id_parts(_text(values.get("id_number")))
    dob = birth_iso(_text(values.get("birth_date"))) or id_birth
    sex_text = _text(values.get("sex"))
    sex = SEX.get(sex_text.strip()) if sex_text else None
    phone = phone_digits(_text(values.get("phone")))
    district, road, building, room = address_parts(_text(values.get("address")))
    half = len(id18) // 2 if id18 else 0
    return {
        "source_dataset": source,
        "record_id": record_id,
        "unique_id": source + "\x1f" + record_id,
        "name_py": name_py,
        "surname_py": surname_py,
        "name_sorted": name_sorted,
        "name_first": name_first,
        "name_last": name_last,
        "id18": id18,
        "id_valid": id_valid,
        # Halves of the ID survive a typo in the other half: blocking keys, not evidence.
        "id_head": id18[:half] if id18 and len(id18) >= 6 else None,
        "id_tail": id18[half:] if id18 and len(id18) >= 6 else None,
        "dob": dob,
        "dob_days": _days(dob),
        "sex": sex or id_sex,
        "phone": phone,
        "phone8": phone[-8:] if phone and len(phone) >= 8 else None,
        "district": district,
        "road": road,
        "road_head": road[:8] if road else None,
        # Word order differs between systems ("kingham place killarney" / "killarney kingham").
        "road_tokens": " ".join(sorted(road.split())) if road else None,
        "building": building,
        "room": room,
        "address_tokens": address_tokens(district, road, building, room),
        "address_key": "|".join(p or "" for p in (district, road, building, room))
        if road
        else None,
        "identifying": any(v is not None for v in (name_py, id18, phone, road)),
    }


def prepare_frame(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Comparison columns for one source's canonical table (``record_id`` required)."""
    if "record_id" not in frame.columns:
        raise ValueError(f"{source}: the input has no record_id column")
    columns = ["record_id", *(c for c in CANONICAL if c in frame.columns)]
    rows = [
        prepare_record(dict(zip(columns, values, strict=True)), source)
        for values in frame[columns].itertuples(index=False, name=None)
    ]
    if not rows:
        return pd.DataFrame(columns=list(prepare_record({"record_id": ""}, source)))
    out = pd.DataFrame(rows)
    out["dob_days"] = out["dob_days"].astype("Int64")
    return out
