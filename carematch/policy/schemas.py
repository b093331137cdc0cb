"""API shapes of the policy domain."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field


class BenefitPublic(BaseModel):
    kind: str
    rate: float | None = None
    amount: float | None = None
    cap: float | None = None
    quantity: int | None = None


class ServicePublic(BaseModel):
    code: str
    name: str
    name_en: str


class PolicyVerdictPublic(BaseModel):
    """One policy for one person: whether it applies, why, and the services to book."""

    id: str
    title: str
    title_en: str
    department: str
    eligible: bool
    because: dict[str, Any] = Field(
        description="the feature values (and has() tests) that decided the verdict"
    )
    eligibility: str = Field(description="the eligibility rule's text")
    benefit: BenefitPublic
    services: list[ServicePublic]


class PersonPoliciesPublic(BaseModel):
    person_id: str
    as_of: date
    eligible: list[str] = Field(description="ids of the policies that apply, sorted")
    policies: list[PolicyVerdictPublic] = Field(description="every policy, eligible ones first")
