"""vaccination appointments group bookings and home requests

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-22 21:40:00.000000

Vaccination appointments (R-VX-2, issue 6 item 2): the series and dose each vaccination booking
is for (one row per booking, beside the booking engine's tables, which are unchanged); group
uploads with their encrypted report and the members of each group session, unique per session
and person so a re-uploaded list books nobody twice; home-vaccination requests with one open
request per person and series (a partial unique index), notes and decline reasons encrypted.
A test checks that the upgraded database matches carematch.vaccination.appointment_models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carematch.security.crypto

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "status IN ('requested', 'accepted')"


def upgrade() -> None:
    op.create_table(
        "vaccination_appointments",
        sa.Column("booking_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("series", sa.String(length=32), nullable=False),
        sa.Column("dose", sa.Integer(), nullable=True),
        sa.Column("group_booking_id", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_vaccination_appointments")),
    )
    with op.batch_alter_table("vaccination_appointments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_vaccination_appointments_person_id_series", ["person_id", "series"], unique=False
        )

    op.create_table(
        "vaccination_group_bookings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("session_key", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=32), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("organisation", sa.String(length=200), nullable=True),
        sa.Column("series", sa.String(length=32), nullable=True),
        sa.Column("list_sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("waitlisted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("report", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_vaccination_group_bookings_provider_id_providers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vaccination_group_bookings")),
    )
    with op.batch_alter_table("vaccination_group_bookings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_vaccination_group_bookings_region_code", ["region_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_vaccination_group_bookings_session_key"), ["session_key"], unique=False
        )

    op.create_table(
        "vaccination_group_members",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("session_key", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("group_booking_id", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("booking_id", sa.String(length=32), nullable=True),
        sa.Column("waitlist_entry_id", sa.String(length=32), nullable=True),
        sa.Column("slot_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('booked', 'waitlisted', 'unplaced')",
            name=op.f("ck_vaccination_group_members_known_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["group_booking_id"],
            ["vaccination_group_bookings.id"],
            name=op.f("fk_vaccination_group_members_group_booking_id_vaccination_group_bookings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vaccination_group_members")),
        sa.UniqueConstraint(
            "session_key",
            "person_id",
            name=op.f("uq_vaccination_group_members_session_key_person_id"),
        ),
    )
    with op.batch_alter_table("vaccination_group_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vaccination_group_members_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "vaccination_home_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("series", sa.String(length=32), nullable=False),
        sa.Column("dose", sa.Integer(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("disability_level", sa.Integer(), nullable=True),
        sa.Column("note", carematch.security.crypto.EncryptedText(), nullable=True),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_on", sa.Date(), nullable=True),
        sa.Column("vaccinator", sa.String(length=64), nullable=True),
        sa.Column("decline_reason", carematch.security.crypto.EncryptedText(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "reason IN ('disability', 'bedridden', 'staff_assessed')",
            name=op.f("ck_vaccination_home_requests_known_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('requested', 'accepted', 'declined', 'done', 'cancelled')",
            name=op.f("ck_vaccination_home_requests_known_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vaccination_home_requests")),
    )
    with op.batch_alter_table("vaccination_home_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vaccination_home_requests_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            "ix_vaccination_home_requests_region_code_status",
            ["region_code", "status"],
            unique=False,
        )
        batch_op.create_index(
            "uq_vaccination_home_requests_open",
            ["person_id", "series"],
            unique=True,
            postgresql_where=sa.text(_OPEN),
            sqlite_where=sa.text(_OPEN),
        )


def downgrade() -> None:
    with op.batch_alter_table("vaccination_home_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_vaccination_home_requests_open",
            postgresql_where=sa.text(_OPEN),
            sqlite_where=sa.text(_OPEN),
        )
        batch_op.drop_index("ix_vaccination_home_requests_region_code_status")
        batch_op.drop_index(batch_op.f("ix_vaccination_home_requests_person_id"))
    op.drop_table("vaccination_home_requests")
    with op.batch_alter_table("vaccination_group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vaccination_group_members_person_id"))
    op.drop_table("vaccination_group_members")
    with op.batch_alter_table("vaccination_group_bookings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vaccination_group_bookings_session_key"))
        batch_op.drop_index("ix_vaccination_group_bookings_region_code")
    op.drop_table("vaccination_group_bookings")
    with op.batch_alter_table("vaccination_appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_vaccination_appointments_person_id_series")
    op.drop_table("vaccination_appointments")
