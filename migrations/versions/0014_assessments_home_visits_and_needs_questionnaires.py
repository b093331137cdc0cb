"""assessments home visits and needs questionnaires

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22 21:50:00

Demand monitoring from the field (R-DM-1, issue 5 item 7): Barthel capability assessments
(total 0-100 and the disability level it grades to, CHECKed), home visits by grid workers and
family doctors (free note encrypted; one visit per visitor and idempotency key, so a form
re-sent on a slow connection counts once) and needs questionnaires (the same key per
submitter). A test checks that the upgraded database matches carematch.assessments.models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carematch.security.crypto

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('home_visits',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('visitor_user_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('visited_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lives_alone', sa.Boolean(), nullable=True),
    sa.Column('needs', sa.String(length=400), nullable=False),
    sa.Column('note', carematch.security.crypto.EncryptedText(), nullable=True),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('idempotency_key', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('grid_worker', 'family_doctor')", name=op.f('ck_home_visits_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_home_visits')),
    sa.UniqueConstraint('visitor_user_id', 'idempotency_key', name=op.f('uq_home_visits_visitor_user_id_idempotency_key'))
    )
    op.create_index('ix_home_visits_person_id_visited_at', 'home_visits', ['person_id', 'visited_at'], unique=False)
    op.create_index('ix_home_visits_region_code', 'home_visits', ['region_code'], unique=False)
    op.create_table('needs_questionnaires',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('needs', sa.String(length=400), nullable=False),
    sa.Column('other', carematch.security.crypto.EncryptedText(), nullable=True),
    sa.Column('submitted_by', sa.String(length=32), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('idempotency_key', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("channel IN ('self', 'staff')", name=op.f('ck_needs_questionnaires_channel')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_needs_questionnaires')),
    sa.UniqueConstraint('submitted_by', 'idempotency_key', name=op.f('uq_needs_questionnaires_submitted_by_idempotency_key'))
    )
    op.create_index('ix_needs_questionnaires_person_id_submitted_at', 'needs_questionnaires', ['person_id', 'submitted_at'], unique=False)
    op.create_index('ix_needs_questionnaires_region_code', 'needs_questionnaires', ['region_code'], unique=False)
    op.create_table('assessments',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('instrument', sa.String(length=32), nullable=False),
    sa.Column('answers', sa.Text(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('disability_level', sa.Integer(), nullable=False),
    sa.Column('assessed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assessed_by', sa.String(length=32), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('home_visit_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('disability_level >= 0 AND disability_level <= 4', name=op.f('ck_assessments_level_range')),
    sa.CheckConstraint('total >= 0 AND total <= 100', name=op.f('ck_assessments_total_range')),
    sa.ForeignKeyConstraint(['home_visit_id'], ['home_visits.id'], name=op.f('fk_assessments_home_visit_id_home_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessments'))
    )
    op.create_index(op.f('ix_assessments_home_visit_id'), 'assessments', ['home_visit_id'], unique=False)
    op.create_index('ix_assessments_person_id_assessed_at', 'assessments', ['person_id', 'assessed_at'], unique=False)
    op.create_index('ix_assessments_region_code', 'assessments', ['region_code'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_assessments_region_code', table_name='assessments')
    op.drop_index('ix_assessments_person_id_assessed_at', table_name='assessments')
    op.drop_index(op.f('ix_assessments_home_visit_id'), table_name='assessments')
    op.drop_table('assessments')
    op.drop_index('ix_needs_questionnaires_region_code', table_name='needs_questionnaires')
    op.drop_index('ix_needs_questionnaires_person_id_submitted_at', table_name='needs_questionnaires')
    op.drop_table('needs_questionnaires')
    op.drop_index('ix_home_visits_region_code', table_name='home_visits')
    op.drop_index('ix_home_visits_person_id_visited_at', table_name='home_visits')
    op.drop_table('home_visits')
