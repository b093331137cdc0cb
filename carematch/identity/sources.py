"""The departmental sources and the schema each extract must follow.

Pure data: no database. Each column has a kind that says how it is parsed and checked; a
column is ``sensitive`` when it is health or welfare information that must be encrypted at rest.
See docs/data-dictionary.md for the meaning of every column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

IDENTITY_COLUMNS = ("name", "id_number", "sex", "birth_date", "phone", "address")


@dataclass(frozen=True)
class Column:
    """One column of a source extract.

    kind: text | id_number | sex | date | phone | region | int | float | bool | enum | codes
    """

    name: str
    kind: str = "text"
    sensitive: bool = False
    choices: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class SourceSchema:
    """A department's extract: its name, labels, trust rank and columns besides record_id."""

    name: str
    label: str
    label_en: str
    trust: int
    columns: tuple[Column, ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column | None:
        """The column called ``name``, or None when the source does not define it."""
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Column]:
        return {col.name: col for col in self.columns}


_IDENTITY = (
    Column("name", "text"),
    Column("id_number", "id_number"),
    Column("sex", "sex"),
    Column("birth_date", "date"),
    Column("phone", "phone"),
    Column("address", "text"),
)
_COMMUNITY = Column("community_code", "region")
_OCCUPATIONS = (
    "construction",
    "manufacturing",
    "delivery",
    "ride_hailing",
    "food_service",
    "domestic",
    "agriculture",
    "office",
    "student",
    "child",
    "retired",
    "unemployed",
    "other",
)
_INSURANCE = ("employee", "resident", "none")
_HOUSEHOLD = ("extreme_hardship", "min_allowance", "lifted", "monitored", "marginal", "general")

SOURCES: dict[str, SourceSchema] = {
    s.name: s
    for s in (
        SourceSchema(
            "police",
            "公安人口登记",
            "Police residence registration",
            10,
            (
                *_IDENTITY,
                _COMMUNITY,
                Column("hukou", "enum", choices=("local", "migrant")),
                Column("origin_province", "text"),
                Column("arrival_date", "date"),
                Column("has_residence_permit", "bool"),
                Column("occupation", "enum", choices=_OCCUPATIONS),
                Column("moves_12m", "int", min_value=0, max_value=52),
            ),
        ),
        SourceSchema(
            "ehr",
            "电子健康档案",
            "Electronic health records",
            20,
            (
                *_IDENTITY,
                _COMMUNITY,
                Column("conditions", "codes", sensitive=True),
                Column("sbp", "int", sensitive=True, min_value=40, max_value=300),
                Column("dbp", "int", sensitive=True, min_value=20, max_value=200),
                Column("glucose", "float", sensitive=True, min_value=0.5, max_value=50),
                Column("last_visit_date", "date"),
                Column("last_followup_date", "date"),
                Column("signed_family_doctor", "bool"),
                Column("is_pregnant", "bool", sensitive=True),
                Column("disability_level", "int", sensitive=True, min_value=0, max_value=4),
                Column("lives_alone", "bool"),
            ),
        ),
        SourceSchema(
            "insurance",
            "医保结算",
            "Medical insurance settlements",
            30,
            (
                *_IDENTITY[:5],
                Column("settlement_date", "date"),
                Column("facility", "text"),
                Column("facility_code", "text"),
                Column("visit_type", "text"),
                Column("diagnosis", "text", sensitive=True),
                Column("insurance_type", "enum", choices=_INSURANCE),
                Column("insured_locally", "bool"),
                Column("insured_province", "text"),
                Column("total_cost", "float", sensitive=True, min_value=0),
                Column("reimbursed", "float", sensitive=True, min_value=0),
                Column("out_of_pocket", "float", sensitive=True, min_value=0),
            ),
        ),
        SourceSchema(
            "social_security",
            "人社参保",
            "Human resources and social security",
            40,
            (
                *_IDENTITY,
                Column("employer", "text"),
                Column("occupation", "enum", choices=_OCCUPATIONS),
                Column("insurance_type", "enum", choices=_INSURANCE),
            ),
        ),
        SourceSchema(
            "immunization",
            "免疫规划信息系统",
            "Immunization registry",
            25,
            (
                *_IDENTITY,
                _COMMUNITY,
                Column("guardian_name", "text", sensitive=True),
                Column("doses", "text", sensitive=True),
            ),
        ),
        SourceSchema(
            "poverty",
            "民政/乡村振兴登记",
            "Poverty and civil-affairs registry",
            15,
            (
                *_IDENTITY,
                _COMMUNITY,
                Column("household_id", "text"),
                Column("household_status", "enum", sensitive=True, choices=_HOUSEHOLD),
                Column("income_12m", "float", sensitive=True, min_value=0),
            ),
        ),
        SourceSchema(
            "survey",
            "网格/问卷调查",
            "Grid and online surveys",
            60,
            (
                *_IDENTITY,
                _COMMUNITY,
                Column("survey_date", "date"),
                Column("phq9", "int", sensitive=True, min_value=0, max_value=27),
                Column("gad7", "int", sensitive=True, min_value=0, max_value=21),
                Column("needs", "text", sensitive=True),
                Column("community_activity", "bool"),
                Column("health_literacy", "bool"),
            ),
        ),
    )
}


def get_source(name: str) -> SourceSchema:
    """The schema of a known source; raises KeyError with the list of known ones."""
    try:
        return SOURCES[name]
    except KeyError:
        known = ", ".join(sorted(SOURCES))
        raise KeyError(f"unknown source {name!r}; known sources: {known}") from None
