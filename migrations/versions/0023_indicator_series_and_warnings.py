"""indicators: stored series and warnings (issue 8 items 4-5)

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-23 00:45:00.000000

The indicator engine's time series (one row per indicator, month, region and breakdown key;
a refresh replaces its period's rows) and the abnormal-drop warnings raised on them (R-EV-1,
R-PL-5). A test checks that the upgraded database matches carematch.indicators.models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indicator_values",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("indicator_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("disaggregation", sa.String(length=16), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.Column("numerator", sa.Float(), nullable=True),
        sa.Column("denominator", sa.Float(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_values")),
        sa.UniqueConstraint(
            "indicator_id",
            "period",
            "region_code",
            "disaggregation",
            "group_key",
            name="uq_indicator_values_point",
        ),
    )
    op.create_index(
        "ix_indicator_values_region_code_period",
        "indicator_values",
        ["region_code", "period"],
        unique=False,
    )
    op.create_table(
        "indicator_warnings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("indicator_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("disaggregation", sa.String(length=16), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("finding_id", sa.String(length=32), nullable=True),
        sa.Column("detected_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rectified_by", sa.String(length=64), nullable=True),
        sa.Column("rectified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_warnings")),
        sa.UniqueConstraint(
            "indicator_id",
            "period",
            "region_code",
            "disaggregation",
            "group_key",
            name="uq_indicator_warnings_point",
        ),
    )
    op.create_index(
        "ix_indicator_warnings_region_code_status",
        "indicator_warnings",
        ["region_code", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_indicator_warnings_region_code_status", table_name="indicator_warnings")
    op.drop_table("indicator_warnings")
    op.drop_index("ix_indicator_values_region_code_period", table_name="indicator_values")
    op.drop_table("indicator_values")
