"""remote consultations and encrypted attachments

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 21:50:00

Remote consultation (远程会诊, R-SV-5, issue 5 item 8): a primary-care provider's request to
the county hospital about one person, with its status, answer, turnaround and the referral that
followed; and the metadata of its attachments, whose bytes are sealed files in the data
directory (AES-GCM), with the SHA-256 of the plaintext. Question, findings, advice, reasons and
file names are encrypted. A test checks that the upgraded database matches
carematch.consultation.models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carematch.security.crypto

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "'requested', 'accepted', 'answered', 'closed', 'declined', 'cancelled'"
URGENCIES = "'routine', 'urgent', 'emergency'"
SPECIALTIES = (
    "'cardiology', 'radiology', 'ultrasound', 'internal_medicine', 'endocrinology', "
    "'neurology', 'respiratory', 'paediatrics', 'obstetrics', 'dermatology', 'general_surgery'"
)
CONTENT_TYPES = (
    "'application/pdf', 'image/png', 'image/jpeg', 'application/dicom', 'text/csv', "
    "'text/plain'"
)


def upgrade() -> None:
    encrypted = carematch.security.crypto.EncryptedText
    op.create_table(
        'consultations',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('person_id', sa.String(length=32), nullable=False),
        sa.Column('from_provider_id', sa.String(length=32), nullable=False),
        sa.Column('to_provider_id', sa.String(length=32), nullable=False),
        sa.Column('from_region', sa.String(length=12), nullable=True),
        sa.Column('to_region', sa.String(length=12), nullable=True),
        sa.Column('specialty', sa.String(length=32), nullable=False),
        sa.Column('urgency', sa.String(length=16), nullable=False),
        sa.Column('question', encrypted(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('accepted_by', sa.String(length=64), nullable=True),
        sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answered_by', sa.String(length=64), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('findings', encrypted(), nullable=True),
        sa.Column('advice', encrypted(), nullable=True),
        sa.Column('ended_by', sa.String(length=64), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_reason', encrypted(), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('referral_id', sa.String(length=32), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('from_provider_id <> to_provider_id', name=op.f('ck_consultations_two_ends')),
        sa.CheckConstraint(f'status IN ({STATUSES})', name=op.f('ck_consultations_status')),
        sa.CheckConstraint(f'urgency IN ({URGENCIES})', name=op.f('ck_consultations_urgency')),
        sa.CheckConstraint(f'specialty IN ({SPECIALTIES})', name=op.f('ck_consultations_specialty')),
        sa.ForeignKeyConstraint(['from_provider_id'], ['providers.id'], name=op.f('fk_consultations_from_provider_id_providers')),
        sa.ForeignKeyConstraint(['to_provider_id'], ['providers.id'], name=op.f('fk_consultations_to_provider_id_providers')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consultations')),
    )
    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.create_index('ix_consultations_from_region_requested_at', ['from_region', 'requested_at'], unique=False)
        batch_op.create_index('ix_consultations_person_id', ['person_id'], unique=False)
        batch_op.create_index('ix_consultations_requested_at', ['requested_at'], unique=False)
        batch_op.create_index('ix_consultations_to_region_status', ['to_region', 'status'], unique=False)

    op.create_table(
        'consultation_attachments',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('consultation_id', sa.String(length=32), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('file_name', encrypted(), nullable=False),
        sa.Column('content_type', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('size_bytes', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('uploaded_by', sa.String(length=64), nullable=False),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f'content_type IN ({CONTENT_TYPES})', name=op.f('ck_consultation_attachments_content_type')),
        sa.CheckConstraint('size_bytes > 0', name=op.f('ck_consultation_attachments_size_positive')),
        sa.ForeignKeyConstraint(['consultation_id'], ['consultations.id'], name=op.f('fk_consultation_attachments_consultation_id_consultations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_attachments')),
        sa.UniqueConstraint('consultation_id', 'position', name=op.f('uq_consultation_attachments_consultation_id_position')),
    )
    with op.batch_alter_table('consultation_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultation_attachments_consultation_id'), ['consultation_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consultation_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultation_attachments_consultation_id'))
    op.drop_table('consultation_attachments')
    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.drop_index('ix_consultations_to_region_status')
        batch_op.drop_index('ix_consultations_requested_at')
        batch_op.drop_index('ix_consultations_person_id')
        batch_op.drop_index('ix_consultations_from_region_requested_at')
    op.drop_table('consultations')
