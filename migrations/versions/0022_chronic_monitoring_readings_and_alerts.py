"""chronic monitoring: readings, alert episodes and follow-up tasks (issue 8 item 1)

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-23 00:45:00.000000

Chronic monitoring (R-MN-1, issue 8 item 1): blood-pressure readings (from CSV imports and
the API), alert episodes (unique per person, rule and alert day), one follow-up task per alert
for the responsible doctor (its closing note encrypted), and the rows an import could not take,
kept with their reasons (raw values encrypted). A test checks that the upgraded database
matches carematch.monitoring.models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carematch.security.crypto

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitoring_readings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("measured_at", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sbp", sa.Float(), nullable=False),
        sa.Column("dbp", sa.Float(), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('csv', 'api')", name=op.f("ck_monitoring_readings_channel")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_readings")),
    )
    op.create_index(
        "ix_monitoring_readings_person_id_day", "monitoring_readings", ["person_id", "day"]
    )
    op.create_index(
        "ix_monitoring_readings_region_code_day", "monitoring_readings", ["region_code", "day"]
    )
    op.create_table(
        "monitoring_alerts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("alert_date", sa.Date(), nullable=False),
        sa.Column("streak_start", sa.Date(), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_alerts")),
        sa.UniqueConstraint(
            "person_id",
            "rule",
            "alert_date",
            name=op.f("uq_monitoring_alerts_person_id_rule_alert_date"),
        ),
    )
    op.create_index(
        "ix_monitoring_alerts_region_code_alert_date",
        "monitoring_alerts",
        ["region_code", "alert_date"],
    )
    op.create_table(
        "monitoring_tasks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("assignee_user_id", sa.String(length=32), nullable=True),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("note", carematch.security.crypto.EncryptedText(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'done') = (closed_at IS NOT NULL)",
            name=op.f("ck_monitoring_tasks_closed_at_exactly_when_done"),
        ),
        sa.CheckConstraint("status IN ('open', 'done')", name=op.f("ck_monitoring_tasks_status")),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["monitoring_alerts.id"],
            name=op.f("fk_monitoring_tasks_alert_id_monitoring_alerts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_tasks")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_monitoring_tasks_alert_id")),
    )
    op.create_index(
        "ix_monitoring_tasks_assignee_user_id_status",
        "monitoring_tasks",
        ["assignee_user_id", "status"],
    )
    op.create_index(
        "ix_monitoring_tasks_region_code_status", "monitoring_tasks", ["region_code", "status"]
    )
    op.create_table(
        "monitoring_rejects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("raw", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_rejects")),
    )
    op.create_index("ix_monitoring_rejects_batch", "monitoring_rejects", ["batch"])


def downgrade() -> None:
    op.drop_index("ix_monitoring_rejects_batch", table_name="monitoring_rejects")
    op.drop_table("monitoring_rejects")
    op.drop_index("ix_monitoring_tasks_region_code_status", table_name="monitoring_tasks")
    op.drop_index("ix_monitoring_tasks_assignee_user_id_status", table_name="monitoring_tasks")
    op.drop_table("monitoring_tasks")
    op.drop_index("ix_monitoring_alerts_region_code_alert_date", table_name="monitoring_alerts")
    op.drop_table("monitoring_alerts")
    op.drop_index("ix_monitoring_readings_region_code_day", table_name="monitoring_readings")
    op.drop_index("ix_monitoring_readings_person_id_day", table_name="monitoring_readings")
    op.drop_table("monitoring_readings")
