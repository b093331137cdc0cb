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


class PolicySearchHitPublic(BaseModel):
    """One policy answering a question, with the clause that answers best."""

    id: str
    title: str
    department: str
    score: float
    clause: str
    eligible: bool | None = Field(None, description="for a known asker: whether it applies")
    why: dict[str, Any] | None = Field(
        None, description="for a known asker: the rule and the facts that decided it"
    )
    services: list[ServicePublic]


class PolicySearchPublic(BaseModel):
    q: str
    person_id: str | None = Field(None, description="the asker whose eligibility ranked it")
    results: list[PolicySearchHitPublic] = Field(description="best first")


class PolicyCasePublic(BaseModel):
    """A case of how policies were carried out; score/field/passage when it answers a question."""

    id: str
    title: str
    community: str
    year: int | None
    policies: list[str]
    background: str
    problem: str
    measures: list[str]
    result: str
    score: float | None = None
    field: str | None = None
    passage: str | None = None
