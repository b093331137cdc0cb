"""Use cases of AEFI reporting (疑似预防接种异常反应报告): report, list, read, mark submitted, and
the cluster alert.

A report is made by staff of the site's jurisdiction; its deadline counts from the moment the
event was found. A serious report is checked against the site's other serious reports of its
category: a cluster is raised once (an alert to the jurisdiction's officials and vaccinators
through the outbox, keyed by cluster and user) and stretched by each further event. Two
reports made at the same moment may, rarely, each see the other missing and raise nothing; the
next similar report finds both (documented in docs, not yet locked). Services flush; the caller
commits.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from carematch.booking.reminders import when_text
from carematch.core.clock import utcnow
from carematch.core.errors import Conflict, InvalidInput, NotFound
from carematch.core.ids import new_id
from carematch.identity import service as identity
from carematch.notifications import service as notifications
from carematch.notifications.outbox import Recipient
from carematch.providers.errors import ProviderNotFound
from carematch.providers.hours import CITY_TZ
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix, within
from carematch.security.models import User
from carematch.vaccination.aefi import AefiRules, ClusterSpan, Event, decide_cluster, shipped_rules
from carematch.vaccination.safety_models import AefiCluster, AefiReport
from carematch.vaccination.service import city_schedule

ALERTED_ROLES = ("official", "vaccinator")
"""Who a cluster alert goes to: the jurisdiction's officials and vaccinators."""
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
"""No report concerns an earlier dose or onset (and date arithmetic stays in the calendar)."""
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AefiReportNotFound(NotFound):
    """No such report, or outside the caller's jurisdiction."""

    type = "/problems/aefi-report-not-found"
    title = "AEFI report not found"


class AlreadySubmitted(Conflict):
    """The report was marked submitted before."""

    type = "/problems/aefi-already-submitted"
    title = "AEFI report already submitted"


def rules() -> AefiRules:
    """This installation's AEFI rules, checked against its schedule."""
    return shipped_rules(city_schedule())


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@dataclass(frozen=True)
class ReportView:
    """A report with what is derived at reading time: overdue or not."""

    report: AefiReport
    overdue: bool


def view(report: AefiReport, now: datetime) -> ReportView:
    """A report as of ``now``: overdue when submitted after its deadline or still unsubmitted
    past it."""
    done = _utc(report.submitted_at) if report.submitted_at else _utc(now)
    return ReportView(report, done > _utc(report.deadline_at))


def _site_region(session: Session, principal: Principal, provider_id: str) -> str | None:
    from carematch.providers.service import get_provider

    provider = get_provider(session, provider_id).provider
    if not principal.can_see(provider.region_code):
        raise ProviderNotFound(f"no provider {provider_id}")
    return provider.region_code


def report_event(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    series: str,
    dose: int | None,
    lot: str | None,
    provider_id: str,
    dose_given_on: date,
    category: str,
    serious: bool,
    death: bool,
    onset_at: datetime,
    found_at: datetime,
    description: str,
    now: datetime | None = None,
) -> ReportView:
    """File an AEFI report; a serious one may raise or join a cluster.

    Raises:
        PersonNotFound, ProviderNotFound: outside the caller's jurisdiction (404).
        InvalidInput: an unknown category or series, a blank description, an event found
            before its onset or in the future (400).
    """
    now = _utc(now or utcnow())
    aefi = rules()
    if category not in aefi.categories:
        raise InvalidInput(f"category must be one of {', '.join(aefi.categories)}")
    schedule = city_schedule()
    if schedule.position(series) is None:
        raise InvalidInput(f"unknown vaccine series {series!r}")
    if not description.strip():
        raise InvalidInput("describe the event")
    onset, found = _utc(onset_at), _utc(found_at)
    if onset < EARLIEST or dose_given_on < EARLIEST.date():
        raise InvalidInput(f"dates before {EARLIEST.date().isoformat()} are not accepted")
    if found < onset:
        raise InvalidInput("an event cannot be found before its onset")
    if found > now + timedelta(minutes=5):
        raise InvalidInput("found_at lies in the future")
    person = identity.visible_person(session, principal, person_id)
    region = _site_region(session, principal, provider_id)
    serious = serious or death
    onset_day = onset.astimezone(CITY_TZ).replace(tzinfo=None)
    report = AefiReport(
        id=new_id(),
        person_id=person.id,
        series=series,
        dose=dose,
        lot=(lot or "").strip() or None,
        provider_id=provider_id,
        region_code=region,
        dose_given_on=dose_given_on,
        category=category,
        serious=serious,
        death=death,
        onset_at=onset,
        found_at=found,
        onset_in_window=aefi.onset_in_window(category, series, dose_given_on, onset_day),
        description=description.strip(),
        deadline_at=aefi.deadline(found, serious=serious, death=death, clustered=False),
        reported_by=principal.username,
        reported_at=now,
    )
    session.add(report)
    session.flush()
    if serious:
        _cluster(session, aefi, report, now)
    audit.record(
        session,
        actor=principal.username,
        action="report_aefi",
        entity="person",
        entity_id=person.id,
        detail={"aefi": report.id, "category": category, "serious": serious, "death": death},
    )
    return view(report, now)


def _serialise(session: Session, provider_id: str, category: str) -> None:
    """Hold a lock on (site, category) until the transaction ends (PostgreSQL; SQLite already
    has one writer at a time)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"aefi:{provider_id}:{category}".encode(), digest_size=8).digest()
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest, "big", signed=True)},
    )


def _cluster(session: Session, aefi: AefiRules, report: AefiReport, now: datetime) -> None:
    _serialise(session, report.provider_id, report.category)
    window = aefi.cluster_window
    onset = _utc(report.onset_at)
    spans = session.scalars(
        select(AefiCluster).where(
            AefiCluster.provider_id == report.provider_id, AefiCluster.category == report.category
        )
    ).all()
    others = session.scalars(
        select(AefiReport).where(
            AefiReport.provider_id == report.provider_id,
            AefiReport.category == report.category,
            AefiReport.serious.is_(True),
            AefiReport.id != report.id,
            AefiReport.onset_at >= onset - window,
            AefiReport.onset_at <= onset + window,
        )
    ).all()
    decision = decide_cluster(
        aefi,
        Event(report.id, report.series, report.lot, onset),
        [
            ClusterSpan(c.id, c.series, c.lot, _utc(c.first_onset_at), _utc(c.last_onset_at))
            for c in spans
        ],
        [Event(o.id, o.series, o.lot, _utc(o.onset_at), o.cluster_id) for o in others],
    )
    if decision.join is not None:
        cluster = next(c for c in spans if c.id == decision.join)
        cluster.first_onset_at = min(_utc(cluster.first_onset_at), onset)
        cluster.last_onset_at = max(_utc(cluster.last_onset_at), onset)
        cluster.events += 1
        _clustered(aefi, report, cluster)
        session.flush()
        return
    if not decision.start_with:
        return
    members = [o for o in others if o.id in decision.start_with] + [report]
    onsets = [_utc(m.onset_at) for m in members]
    cluster = AefiCluster(
        id=new_id(),
        provider_id=report.provider_id,
        region_code=report.region_code,
        category=report.category,
        series=report.series,
        lot=report.lot,
        first_onset_at=min(onsets),
        last_onset_at=max(onsets),
        events=len(members),
        raised_at=now,
    )
    session.add(cluster)
    session.flush()
    for member in members:
        _clustered(aefi, member, cluster)
    session.flush()
    _alert(session, aefi, cluster, report, now)


def _clustered(aefi: AefiRules, report: AefiReport, cluster: AefiCluster) -> None:
    report.cluster_id = cluster.id
    urgent = aefi.deadline(report.found_at, serious=True, death=report.death, clustered=True)
    report.deadline_at = min(_utc(report.deadline_at), urgent)


def alert_recipients(session: Session, region_code: str | None) -> list[str]:
    """Active officials and vaccinators whose jurisdiction holds the site."""
    rows = session.execute(
        select(User.id, User.region_code).where(User.role.in_(ALERTED_ROLES), User.active)
    ).all()
    return sorted(uid for uid, region in rows if region and within(region_code, region))


def cluster_alert_key(cluster_id: str, user_id: str) -> str:
    """The outbox key of one cluster's alert to one user: once per cluster, ever."""
    return f"aefi-cluster:{cluster_id}:{user_id}"


def _alert(
    session: Session, aefi: AefiRules, cluster: AefiCluster, report: AefiReport, now: datetime
) -> int:
    from carematch.booking.reminders import provider_name

    schedule = city_schedule()
    position = schedule.position(cluster.series)
    vaccine = schedule.series[position].name if position is not None else cluster.series
    params = {
        "site": provider_name(session, cluster.provider_id),
        "count": cluster.events,
        "category": aefi.label(cluster.category),
        "vaccine": vaccine,
        "deadline": when_text(report.deadline_at),
    }
    created = 0
    for user_id in alert_recipients(session, cluster.region_code):
        result = notifications.enqueue(
            session,
            recipient=Recipient.user(user_id),
            channel="inbox",
            template="aefi_cluster_alert",
            params=params,
            due_at=now,
            dedupe_key=cluster_alert_key(cluster.id, user_id),
        )
        created += int(result.created)
    audit.record(
        session,
        actor="system",
        action="raise_aefi_cluster",
        entity="aefi_cluster",
        entity_id=cluster.id,
        detail={"events": cluster.events, "alerted": created, "category": cluster.category},
    )
    return created


def _visible(session: Session, principal: Principal, report_id: str) -> AefiReport:
    report = session.get(AefiReport, report_id) if _ID.match(report_id) else None
    if report is None or not principal.can_see(report.region_code):
        raise AefiReportNotFound(f"no AEFI report {report_id}")
    return report


def get_report(
    session: Session, principal: Principal, report_id: str, now: datetime | None = None
) -> ReportView:
    """One report of the caller's jurisdiction; the read is audited.

    Raises:
        AefiReportNotFound: no such report, or outside the jurisdiction (404).
    """
    report = _visible(session, principal, report_id)
    audit.record(
        session,
        actor=principal.username,
        action="read_aefi",
        entity="person",
        entity_id=report.person_id,
        detail={"aefi": report.id},
    )
    return view(report, now or utcnow())


def list_reports(
    session: Session,
    principal: Principal,
    *,
    overdue: bool | None = None,
    cluster_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[list[ReportView], int]:
    """Reports of the caller's jurisdiction, newest first, with the total; audited."""
    now = _utc(now or utcnow())
    where: list[Any] = []
    if principal.jurisdiction is not None:
        prefix = region_prefix(principal.jurisdiction)
        where.append(AefiReport.region_code.startswith(prefix, autoescape=True))
    if cluster_id is not None:
        where.append(AefiReport.cluster_id == cluster_id)
    if overdue is not None:
        late = (AefiReport.submitted_at > AefiReport.deadline_at) | (
            AefiReport.submitted_at.is_(None) & (AefiReport.deadline_at < now)
        )
        where.append(late if overdue else ~late)
    total = session.scalar(select(func.count()).select_from(AefiReport).where(*where)) or 0
    rows = session.scalars(
        select(AefiReport)
        .where(*where)
        .order_by(AefiReport.reported_at.desc(), AefiReport.id)
        .limit(limit)
        .offset(offset)
    ).all()
    audit.record(
        session,
        actor=principal.username,
        action="list_aefi",
        entity="aefi",
        entity_id="*",
        detail={"count": len(rows), "offset": offset},
    )
    return [view(r, now) for r in rows], total


def mark_submitted(
    session: Session, principal: Principal, report_id: str, now: datetime | None = None
) -> ReportView:
    """Record that the report went to the national AEFI system (疑似预防接种异常反应监测系统).

    Raises:
        AefiReportNotFound: outside the jurisdiction (404).
        AlreadySubmitted: it was marked before (409).
    """
    now = _utc(now or utcnow())
    report = _visible(session, principal, report_id)
    if report.submitted_at is not None:
        raise AlreadySubmitted(f"AEFI report {report_id} was submitted already")
    report.submitted_at = now
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="submit_aefi",
        entity="person",
        entity_id=report.person_id,
        detail={"aefi": report.id},
    )
    return view(report, now)
