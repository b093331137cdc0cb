"""Use cases of chronic monitoring: take readings in, alert once per episode, task the doctor.

Readings come from CSV imports (``carematch monitoring import``) and the API (devices sign in
as staff). After each intake the alert rules (:mod:`carematch.monitoring.alerts`) run over the
whole history of the persons the intake touched, and each new episode becomes one
:class:`~carematch.monitoring.models.MonitoringAlert`, one follow-up task due
``followup_days`` after the alert day for the person's responsible family doctor (the lead of
the team holding their contract; else the doctors of their community), and one outbox message.
An episode already stored is recognised even when late readings move its third day (an alert
whose day lies inside the new streak), so re-imports and back-filled readings alert nobody
twice.

Control rates (for the indicator engine, issue 8 item 4) are here too:
:func:`person_control` and :func:`population_control`. Services flush; the edge commits.
"""

from __future__ import annotations

import json
import pickle
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from carematch.core.clock import city_days_utc, city_today, utcnow
from carematch.core.config import get_settings
from carematch.core.ids import new_id, stable_id
from carematch.familydoctor import service as familydoctor
from carematch.identity import service as identity
from carematch.identity.errors import PersonNotFound
from carematch.monitoring import repository, risk, tb
from carematch.monitoring.alerts import (
    AlertRule,
    check_readings,
    find_alerts,
    load_alert_rules,
)
from carematch.monitoring.errors import (
    InvalidReading,
    InvalidWindow,
    MonitoringTaskClosed,
    MonitoringTaskNotFound,
    RiskModelMissing,
    UnknownCombination,
)
from carematch.monitoring.models import MonitoringTask
from carematch.monitoring.risk import Contribution, RiskReport
from carematch.monitoring.tb import TbRates
from carematch.notifications import service as notifications
from carematch.notifications.outbox import Recipient
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix, within

MAX_WINDOW_DAYS = 366
SBP_LIMIT, DBP_LIMIT = 140.0, 90.0
"""In range (controlled) means sbp < 140 and dbp < 90 mmHg, the default rule's thresholds."""

_RULES: list[AlertRule] | None = None


def default_rules() -> list[AlertRule]:
    """The shipped alert rules (rules.yaml), loaded once."""
    global _RULES
    if _RULES is None:
        _RULES = load_alert_rules()
    return _RULES


@dataclass(frozen=True)
class ImportSummary:
    """What an intake did. ``rows == accepted + duplicates + rejected`` always."""

    batch: str
    rows: int
    accepted: int
    duplicates: int
    rejected: int
    alerts: int
    tasks: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "alerts": self.alerts,
            "tasks": self.tasks,
        }


def _scope(principal: Principal | None) -> str | None:
    if principal is None or principal.jurisdiction is None:
        return None
    return region_prefix(principal.jurisdiction)


def _communities(session: Session, person_ids: Sequence[str]) -> dict[str, str | None]:
    # In chunks: one IN list per import would pass SQLite's and psycopg's bound-parameter
    # limits on a file with tens of thousands of persons.
    ids = list(person_ids)
    found: dict[str, str | None] = {}
    for i in range(0, len(ids), repository.CHUNK):
        for row in identity.golden_records(session, ids[i : i + repository.CHUNK]):
            found[row["person_id"]] = row["community_code"]
    return found


def import_readings(
    session: Session,
    raw: pa.Table,
    *,
    actor: str,
    channel: str = "csv",
    principal: Principal | None = None,
    device_id: str | None = None,
    rules: Sequence[AlertRule] | None = None,
    malformed: Sequence[tuple[int, str]] = (),
) -> ImportSummary:
    """Take readings in (every column a string, as read from a file); flushes, never commits.

    A row is rejected, and kept with its reason, when :func:`~.alerts.check_readings` refuses
    it, or its person is unknown here or outside the principal's jurisdiction (one reason for
    both, so that an import does not reveal who lives elsewhere). A reading stored already
    (same person, time as written and values) is a duplicate, counted and not stored again.

    Args:
        raw: ``person_id``, ``measured_at``, ``sbp``, ``dbp``.
        actor: who imports (username), for the rows and the audit log.
        channel: ``csv`` or ``api``.
        principal: when given, persons must lie in its jurisdiction.
        malformed: lines of the file that could not be split into fields, as (line number,
            text): counted and kept as rejects.
    """
    batch = new_id()
    checked = check_readings(raw)
    rejects: list[dict[str, Any]] = [
        {"row": r["row"], "reason": r["reason"], "raw": r} for r in checked.rejected.to_pylist()
    ]
    rejects += [
        {"row": number, "reason": "wrong number of fields", "raw": {"person_id": text[:500]}}
        for number, text in malformed
    ]
    rows = checked.readings.to_pylist()
    communities = _communities(session, sorted({r["person_id"] for r in rows}))
    scope = _scope(principal)
    values: list[dict[str, Any]] = []
    now = utcnow()
    for r in rows:
        person = r["person_id"]
        if person not in communities or (
            scope is not None and not within(communities[person], scope)
        ):
            raw_row = {k: r[k] for k in ("person_id", "measured_at")}
            raw_row.update(sbp=str(r["sbp"]), dbp=str(r["dbp"]))
            rejects.append(
                {
                    "row": r["row"],
                    "reason": "unknown person (or outside your jurisdiction)",
                    "raw": raw_row,
                }
            )
            continue
        values.append(
            {
                "id": stable_id("rdg", person, r["measured_at"], f"{r['sbp']:g}", f"{r['dbp']:g}")[
                    :32
                ],
                "person_id": person,
                "measured_at": r["measured_at"],
                "day": r["day"],
                "sbp": r["sbp"],
                "dbp": r["dbp"],
                "region_code": communities[person],
                "channel": channel,
                "device_id": device_id,
                "created_by": actor,
                "created_at": now,
            }
        )
    unique = list({v["id"]: v for v in values}.values())
    added = repository.insert_readings(session, unique) if unique else 0
    if rejects:
        repository.insert_rejects(
            session,
            [
                {
                    "batch": batch,
                    "row": int(r["row"]),
                    "reason": str(r["reason"])[:200],
                    "raw": json.dumps(
                        {k: r["raw"].get(k) for k in ("person_id", "measured_at", "sbp", "dbp")},
                        ensure_ascii=False,
                    ),
                    "created_by": actor,
                }
                for r in sorted(rejects, key=lambda x: int(x["row"]))
            ],
        )
    touched = sorted({v["person_id"] for v in unique})
    alerts, tasks = refresh_alerts(session, touched, rules=rules) if touched else (0, 0)
    audit.record(
        session,
        actor=actor,
        action="import_readings",
        entity="monitoring_batch",
        entity_id=batch,
        detail={"rows": raw.num_rows + len(malformed), "accepted": added, "rejected": len(rejects)},
    )
    return ImportSummary(
        batch=batch,
        rows=raw.num_rows + len(malformed),
        accepted=added,
        duplicates=len(values) - added,
        rejected=len(rejects),
        alerts=alerts,
        tasks=tasks,
    )


def record_reading(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    measured_at: str,
    sbp: float,
    dbp: float,
    device_id: str | None = None,
) -> ImportSummary:
    """One reading through the API (a clinic's staff or a device signed in as staff).

    Raises:
        InvalidReading: the reading is refused (the reason says why); PersonNotFound (404) when
            the person is unknown or outside the caller's jurisdiction.
    """
    raw = pa.table(
        {
            "person_id": [person_id],
            "measured_at": [measured_at],
            "sbp": [f"{sbp:g}"],
            "dbp": [f"{dbp:g}"],
        }
    )
    checked = check_readings(raw)
    if checked.rejected.num_rows:
        raise InvalidReading(checked.rejected.column("reason")[0].as_py())
    identity.visible_person(session, principal, person_id.strip())
    return import_readings(
        session,
        raw,
        actor=principal.username,
        channel="api",
        principal=principal,
        device_id=device_id,
    )


def rejects_of(session: Session, batch: str) -> list[dict[str, Any]]:
    """The rows of an import that were not taken: ``row``, ``reason`` and the raw values."""
    return [
        {"row": r.row, "reason": r.reason, **json.loads(r.raw)}
        for r in repository.rejects_of(session, batch)
    ]


# --- alerts and tasks ------------------------------------------------------------------------


def _readings_table(rows: list[tuple[str, date, float, float]]) -> pa.Table:
    return pa.table(
        {
            "person_id": pa.array([r[0] for r in rows], pa.string()),
            "day": pa.array([r[1] for r in rows], pa.date32()),
            "sbp": pa.array([r[2] for r in rows], pa.float64()),
            "dbp": pa.array([r[3] for r in rows], pa.float64()),
        }
    )


def refresh_alerts(
    session: Session, person_ids: Sequence[str], *, rules: Sequence[AlertRule] | None = None
) -> tuple[int, int]:
    """Run the rules over the persons' stored readings; store new episodes, task and notify.

    Returns (new alerts, new tasks). Idempotent: a second run finds every episode stored.
    """
    rule_set = list(rules or default_rules())
    found = find_alerts(_readings_table(repository.readings_of(session, person_ids)), rule_set)
    if found.num_rows == 0:
        return 0, 0
    stored: dict[tuple[str, str], list[date]] = defaultdict(list)
    for alert in repository.alerts_of(session, person_ids):
        stored[(alert.person_id, alert.rule)].append(alert.alert_date)
    by_id = {rule.id: rule for rule in rule_set}
    communities = _communities(session, sorted(set(found.column("person_id").to_pylist())))
    doctors = repository.active_doctors(session)  # once: the fallback when a person is unsigned
    new_alerts = new_tasks = 0
    for row in found.to_pylist():
        person, rule_id = row["person_id"], row["rule"]
        known = stored[(person, rule_id)]
        if any(row["streak_start"] <= day <= row["streak_end"] for day in known):
            continue  # this episode is alerted already (late readings moved its third day)
        alert_id = stable_id("alr", person, rule_id, row["alert_date"].isoformat())[:32]
        region = communities.get(person)
        if not repository.insert_alert(
            session,
            {
                "id": alert_id,
                "person_id": person,
                "rule": rule_id,
                "alert_date": row["alert_date"],
                "streak_start": row["streak_start"],
                "region_code": region,
                "created_at": utcnow(),
            },
        ):
            continue
        known.append(row["alert_date"])
        new_alerts += 1
        if _task_for(session, alert_id, person, by_id[rule_id], row["alert_date"], region, doctors):
            new_tasks += 1
    session.flush()
    return new_alerts, new_tasks


def _community_doctors(doctors: Sequence[tuple[str, str | None]], region: str | None) -> list[str]:
    """The doctors nearest the person's community: those bound to the most specific region
    that contains it (the community clinic's doctors before the district's)."""
    if not region:
        return []
    covering = [(uid, code) for uid, code in doctors if code]
    covering = [(uid, code) for uid, code in covering if within(region, code)]
    if not covering:
        return []
    best = max(len(region_prefix(code)) for _, code in covering)
    return [uid for uid, code in covering if len(region_prefix(code)) == best]


def _task_for(
    session: Session,
    alert_id: str,
    person_id: str,
    rule: AlertRule,
    alert_date: date,
    region: str | None,
    doctors: Sequence[tuple[str, str | None]],
) -> bool:
    due_on = alert_date + timedelta(days=rule.followup_days)
    doctor = familydoctor.responsible_doctor(session, person_id, alert_date)
    task_id = stable_id("mtk", alert_id)[:32]
    created = repository.insert_task(
        session,
        {
            "id": task_id,
            "alert_id": alert_id,
            "person_id": person_id,
            "rule": rule.id,
            "region_code": region,
            "assignee_user_id": doctor.user_id if doctor else None,
            "team_id": doctor.team_id if doctor else None,
            "due_on": due_on,
            "status": "open",
            "created_at": utcnow(),
        },
    )
    if not created:
        return False
    recipients = [doctor.user_id] if doctor else _community_doctors(doctors, region)
    description = rule.description.get("zh") or rule.id
    for user_id in recipients:
        notifications.enqueue(
            session,
            recipient=Recipient.user(user_id),
            channel="inbox",
            template="monitoring_alert",
            params={
                "rule": description,
                "alert_date": alert_date.isoformat(),
                "due_date": due_on.isoformat(),
            },
            due_at=utcnow(),
            dedupe_key=f"monitoring:{task_id}:{user_id}",
        )
    return True


@dataclass(frozen=True)
class TaskView:
    """A follow-up task as the workbench and the API show it."""

    task: MonitoringTask
    overdue: bool


def _task_visible(principal: Principal, task: MonitoringTask) -> bool:
    return principal.can_see(task.region_code) or task.assignee_user_id == principal.user_id


def list_tasks(
    session: Session,
    principal: Principal,
    *,
    status: str | None = "open",
    mine: bool = False,
    limit: int = 50,
    offset: int = 0,
    today: date | None = None,
) -> tuple[int, list[TaskView]]:
    """Tasks the caller may see (their jurisdiction; ``mine``: assigned to them), open first,
    earliest deadline first."""
    day = today or city_today()
    total, rows = repository.list_tasks(
        session,
        region_prefix=_scope(principal),
        assignee=principal.user_id if mine else None,
        status=status,
        limit=limit,
        offset=offset,
    )
    return total, [TaskView(t, t.status == "open" and t.due_on < day) for t in rows]


def close_task(
    session: Session, principal: Principal, task_id: str, note: str, *, now: datetime | None = None
) -> TaskView:
    """Close a task with what was done (a visit, medication adjusted …).

    Raises:
        MonitoringTaskNotFound: no such task in the caller's view.
        MonitoringTaskClosed: it is done already.
        InvalidReading: the note is empty or longer than 2,000 characters.
    """
    task = repository.get_task(session, task_id)
    if task is None or not _task_visible(principal, task):
        raise MonitoringTaskNotFound(f"no task {task_id}")
    text = (note or "").strip()
    if not text or len(text) > 2000:
        raise InvalidReading("a task is closed with a note of 1 to 2,000 characters")
    if not repository.close_task(session, task_id, text, principal.username, now or utcnow()):
        raise MonitoringTaskClosed(f"task {task_id} is closed already")
    audit.record(
        session,
        actor=principal.username,
        action="close_monitoring_task",
        entity="person",
        entity_id=task.person_id,
        detail={"task": task_id},
    )
    return TaskView(task, False)


# --- control rates (for the indicator engine) ------------------------------------------------


def _window(start: date, end: date) -> None:
    if end < start or (end - start).days >= MAX_WINDOW_DAYS:
        raise InvalidWindow(f"a window runs forward and spans at most {MAX_WINDOW_DAYS} days")


def _in_range(sbp: float, dbp: float) -> bool:
    return sbp < SBP_LIMIT and dbp < DBP_LIMIT


@dataclass(frozen=True)
class PersonControl:
    """A person's blood-pressure control over a window.

    ``reading_share`` = in-range readings / readings; ``day_share`` = in-range days / days
    with readings (a day is in range when none of its readings is high); None without readings.
    """

    person_id: str
    start: date
    end: date
    readings: int
    in_range_readings: int
    days: int
    in_range_days: int

    @property
    def reading_share(self) -> float | None:
        return self.in_range_readings / self.readings if self.readings else None

    @property
    def day_share(self) -> float | None:
        return self.in_range_days / self.days if self.days else None


def person_control(
    session: Session, principal: Principal | None, person_id: str, start: date, end: date
) -> PersonControl:
    """One person's control over [start, end] (both inclusive, local days).

    With a principal, the person must be in its jurisdiction (404 otherwise) and the read is
    audited; without one (a job, the indicator engine) it is neither.
    """
    _window(start, end)
    if principal is not None:
        identity.visible_person(session, principal, person_id)
    rows = repository.readings_of(session, [person_id], start, end)
    days: dict[date, bool] = {}
    for _, day, sbp, dbp in rows:
        days[day] = days.get(day, True) and _in_range(sbp, dbp)
    if principal is not None:
        audit.record(
            session,
            actor=principal.username,
            action="read_control_rate",
            entity="person",
            entity_id=person_id,
            detail={"start": start.isoformat(), "end": end.isoformat()},
        )
    return PersonControl(
        person_id=person_id,
        start=start,
        end=end,
        readings=len(rows),
        in_range_readings=sum(_in_range(s, d) for _, _, s, d in rows),
        days=len(days),
        in_range_days=sum(days.values()),
    )


@dataclass(frozen=True)
class CommunityControl:
    """Hypertension control in one community over a window (高血压控制率).

    ``managed``: persons with at least one reading in the window (under monitoring);
    ``controlled``: those whose latest reading in the window is in range (sbp < 140 and
    dbp < 90); ``rate`` = controlled / managed.
    """

    community_code: str | None
    managed: int
    controlled: int

    @property
    def rate(self) -> float | None:
        return self.controlled / self.managed if self.managed else None


def population_control(
    session: Session, start: date, end: date, region: str | None = None
) -> list[CommunityControl]:
    """Control per community over [start, end], within ``region`` (a code; None: everywhere).

    The latest reading is the one on the latest day, and that day's latest ``measured_at`` as
    written (so several readings a day resolve the same way every time). For the indicator
    engine: no principal, no audit (it reads no one's data out, only counts).
    """
    _window(start, end)
    prefix = region_prefix(region) if region else None
    latest: dict[str, tuple[tuple[date, str], str | None, bool]] = {}
    for person, community, day, measured_at, sbp, dbp in repository.readings_in_region(
        session, prefix, start, end
    ):
        key = (day, measured_at)
        if person not in latest or key > latest[person][0]:
            latest[person] = (key, community, _in_range(sbp, dbp))
    counts: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for _, community, ok in latest.values():
        counts[community][0] += 1
        counts[community][1] += int(ok)
    return [
        CommunityControl(community, managed, controlled)
        for community, (managed, controlled) in sorted(counts.items(), key=lambda kv: kv[0] or "")
    ]


# --- high-risk identification (R-MN-2) -------------------------------------------------------


def _model_path(combination: str) -> Path:
    return get_settings().data_dir / "models" / f"monitoring-risk-{combination}.pkl"


def train_risk(city: Path, combination: str, *, seed: int = 0) -> RiskReport:
    """Train the risk model for a combination on a generated city and keep it in the data
    directory (replacing the previous one); returns the held-out report.

    Raises:
        UnknownCombination; FileNotFoundError (not a generated city); ValueError (too few cases).
    """
    if combination not in risk.COMBINATIONS:
        raise UnknownCombination(
            f"unknown combination {combination!r}; known: {', '.join(risk.COMBINATIONS)}"
        )
    model = risk.train(risk.city_training_table(city), combination, seed=seed)
    path = _model_path(combination)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    # The model is the platform's own file in its own data directory (never an upload), so
    # pickle, scikit-learn's own format, is safe to read back here.
    with partial.open("wb") as handle:
        pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)
    assert model.report is not None
    return model.report


def load_risk_model(combination: str) -> risk.RiskModel:
    """The trained model of a combination. Raises UnknownCombination, RiskModelMissing."""
    if combination not in risk.COMBINATIONS:
        raise UnknownCombination(
            f"unknown combination {combination!r}; known: {', '.join(risk.COMBINATIONS)}"
        )
    path = _model_path(combination)
    if not path.is_file():
        raise RiskModelMissing(
            f"no risk model for {combination}: run `carematch monitoring risk-train` first"
        )
    with path.open("rb") as handle:
        model: risk.RiskModel = pickle.load(handle)  # our own file, see train_risk
    return model


@dataclass(frozen=True)
class RiskEntry:
    """One person of the top-risk list."""

    person_id: str
    community_code: str | None
    risk: float
    contributions: list[Contribution]


def top_risk(
    session: Session,
    principal: Principal | None,
    combination: str,
    *,
    limit: int = 20,
    include_known: bool = False,
    region: str | None = None,
) -> list[RiskEntry]:
    """The persons of the caller's jurisdiction (and ``region``) most likely to have the
    combination, highest first, with the features that raise each one's risk most.

    Persons whose records already hold the whole combination are left out unless
    ``include_known`` (the list is for finding people, not for listing known patients). The
    read is audited (it ranks persons by a health prediction).
    """
    from carematch.profiling.service import features_for

    model = load_risk_model(combination)
    scope = _scope(principal)
    people = [
        row
        for row in identity.golden_records(session)
        if (scope is None or within(row["community_code"], scope))
        and (region is None or within(row["community_code"], region_prefix(region)))
    ]
    ids = [row["person_id"] for row in people]
    if not ids:
        return []
    features = features_for(session, ids)
    scored = risk.score(model, features)
    conditions = dict(
        zip(
            features.column("person_id").to_pylist(),
            [c or [] for c in features.column("conditions").to_pylist()],
            strict=True,
        )
    )
    known = risk.known_combination(conditions, combination)
    community = {row["person_id"]: row["community_code"] for row in people}
    ranked = sorted(
        (s for s in scored if include_known or s.person_id not in known),
        key=lambda s: (-s.risk, s.person_id),
    )[:limit]
    if principal is not None:
        audit.record(
            session,
            actor=principal.username,
            action="read_risk_list",
            entity="risk_list",
            entity_id=combination,
            detail={"persons": [s.person_id for s in ranked]},
        )
    return [
        RiskEntry(s.person_id, community.get(s.person_id), s.risk, s.contributions) for s in ranked
    ]


# --- TB case management (R-MN-3) ---------------------------------------------------------------


def tb_case_management(
    session: Session,
    principal: Principal | None,
    *,
    start: date,
    end: date,
    region: str | None = None,
) -> dict[str, TbRates]:
    """TB managed / completed rates for migrants and residents within the caller's
    jurisdiction (and ``region``): cases from the persons' records (``tb`` condition), TB
    services from the service records performed in [start, end] (city days).

    Counts only: nobody's data leaves, so no audit entry.
    """
    from carematch.booking.indicators import served_times
    from carematch.profiling.service import features_for

    if end < start:
        raise InvalidWindow("a window runs forward")
    scope = _scope(principal)
    if region is not None:
        if scope is not None and not within(region, scope):
            raise InvalidWindow(f"region {region} lies outside your jurisdiction")
        scope = region_prefix(region)
    people = [
        row
        for row in identity.golden_records(session)
        if scope is None or within(row["community_code"], scope)
    ]
    if not people:
        return tb.tb_rates([], [])
    features = features_for(session, [row["person_id"] for row in people])
    cases = [
        (person, hukou)
        for person, hukou, held in zip(
            features.column("person_id").to_pylist(),
            features.column("hukou").to_pylist(),
            features.column("conditions").to_pylist(),
            strict=True,
        )
        if "tb" in (held or [])
    ]
    begin, finish = city_days_utc(start, end)
    visits = [
        (person, city_today(at))
        for person, service_code, at in served_times(session, begin, finish, scope)
        if service_code in tb.TB_SERVICES
    ]
    return tb.tb_rates(cases, visits)


__all__ = [
    "CommunityControl",
    "ImportSummary",
    "PersonControl",
    "PersonNotFound",
    "close_task",
    "import_readings",
    "list_tasks",
    "person_control",
    "population_control",
    "record_reading",
    "refresh_alerts",
    "tb_case_management",
    "top_risk",
    "train_risk",
]
