"""vaccination pre-screening review aefi and outreach

Revision ID: 0017
Revises: 0016

Vaccination safety (R-VX-3, R-VX-4; issue 6 items 3 and 5): pre-screenings with their automatic
outcome kept beside the reviewer's decision; AEFI reports with their deadline, onset-window flag
and cluster, and the clusters raised once each; outreach contacts with lapsed children and the
reason they lapsed. Answers, reasons, notes and descriptions are encrypted. A test checks that
the upgraded database matches carematch.vaccination.safety_models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carematch.security.crypto

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('vaccination_outreach_contacts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('note', carematch.security.crypto.EncryptedText(), nullable=True),
    sa.Column('doses_overdue', sa.Integer(), nullable=False),
    sa.Column('remind_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminder_key', sa.String(length=200), nullable=True),
    sa.Column('contacted_by', sa.String(length=64), nullable=False),
    sa.Column('contacted_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('reached', 'unreachable', 'moved_away', 'refused', 'will_come')", name=op.f('ck_vaccination_outreach_contacts_outcome')),
    sa.CheckConstraint("reason IS NULL OR reason IN ('moved', 'forgot', 'illness', 'fear_of_reactions', 'travel_cost', 'work_hours', 'vaccine_shortage', 'other')", name=op.f('ck_vaccination_outreach_contacts_reason')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vaccination_outreach_contacts'))
    )
    op.create_index('ix_vaccination_outreach_contacts_community_code', 'vaccination_outreach_contacts', ['community_code'], unique=False)
    op.create_index('ix_vaccination_outreach_contacts_person_id', 'vaccination_outreach_contacts', ['person_id'], unique=False)
    op.create_table('vaccination_prescreenings',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('series', sa.String(length=16), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('answers', carematch.security.crypto.EncryptedText(), nullable=False),
    sa.Column('findings', carematch.security.crypto.EncryptedText(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('suggested', sa.String(length=16), nullable=False),
    sa.Column('review_required', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('decision_note', carematch.security.crypto.EncryptedText(), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("decision IS NULL OR decision IN ('approve', 'defer', 'contraindicate')", name=op.f('ck_vaccination_prescreenings_decision')),
    sa.CheckConstraint("outcome IN ('pass', 'defer', 'contraindicated', 'needs_review')", name=op.f('ck_vaccination_prescreenings_outcome')),
    sa.CheckConstraint("status IN ('pass', 'defer', 'contraindicated', 'needs_review')", name=op.f('ck_vaccination_prescreenings_status')),
    sa.CheckConstraint("suggested IN ('pass', 'defer', 'contraindicated', 'needs_review')", name=op.f('ck_vaccination_prescreenings_suggested')),
    sa.CheckConstraint('(decision IS NULL) = (decided_at IS NULL)', name=op.f('ck_vaccination_prescreenings_decided_at_exactly_when_decided')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vaccination_prescreenings'))
    )
    op.create_index('ix_vaccination_prescreenings_person_id_created_at', 'vaccination_prescreenings', ['person_id', 'created_at'], unique=False)
    op.create_index('ix_vaccination_prescreenings_region_code_status', 'vaccination_prescreenings', ['region_code', 'status'], unique=False)
    op.create_table('vaccination_aefi_clusters',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('provider_id', sa.String(length=32), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('series', sa.String(length=16), nullable=False),
    sa.Column('lot', sa.String(length=64), nullable=True),
    sa.Column('first_onset_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_onset_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_vaccination_aefi_clusters_provider_id_providers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vaccination_aefi_clusters'))
    )
    op.create_index('ix_vaccination_aefi_clusters_provider_id_category', 'vaccination_aefi_clusters', ['provider_id', 'category'], unique=False)
    op.create_index('ix_vaccination_aefi_clusters_region_code', 'vaccination_aefi_clusters', ['region_code'], unique=False)
    op.create_table('vaccination_aefi_reports',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('series', sa.String(length=16), nullable=False),
    sa.Column('dose', sa.Integer(), nullable=True),
    sa.Column('lot', sa.String(length=64), nullable=True),
    sa.Column('provider_id', sa.String(length=32), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('dose_given_on', sa.Date(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('serious', sa.Boolean(), nullable=False),
    sa.Column('death', sa.Boolean(), nullable=False),
    sa.Column('onset_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('found_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('onset_in_window', sa.Boolean(), nullable=False),
    sa.Column('description', carematch.security.crypto.EncryptedText(), nullable=False),
    sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.String(length=32), nullable=True),
    sa.Column('reported_by', sa.String(length=64), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('dose IS NULL OR dose >= 1', name=op.f('ck_vaccination_aefi_reports_dose_positive')),
    sa.ForeignKeyConstraint(['cluster_id'], ['vaccination_aefi_clusters.id'], name=op.f('fk_vaccination_aefi_reports_cluster_id_vaccination_aefi_clusters')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_vaccination_aefi_reports_provider_id_providers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vaccination_aefi_reports'))
    )
    op.create_index('ix_vaccination_aefi_reports_cluster_id', 'vaccination_aefi_reports', ['cluster_id'], unique=False)
    op.create_index('ix_vaccination_aefi_reports_person_id', 'vaccination_aefi_reports', ['person_id'], unique=False)
    op.create_index('ix_vaccination_aefi_reports_provider_id_category', 'vaccination_aefi_reports', ['provider_id', 'category'], unique=False)
    op.create_index('ix_vaccination_aefi_reports_region_code_reported_at', 'vaccination_aefi_reports', ['region_code', 'reported_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_vaccination_aefi_reports_region_code_reported_at', table_name='vaccination_aefi_reports')
    op.drop_index('ix_vaccination_aefi_reports_provider_id_category', table_name='vaccination_aefi_reports')
    op.drop_index('ix_vaccination_aefi_reports_person_id', table_name='vaccination_aefi_reports')
    op.drop_index('ix_vaccination_aefi_reports_cluster_id', table_name='vaccination_aefi_reports')
    op.drop_table('vaccination_aefi_reports')
    op.drop_index('ix_vaccination_aefi_clusters_region_code', table_name='vaccination_aefi_clusters')
    op.drop_index('ix_vaccination_aefi_clusters_provider_id_category', table_name='vaccination_aefi_clusters')
    op.drop_table('vaccination_aefi_clusters')
    op.drop_index('ix_vaccination_prescreenings_region_code_status', table_name='vaccination_prescreenings')
    op.drop_index('ix_vaccination_prescreenings_person_id_created_at', table_name='vaccination_prescreenings')
    op.drop_table('vaccination_prescreenings')
    op.drop_index('ix_vaccination_outreach_contacts_person_id', table_name='vaccination_outreach_contacts')
    op.drop_index('ix_vaccination_outreach_contacts_community_code', table_name='vaccination_outreach_contacts')
    op.drop_table('vaccination_outreach_contacts')
