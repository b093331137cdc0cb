"""relief: out-of-pocket watch, cases and the relief fund (issue 7 item 8)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-23 00:45:00.000000

The return-to-poverty watch (R-PV-1 … R-PV-4): each registered household's latest figures
(relief_households), relief cases with their steps (relief_cases, relief_case_events), and the
relief fund with its ledger (relief_funds, relief_fund_entries; amounts in whole fen). A test
checks that the upgraded database matches carematch.relief.models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carematch.security.crypto

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relief_cases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("household_id", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("triggers", sa.String(length=200), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("cause_evidence", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("household_status", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("members", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("oop_12m", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("income_12m", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("amount", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("steps", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verify_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_by", sa.String(length=64), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_by", sa.String(length=64), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejected_by", sa.String(length=64), nullable=True),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reject_reason", carematch.security.crypto.EncryptedText(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_cases")),
    )
    op.create_index("ix_relief_cases_household_id", "relief_cases", ["household_id"], unique=False)
    op.create_index(
        "ix_relief_cases_region_code_status",
        "relief_cases",
        ["region_code", "status"],
        unique=False,
    )
    op.create_table(
        "relief_funds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_funds")),
    )
    op.create_table(
        "relief_households",
        sa.Column("household_id", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("status", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("income_12m", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("oop_12m", carematch.security.crypto.EncryptedText(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("at_risk", sa.Boolean(), nullable=False),
        sa.Column("triggers", sa.String(length=200), nullable=False),
        sa.Column("episode_open", sa.Boolean(), nullable=False),
        sa.Column("as_of", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("household_id", name=op.f("pk_relief_households")),
    )
    op.create_index(
        "ix_relief_households_at_risk_region_code",
        "relief_households",
        ["at_risk", "region_code"],
        unique=False,
    )
    op.create_table(
        "relief_case_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", carematch.security.crypto.EncryptedText(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["relief_cases.id"],
            name=op.f("fk_relief_case_events_case_id_relief_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_case_events")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_relief_case_events_case_id_seq")),
    )
    op.create_table(
        "relief_fund_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("fund_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["relief_cases.id"],
            name=op.f("fk_relief_fund_entries_case_id_relief_cases"),
        ),
        sa.ForeignKeyConstraint(
            ["fund_id"],
            ["relief_funds.id"],
            name=op.f("fk_relief_fund_entries_fund_id_relief_funds"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relief_fund_entries")),
    )
    op.create_index(
        op.f("ix_relief_fund_entries_case_id"), "relief_fund_entries", ["case_id"], unique=False
    )
    op.create_index(
        op.f("ix_relief_fund_entries_fund_id"), "relief_fund_entries", ["fund_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_relief_fund_entries_fund_id"), table_name="relief_fund_entries")
    op.drop_index(op.f("ix_relief_fund_entries_case_id"), table_name="relief_fund_entries")
    op.drop_table("relief_fund_entries")
    op.drop_table("relief_case_events")
    op.drop_index("ix_relief_households_at_risk_region_code", table_name="relief_households")
    op.drop_table("relief_households")
    op.drop_table("relief_funds")
    op.drop_index("ix_relief_cases_region_code_status", table_name="relief_cases")
    op.drop_index("ix_relief_cases_household_id", table_name="relief_cases")
    op.drop_table("relief_cases")
