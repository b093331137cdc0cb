"""Tables of the chronic-monitoring domain: readings, alert episodes, follow-up tasks, rejects.

The database keeps the rules a rerun or a concurrent import could otherwise break: a reading's
id is derived from what it says (person, time as written, values), so importing a file twice
stores each reading once; an alert's id is derived from (person, rule, alert day) and is unique,
and one task belongs to one alert (unique), so an episode is alerted and tasked once.

Persons, users, teams and providers belong to other domains: they are named by id, and the
region code a row is seen by (the person's community) is copied when it is made, so
jurisdiction needs no join. The note a doctor closes a task with, and a rejected row's raw
values, are encrypted.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base
from carematch.security.crypto import EncryptedText

TASK_STATUSES = ("open", "done")
CHANNELS = ("csv", "api")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class MonitoringReading(Base):
    """A blood-pressure reading (血压读数) from a home device or a clinic.

    ``measured_at`` is the timestamp as written (its offset kept); ``day`` is the local calendar
    day it names, which the alert rules count in.
    """

    __tablename__ = "monitoring_readings"
    __table_args__ = (
        CheckConstraint(_one_of("channel", CHANNELS), name="channel"),
        Index("ix_monitoring_readings_person_id_day", "person_id", "day"),
        Index("ix_monitoring_readings_region_code_day", "region_code", "day"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    measured_at: Mapped[str] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date)
    sbp: Mapped[float] = mapped_column(Float)
    dbp: Mapped[float] = mapped_column(Float)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    channel: Mapped[str] = mapped_column(String(8))
    device_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MonitoringAlert(Base):
    """An alert episode (告警): a person's readings met a rule, e.g. high three days running.

    Dated on the day the rule was met; ``streak_start`` is the streak's first day. Each alert
    gives the responsible doctor one :class:`MonitoringTask`.
    """

    __tablename__ = "monitoring_alerts"
    __table_args__ = (
        UniqueConstraint("person_id", "rule", "alert_date"),
        Index("ix_monitoring_alerts_region_code_alert_date", "region_code", "alert_date"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(32))
    alert_date: Mapped[date] = mapped_column(Date)
    streak_start: Mapped[date] = mapped_column(Date)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MonitoringTask(Base):
    """A follow-up task (随访任务) an alert gives the person's responsible doctor.

    ``assignee_user_id`` is the lead doctor of the team holding the person's family-doctor
    contract (``team_id``); without a contract the task falls to the doctors of the person's
    community clinic (no assignee: any doctor whose jurisdiction covers ``region_code``).
    Closed with a note (encrypted): what the doctor did (visit, medication adjusted …).
    """

    __tablename__ = "monitoring_tasks"
    __table_args__ = (
        UniqueConstraint("alert_id"),
        CheckConstraint(_one_of("status", TASK_STATUSES), name="status"),
        CheckConstraint(
            "(status = 'done') = (closed_at IS NOT NULL)", name="closed_at_exactly_when_done"
        ),
        Index("ix_monitoring_tasks_region_code_status", "region_code", "status"),
        Index("ix_monitoring_tasks_assignee_user_id_status", "assignee_user_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("monitoring_alerts.id"))
    person_id: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    assignee_user_id: Mapped[str | None] = mapped_column(String(32), default=None)
    team_id: Mapped[str | None] = mapped_column(String(32), default=None)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(8), default="open")
    note: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    closed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MonitoringReject(Base):
    """A row of a readings import that was not taken, kept with its reason (never dropped).

    ``raw`` is the row as given (JSON, encrypted: it names a person).
    """

    __tablename__ = "monitoring_rejects"
    __table_args__ = (Index("ix_monitoring_rejects_batch", "batch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch: Mapped[str] = mapped_column(String(32))
    row: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    raw: Mapped[str] = mapped_column(EncryptedText)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
