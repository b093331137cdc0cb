"""cold chain lots event log checkpoints telemetry and administrations

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-22 21:40:00.000000

Cold-chain traceability (R-VX-6) and the doses given (issue 6 items 4 and 7): vaccine lots; the
Merkle event log, one leaf per event, its index handed out under the lock of the one
coldchain_log_head row (seeded here at size 0), which also keeps the compact frontier; signed
checkpoints, one per tree size; telemetry
readings (one per device and time), rejected rows with their reason, alarms unique per device,
kind and start, and the lots an excursion exposed; the administrations, one per person, series
and dose number. A test checks that the upgraded database matches the models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('coldchain_alarms',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('celsius', sa.Float(), nullable=True),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('extreme_c', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('heat', 'freeze', 'no_data')", name=op.f('ck_coldchain_alarms_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coldchain_alarms')),
    sa.UniqueConstraint('device_id', 'kind', 'since', name=op.f('uq_coldchain_alarms_device_id_kind_since'))
    )
    with op.batch_alter_table('coldchain_alarms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coldchain_alarms_device_id'), ['device_id'], unique=False)

    op.create_table('coldchain_checkpoints',
    sa.Column('size', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('key_id', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('size >= 0', name=op.f('ck_coldchain_checkpoints_size_not_negative')),
    sa.PrimaryKeyConstraint('size', name=op.f('pk_coldchain_checkpoints'))
    )
    op.create_table('coldchain_log_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('frontier', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coldchain_log_head'))
    )
    op.create_table('coldchain_readings',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('celsius', sa.Float(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'at', name=op.f('pk_coldchain_readings'))
    )
    op.create_table('coldchain_rejected_readings',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coldchain_rejected_readings'))
    )
    op.create_table('vaccine_lots',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('manufacturer', sa.String(length=200), nullable=False),
    sa.Column('product', sa.String(length=32), nullable=False),
    sa.Column('lot_number', sa.String(length=64), nullable=False),
    sa.Column('expiry', sa.Date(), nullable=False),
    sa.Column('vvm_stage', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.String(length=64), nullable=True),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('usable', 'suspect', 'recalled', 'discarded')", name=op.f('ck_vaccine_lots_status')),
    sa.CheckConstraint('vvm_stage BETWEEN 1 AND 4', name=op.f('ck_vaccine_lots_vvm_stage')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vaccine_lots')),
    sa.UniqueConstraint('manufacturer', 'lot_number', name=op.f('uq_vaccine_lots_manufacturer_lot_number'))
    )
    with op.batch_alter_table('vaccine_lots', schema=None) as batch_op:
        batch_op.create_index('ix_vaccine_lots_region_code', ['region_code'], unique=False)

    op.create_table('coldchain_events',
    sa.Column('leaf_index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('lot_id', sa.String(length=32), nullable=False),
    sa.Column('location_id', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('leaf', sa.LargeBinary(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('received', 'stored', 'shipped', 'administered', 'discarded', 'suspect', 'recalled')", name=op.f('ck_coldchain_events_kind')),
    sa.CheckConstraint('leaf_index >= 0', name=op.f('ck_coldchain_events_leaf_index_not_negative')),
    sa.ForeignKeyConstraint(['lot_id'], ['vaccine_lots.id'], name=op.f('fk_coldchain_events_lot_id_vaccine_lots')),
    sa.PrimaryKeyConstraint('leaf_index', name=op.f('pk_coldchain_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_coldchain_events_event_id'))
    )
    with op.batch_alter_table('coldchain_events', schema=None) as batch_op:
        batch_op.create_index('ix_coldchain_events_location_id', ['location_id'], unique=False)
        batch_op.create_index('ix_coldchain_events_lot_id_at', ['lot_id', 'at'], unique=False)

    op.create_table('coldchain_lot_exposures',
    sa.Column('lot_id', sa.String(length=32), nullable=False),
    sa.Column('alarm_id', sa.String(length=32), nullable=False),
    sa.Column('event_index', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alarm_id'], ['coldchain_alarms.id'], name=op.f('fk_coldchain_lot_exposures_alarm_id_coldchain_alarms')),
    sa.ForeignKeyConstraint(['lot_id'], ['vaccine_lots.id'], name=op.f('fk_coldchain_lot_exposures_lot_id_vaccine_lots')),
    sa.PrimaryKeyConstraint('lot_id', 'alarm_id', name=op.f('pk_coldchain_lot_exposures'))
    )
    op.create_table('vaccination_administrations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('lot_id', sa.String(length=32), nullable=False),
    sa.Column('series', sa.String(length=32), nullable=False),
    sa.Column('dose_number', sa.Integer(), nullable=False),
    sa.Column('site', sa.String(length=32), nullable=False),
    sa.Column('vaccinator_id', sa.String(length=32), nullable=False),
    sa.Column('vaccinator', sa.String(length=64), nullable=False),
    sa.Column('provider_id', sa.String(length=32), nullable=True),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('administered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('observe_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_by', sa.String(length=64), nullable=True),
    sa.Column('event_index', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("site IN ('left_deltoid', 'right_deltoid', 'left_thigh', 'right_thigh', 'left_buttock', 'right_buttock', 'oral', 'intranasal', 'intradermal_left_arm', 'intradermal_right_arm')", name=op.f('ck_vaccination_administrations_site')),
    sa.CheckConstraint('dose_number >= 1', name=op.f('ck_vaccination_administrations_dose_number_positive')),
    sa.ForeignKeyConstraint(['lot_id'], ['vaccine_lots.id'], name=op.f('fk_vaccination_administrations_lot_id_vaccine_lots')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_vaccination_administrations_provider_id_providers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vaccination_administrations')),
    sa.UniqueConstraint('person_id', 'series', 'dose_number', name=op.f('uq_vaccination_administrations_person_id_series_dose_number'))
    )
    with op.batch_alter_table('vaccination_administrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vaccination_administrations_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vaccination_administrations_person_id'), ['person_id'], unique=False)
        batch_op.create_index('ix_vaccination_administrations_region_code_observe', ['region_code', 'observe_until'], unique=False)

    head = sa.table(
        'coldchain_log_head',
        sa.column('id', sa.Integer),
        sa.column('size', sa.Integer),
        sa.column('frontier', sa.LargeBinary),
    )
    op.bulk_insert(head, [{'id': 1, 'size': 0, 'frontier': b''}])


def downgrade() -> None:
    with op.batch_alter_table('vaccination_administrations', schema=None) as batch_op:
        batch_op.drop_index('ix_vaccination_administrations_region_code_observe')
        batch_op.drop_index(batch_op.f('ix_vaccination_administrations_person_id'))
        batch_op.drop_index(batch_op.f('ix_vaccination_administrations_lot_id'))

    op.drop_table('vaccination_administrations')
    op.drop_table('coldchain_lot_exposures')
    with op.batch_alter_table('coldchain_events', schema=None) as batch_op:
        batch_op.drop_index('ix_coldchain_events_lot_id_at')
        batch_op.drop_index('ix_coldchain_events_location_id')

    op.drop_table('coldchain_events')
    with op.batch_alter_table('vaccine_lots', schema=None) as batch_op:
        batch_op.drop_index('ix_vaccine_lots_region_code')

    op.drop_table('vaccine_lots')
    op.drop_table('coldchain_rejected_readings')
    op.drop_table('coldchain_readings')
    op.drop_table('coldchain_log_head')
    op.drop_table('coldchain_checkpoints')
    with op.batch_alter_table('coldchain_alarms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coldchain_alarms_device_id'))

    op.drop_table('coldchain_alarms')
