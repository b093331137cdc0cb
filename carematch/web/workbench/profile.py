"""How the workbench shows a person's needs: tags with the facts behind them, and demands.

Plain values in, plain values out (the translations come from the catalogue), so what a
clinician reads is decided here and tested without a browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from carematch.profiling.service import PersonProfile
from carematch.profiling.tags import TagLibrary, feature_dictionary
from carematch.web import i18n
from carematch.web.i18n import N_

FEATURE_LABELS = {
    "age": N_("Age"),
    "sex": N_("Sex"),
    "hukou": N_("Household registration"),
    "origin_province": N_("Province of origin"),
    "residence_months": N_("Months living here"),
    "has_residence_permit": N_("Residence permit"),
    "moves_12m": N_("Moves in the last 12 months"),
    "occupation": N_("Occupation"),
    "insurance": N_("Medical insurance"),
    "insured_locally": N_("Insured in this city"),
    "household_status": N_("Household status"),
    "oop_12m": N_("Household out-of-pocket, 12 months (yuan)"),
    "income_12m": N_("Household income, 12 months (yuan)"),
    "is_pregnant": N_("Pregnant"),
    "disability_level": N_("Disability level"),
    "lives_alone": N_("Lives alone"),
    "signed_family_doctor": N_("Signed with a family doctor"),
    "community": N_("Community"),
    "last_followup": N_("Last chronic follow-up"),
    "ever_followed_up": N_("Ever followed up"),
    "sbp": N_("Systolic blood pressure"),
    "dbp": N_("Diastolic blood pressure"),
    "glucose": N_("Fasting glucose (mmol/L)"),
    "phq9": N_("PHQ-9 score"),
    "gad7": N_("GAD-7 score"),
    "doses_overdue": N_("Vaccine doses overdue"),
    "immunization_record": N_("Immunization record"),
}
VALUE_LABELS = {
    "M": N_("Male"),
    "F": N_("Female"),
    "local": N_("Local"),
    "migrant": N_("Migrant"),
    "employee": N_("Employee scheme"),
    "resident": N_("Resident scheme"),
    "none": N_("Uninsured"),
    "construction": N_("Construction"),
    "manufacturing": N_("Manufacturing"),
    "delivery": N_("Delivery"),
    "ride_hailing": N_("Ride-hailing"),
    "food_service": N_("Food service"),
    "domestic": N_("Domestic work"),
    "agriculture": N_("Agriculture"),
    "office": N_("Office work"),
    "student": N_("Student"),
    "child": N_("Child"),
    "retired": N_("Retired"),
    "unemployed": N_("Unemployed"),
    "other": N_("Other"),
    "extreme_hardship": N_("Extreme hardship"),
    "min_allowance": N_("Minimum living allowance"),
    "lifted": N_("Lifted out of poverty"),
    "monitored": N_("Monitored household"),
    "marginal": N_("Marginal household"),
    "general": N_("General"),
}
PRIORITY_LABELS = {1: N_("Urgent"), 2: N_("Soon"), 3: N_("Routine")}
_HAS = re.compile(r"^has\('([a-z0-9_]+)'\)$")


@dataclass
class Fact:
    """One fact behind a tag, in the page's language."""

    label: str
    value: str


@dataclass
class TagView:
    """A tag as the workbench shows it."""

    id: str
    label: str
    priority: int
    priority_label: str
    type_label: str
    level_label: str
    facts: list[Fact] = field(default_factory=list)


def _value(locale: str, value: Any) -> str:
    if value is True:
        return i18n.gettext(locale, "Yes")
    if value is False:
        return i18n.gettext(locale, "No")
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}" if not value.is_integer() else f"{value:,.0f}"
    text = str(value)
    label = VALUE_LABELS.get(text)
    return i18n.gettext(locale, label) if label else text


def facts(locale: str, because: dict[str, Any]) -> list[Fact]:
    """The facts of an explanation: features with their values, diagnoses by name."""
    conditions = feature_dictionary().conditions
    short = i18n.SHORT_CODE.get(locale, "zh")
    out = []
    for key, value in because.items():
        if match := _HAS.match(key):
            code = match.group(1)
            name = conditions.get(code, {}).get(short, code)
            label = i18n.gettext(locale, "Diagnosed" if value else "Not diagnosed")
            out.append(Fact(label, name))
            continue
        known = FEATURE_LABELS.get(key)
        out.append(Fact(i18n.gettext(locale, known) if known else key, _value(locale, value)))
    return out


def tag_views(locale: str, profile: PersonProfile, library: TagLibrary) -> list[TagView]:
    """The person's tags, most urgent first, each with the facts that made it true."""
    short = i18n.SHORT_CODE.get(locale, "zh")
    views = []
    for tag in profile.tags:
        views.append(
            TagView(
                id=tag["tag"],
                label=tag["label"] if short == "zh" else tag["label_en"],
                priority=tag["priority"],
                priority_label=i18n.gettext(locale, PRIORITY_LABELS[tag["priority"]]),
                type_label=library.types.get(tag["type"], {}).get(short, tag["type"]),
                level_label=library.levels.get(tag["level"], {}).get(short, tag["level"]),
                facts=facts(locale, tag["because"]),
            )
        )
    return views
