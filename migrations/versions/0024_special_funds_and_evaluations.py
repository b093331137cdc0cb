"""special-fund budgets, projects, indicators and expert reviews (issue 8 item 6)

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-23 00:45:00.000000

Special funds (专项基金, R-EV-2): a fund's budget per region and year; communities' project
applications with their own indicators (baseline, target, direction, value reached); expert
reviews (0-100 per criterion, one per expert). Difference-in-differences and de-identified
exports keep no tables: an export is recorded in the audit log. A test checks that the upgraded
database matches carematch.indicators.funds_models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "special_fund_budgets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_special_fund_budgets")),
    )
    op.create_index("ix_special_fund_budgets_region_code", "special_fund_budgets", ["region_code"])
    op.create_table(
        "special_fund_projects",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("budget_id", sa.String(length=32), nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("applied_by", sa.String(length=64), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.Column("evaluated_by", sa.String(length=64), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["budget_id"],
            ["special_fund_budgets.id"],
            name=op.f("fk_special_fund_projects_budget_id_special_fund_budgets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_special_fund_projects")),
    )
    op.create_index("ix_special_fund_projects_budget_id", "special_fund_projects", ["budget_id"])
    op.create_index(
        "ix_special_fund_projects_community_code", "special_fund_projects", ["community_code"]
    )
    op.create_table(
        "special_fund_indicators",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("target", sa.Float(), nullable=False),
        sa.Column("achieved_value", sa.Float(), nullable=True),
        sa.Column("achieved", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["special_fund_projects.id"],
            name=op.f("fk_special_fund_indicators_project_id_special_fund_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_special_fund_indicators")),
        sa.UniqueConstraint(
            "project_id", "name", name="uq_special_fund_indicators_project_id_name"
        ),
    )
    op.create_index(
        "ix_special_fund_indicators_project_id", "special_fund_indicators", ["project_id"]
    )
    op.create_table(
        "special_fund_reviews",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("expert", sa.String(length=64), nullable=False),
        sa.Column("scores", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["special_fund_projects.id"],
            name=op.f("fk_special_fund_reviews_project_id_special_fund_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_special_fund_reviews")),
        sa.UniqueConstraint(
            "project_id", "expert", name="uq_special_fund_reviews_project_id_expert"
        ),
    )
    op.create_index("ix_special_fund_reviews_project_id", "special_fund_reviews", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_special_fund_reviews_project_id", table_name="special_fund_reviews")
    op.drop_table("special_fund_reviews")
    op.drop_index("ix_special_fund_indicators_project_id", table_name="special_fund_indicators")
    op.drop_table("special_fund_indicators")
    op.drop_index("ix_special_fund_projects_community_code", table_name="special_fund_projects")
    op.drop_index("ix_special_fund_projects_budget_id", table_name="special_fund_projects")
    op.drop_table("special_fund_projects")
    op.drop_index("ix_special_fund_budgets_region_code", table_name="special_fund_budgets")
    op.drop_table("special_fund_budgets")
