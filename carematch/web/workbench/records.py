"""How the workbench shows source records: labels in the page's language, fields compared.

``record_view`` and ``compare`` take plain values (the region names come in as a function),
so what a reviewer sees is decided here and tested without a browser.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from carematch.core.models import Region
from carematch.identity.models import SourceRecord
from carematch.identity.sources import SOURCES
from carematch.web import i18n
from carematch.web.i18n import N_

# The fields a reviewer compares, in the order the pages show them.
FIELD_LABELS = {
    "source": N_("Source"),
    "record_id": N_("Record id"),
    "name": N_("Name"),
    "id_number": N_("ID number"),
    "sex": N_("Sex"),
    "birth_date": N_("Birth date"),
    "phone": N_("Phone"),
    "address": N_("Address"),
    "community": N_("Community"),
    "flags": N_("Flags"),
}
# Fields whose disagreement is evidence: the source and its record id always differ.
COMPARED = ("name", "id_number", "sex", "birth_date", "phone", "address", "community")

SEX_LABELS = {"M": N_("Male"), "F": N_("Female")}

# The soft problems ingest flags on a record (carematch.identity.ingest).
FLAG_LABELS = {
    "id_legacy15": N_("15-digit legacy ID converted to 18"),
    "id_checksum": N_("ID number fails the check digit"),
    "id_malformed": N_("ID number is not 15 or 18 digits"),
    "sex_unknown": N_("Unknown sex"),
    "phone_malformed": N_("Not a valid phone number"),
    "id_birth_mismatch": N_("Birth date differs from the ID's"),
    "id_sex_mismatch": N_("Sex differs from the ID's"),
}

RegionName = Callable[[str], str]


@dataclass
class RecordView:
    """One source record as a page shows it: every value already a display string."""

    pk: str
    source: str
    values: dict[str, str]
    id_valid: bool
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FieldRow:
    """One line of a side-by-side comparison: ``state`` is same, differs or missing."""

    key: str
    label: str
    left: str
    right: str
    state: str


def region_namer(session: Session, locale: str) -> RegionName:
    """A look-up of region names in the page's language, each code read once per page."""
    names: dict[str, str] = {}

    def name(code: str) -> str:
        if code not in names:
            found = session.get(Region, code)
            names[code] = i18n.localized_name(found.name, found.name_en, locale) if found else code
        return names[code]

    return name


def source_label(source: str, locale: str) -> str:
    """A department's name in the page's language (the code itself for an unknown one)."""
    schema = SOURCES.get(source)
    if schema is None:
        return source
    return schema.label_en if locale == "en" else schema.label


def _text(value: str | date | None) -> str:
    if value is None or value == "":
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def record_view(record: SourceRecord, locale: str, region_name: RegionName) -> RecordView:
    """A source record with its source, sex, community and flags put into words."""
    flags: list[dict[str, Any]] = json.loads(record.flags or "[]")
    sex = SEX_LABELS.get(record.sex or "")
    values = {
        "source": source_label(record.source, locale),
        "record_id": record.record_id,
        "name": _text(record.name),
        "id_number": _text(record.id_number),
        "sex": i18n.gettext(locale, sex) if sex else _text(record.sex),
        "birth_date": _text(record.birth_date),
        "phone": _text(record.phone),
        "address": _text(record.address),
        "community": region_name(record.community_code) if record.community_code else "",
    }
    return RecordView(
        pk=record.id,
        source=record.source,
        values=values,
        id_valid=record.id_valid,
        flags=[
            i18n.gettext(locale, FLAG_LABELS[f["code"]])
            if f.get("code") in FLAG_LABELS
            else str(f.get("message") or f.get("code") or "")
            for f in flags
        ],
    )


def compare(left: RecordView, right: RecordView, locale: str) -> list[FieldRow]:
    """The two records field by field, marking where they disagree or one side is empty."""
    rows = []
    for key, label in FIELD_LABELS.items():
        if key == "flags":
            a, b = "; ".join(left.flags), "; ".join(right.flags)
        else:
            a, b = left.values[key], right.values[key]
        if key not in COMPARED:
            state = "same"
        elif not a or not b:
            state = "missing" if (a or b) else "same"
        else:
            state = "same" if a == b else "differs"
        rows.append(FieldRow(key, i18n.gettext(locale, label), a, b, state))
    return rows
