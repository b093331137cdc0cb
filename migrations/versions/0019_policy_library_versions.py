"""policy library versions

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-22 22:30:00.000000

The policy library's versions (R-PL-1, issue 7 item 1): each version of a policy holds the
whole policy in the library's format (JSON text) and is in force from effective_from
(inclusive) to effective_to (exclusive, NULL for the latest); old versions are kept. A test
checks that the upgraded database matches carematch.policy.models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint("policy_id", "version", name="uq_policy_versions_policy_id_version"),
    )
    op.create_index(
        "ix_policy_versions_policy_id_effective_from",
        "policy_versions",
        ["policy_id", "effective_from"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_policy_versions_policy_id_effective_from", table_name="policy_versions")
    op.drop_table("policy_versions")
