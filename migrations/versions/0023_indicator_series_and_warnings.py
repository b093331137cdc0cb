"""indicators: stored series and warnings (issue 8 items 4-5)

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-23 00:45:00.000000

Reserved in the chain so that work on several domains can land in any order; the domain's
tables are added here by the change that introduces them.
"""

from collections.abc import Sequence

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
