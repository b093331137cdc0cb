"""policy hearings, their opinions, and policy budgets (issue 7 items 5, 10)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-23 00:45:00.000000

Hearings on draft policies (R-PL-4): each hearing holds its draft in the library's format;
residents' opinions (text encrypted at rest, one per resident per hearing) are each adopted or
not adopted with a reason. Budgets per policy and year (R-PL-5) for the execution indicators.
The case library (item 9) is YAML shipped with the package and needs no table. A test checks
that the upgraded database matches carematch.policy.hearing_models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carematch.security.crypto

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policy_hearings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_hearings")),
    )
    op.create_index("ix_policy_hearings_status", "policy_hearings", ["status"], unique=False)
    op.create_table(
        "hearing_opinions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("hearing_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("text", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("submitted_by", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["hearing_id"],
            ["policy_hearings.id"],
            name=op.f("fk_hearing_opinions_hearing_id_policy_hearings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hearing_opinions")),
        sa.UniqueConstraint(
            "hearing_id", "person_id", name="uq_hearing_opinions_hearing_id_person_id"
        ),
    )
    op.create_index(
        "ix_hearing_opinions_hearing_id_seq",
        "hearing_opinions",
        ["hearing_id", "seq"],
        unique=False,
    )
    op.create_table(
        "policy_budgets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_budgets")),
        sa.UniqueConstraint("policy_id", "year", name="uq_policy_budgets_policy_id_year"),
    )


def downgrade() -> None:
    op.drop_table("policy_budgets")
    op.drop_index("ix_hearing_opinions_hearing_id_seq", table_name="hearing_opinions")
    op.drop_table("hearing_opinions")
    op.drop_index("ix_policy_hearings_status", table_name="policy_hearings")
    op.drop_table("policy_hearings")
