"""Consent: recording, revoking and the one rule that says whether a consent covers a transfer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.security.consent import (
    CROSS_REGION_CONTINUITY,
    ConsentAlreadyRevoked,
    ConsentNotFound,
    InvalidConsent,
    as_utc,
    covering_consent,
    get_consent,
    person_consents,
    record_consent,
    revoke_consent,
    why_not_covered,
)
from carematch.security.models import AuditEntry

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PERSON = "P-consent-test"


@dataclass(frozen=True)
class Terms:
    purpose: str = CROSS_REGION_CONTINUITY
    status: str = "active"
    grantee_region: str = "440100"
    period_start: datetime = NOW - timedelta(days=10)
    period_end: datetime = NOW + timedelta(days=10)


def grant(session, region: str = "440100", **kw) -> str:
    kw.setdefault("period_start", NOW - timedelta(days=10))
    kw.setdefault("period_end", NOW + timedelta(days=10))
    consent = record_consent(
        session, PERSON, purpose=CROSS_REGION_CONTINUITY, grantee_region=region, **kw
    )
    return consent.id


# --- the rule (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "covered"),
    [
        ("440100", True),  # the grantee itself
        ("440106", True),  # a district inside the city
        ("440106001001", True),  # a community inside it
        ("440000", False),  # the province is wider than the grantee
        ("440200", False),  # a sibling city
        ("450100", False),  # another province
    ],
)
def test_a_consent_covers_its_grantee_region_and_everything_inside(region, covered):
    why = why_not_covered(Terms(), purpose=CROSS_REGION_CONTINUITY, region=region, at=NOW)
    assert (why is None) == covered


def test_a_province_grantee_covers_every_city_of_the_province():
    terms = Terms(grantee_region="440000")
    assert why_not_covered(terms, purpose=CROSS_REGION_CONTINUITY, region="440106", at=NOW) is None


@pytest.mark.parametrize(
    ("terms", "at", "reason"),
    [
        (Terms(status="revoked"), NOW, "revoked"),
        (Terms(purpose="research"), NOW, "for 'research'"),
        (Terms(), NOW - timedelta(days=11), "starts on"),
        (Terms(), NOW + timedelta(days=11), "ended on"),
    ],
)
def test_the_rule_names_why_a_consent_does_not_cover(terms, at, reason):
    why = why_not_covered(terms, purpose=CROSS_REGION_CONTINUITY, region="440106", at=at)
    assert why is not None and reason in why


def test_the_period_bounds_are_inclusive_and_naive_times_are_utc():
    naive_end = datetime(2026, 6, 11, 12, 0)  # as SQLite hands stored datetimes back
    terms = Terms(period_end=naive_end)
    at_end = datetime(2026, 6, 11, 12, 0, tzinfo=UTC)
    assert why_not_covered(terms, purpose=CROSS_REGION_CONTINUITY, region=None, at=at_end) is None
    just_after = at_end + timedelta(microseconds=1)
    assert why_not_covered(terms, purpose=CROSS_REGION_CONTINUITY, region=None, at=just_after)
    # Eight in the evening in Beijing is noon UTC.
    assert as_utc(datetime.fromisoformat("2026-06-01T20:00:00+08:00")) == NOW
    assert as_utc(datetime(2026, 6, 1, 12, 0)) == NOW


# --- recording and revoking (SQLite and PostgreSQL) -------------------------------------


def test_a_recorded_consent_reads_back_exactly_and_is_audited(session):
    end = datetime(2027, 1, 31, 23, 59, 59, 123456, tzinfo=UTC)
    consent_id = grant(
        session, "440100", period_end=end, grantee_organization="  广州市第一人民医院 ", actor="d1"
    )
    session.commit()

    with session_scope() as fresh:
        consent = get_consent(fresh, consent_id)
        assert as_utc(consent.period_end) == end
        assert (consent.status, consent.recorded_by) == ("active", "d1")
        assert consent.grantee_organization == "广州市第一人民医院"
        entry = fresh.scalars(select(AuditEntry).where(AuditEntry.entity_id == consent_id)).one()
    assert entry.action == "record_consent"
    assert json.loads(entry.detail)["grantee_region"] == "440100"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"purpose": "marketing"}, "unknown purpose"),
        ({"grantee_region": "44"}, "region code"),
        ({"grantee_region": "4401xx"}, "region code"),
        ({"period_end": NOW - timedelta(days=20)}, "after period_start"),
    ],
)
def test_an_invalid_consent_is_refused(session, changes, message):
    values = {
        "purpose": CROSS_REGION_CONTINUITY,
        "grantee_region": "440100",
        "period_start": NOW - timedelta(days=10),
        "period_end": NOW + timedelta(days=10),
    } | changes
    with pytest.raises(InvalidConsent, match=message):
        record_consent(session, PERSON, **values)


def test_covering_consent_finds_the_one_that_applies(session):
    assert (
        covering_consent(session, PERSON, purpose=CROSS_REGION_CONTINUITY, region="440106", at=NOW)
        is None
    )
    short = grant(session, "440100", period_end=NOW + timedelta(days=5))
    long = grant(session, "440000", period_end=NOW + timedelta(days=50))
    grant(session, "450100", period_end=NOW + timedelta(days=500))
    session.flush()

    def covering(region: str, at: datetime = NOW) -> str | None:
        found = covering_consent(
            session, PERSON, purpose=CROSS_REGION_CONTINUITY, region=region, at=at
        )
        return found.id if found else None

    assert covering("440106") == long, "the consent that stays valid longest wins"
    assert covering("440106", NOW + timedelta(days=20)) == long
    assert covering("440300") == long
    assert covering("460100") is None
    revoke_consent(session, long, actor="d1")
    assert covering("440106") == short
    assert covering("440300") is None
    assert covering("440106", NOW + timedelta(days=20)) is None


def test_revoking_keeps_the_row_and_a_second_revoke_conflicts(session):
    consent_id = grant(session)
    revoked = revoke_consent(session, consent_id, actor="d2", reason=" moved back home ")
    assert (revoked.status, revoked.revoked_by) == ("revoked", "d2")
    assert revoked.revocation_reason == "moved back home"
    assert revoked.revoked_at is not None
    with pytest.raises(ConsentAlreadyRevoked):
        revoke_consent(session, consent_id, actor="d2")
    with pytest.raises(ConsentNotFound):
        revoke_consent(session, "no-such-consent")
    assert [c.id for c in person_consents(session, PERSON)] == [consent_id]
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.entity_id == consent_id).order_by(AuditEntry.seq)
    ).all()
    assert actions == ["record_consent", "revoke_consent"]
