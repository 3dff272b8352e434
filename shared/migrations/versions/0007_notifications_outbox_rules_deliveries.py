"""notifications: outbox, rules, deliveries

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 22:44:02.456030
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('notification_events',
    sa.Column('type', sa.Enum('certificate.issued', 'certificate.renewed', 'certificate.expiring', 'certificate.revoked', 'certificate.deleted', 'renewal.failed', 'renewal.overdue', 'request.failed', 'request.awaiting_manual_validation', 'deployment.failed', 'deployment.unconfirmed', name='eventtype', native_enum=False, length=64), nullable=False),
    sa.Column('certificate_id', sa.Uuid(), nullable=True),
    sa.Column('request_id', sa.Uuid(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('fanned_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_events')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_notification_events_dedupe_key'))
    )
    with op.batch_alter_table('notification_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_events_certificate_id'), ['certificate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_events_fanned_out_at'), ['fanned_out_at'], unique=False)

    op.create_table('notification_rules',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.Enum('email', 'webhook', name='channel', native_enum=False, length=32), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=True),
    sa.Column('secret_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('domains', sa.JSON(), nullable=False),
    sa.Column('expiry_thresholds_days', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_rules')),
    sa.UniqueConstraint('name', name=op.f('uq_notification_rules_name'))
    )
    with op.batch_alter_table('notification_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_rules_created_at'), ['created_at'], unique=False)

    op.create_table('notification_deliveries',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('rule_id', sa.Uuid(), nullable=True),
    sa.Column('event', sa.Enum('certificate.issued', 'certificate.renewed', 'certificate.expiring', 'certificate.revoked', 'certificate.deleted', 'renewal.failed', 'renewal.overdue', 'request.failed', 'request.awaiting_manual_validation', 'deployment.failed', 'deployment.unconfirmed', name='eventtype', native_enum=False, length=64), nullable=False),
    sa.Column('certificate_id', sa.Uuid(), nullable=True),
    sa.Column('request_id', sa.Uuid(), nullable=True),
    sa.Column('threshold_days', sa.Integer(), nullable=True),
    sa.Column('channel', sa.Enum('email', 'webhook', name='channel', native_enum=False, length=32), nullable=False),
    sa.Column('recipient', sa.String(length=2048), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sent', 'failed', 'dead', name='deliverystatus', native_enum=False, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['notification_events.id'], name=op.f('fk_notification_deliveries_event_id_notification_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['notification_rules.id'], name=op.f('fk_notification_deliveries_rule_id_notification_rules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_deliveries')),
    sa.UniqueConstraint('key', name=op.f('uq_notification_deliveries_key'))
    )
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_deliveries_certificate_id'), ['certificate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_deliveries_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_deliveries_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_deliveries_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_deliveries_rule_id'), ['rule_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_deliveries_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_status'))
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_rule_id'))
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_event_id'))
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_created_at'))
        batch_op.drop_index(batch_op.f('ix_notification_deliveries_certificate_id'))

    op.drop_table('notification_deliveries')
    with op.batch_alter_table('notification_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_rules_created_at'))

    op.drop_table('notification_rules')
    with op.batch_alter_table('notification_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_events_fanned_out_at'))
        batch_op.drop_index(batch_op.f('ix_notification_events_certificate_id'))

    op.drop_table('notification_events')
