"""email channel: mailboxes, messages, quarantine

Revision ID: 0006_email
Revises: 0005_console
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from plateaux.platform.rls import disable_tenant_isolation, enable_tenant_isolation
from plateaux.platform.types import UTCDateTime

revision: str = "0006_email"
down_revision: str | None = "0005_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("mailboxes", "email_threads", "email_messages", "email_references",
                 "email_attachments", "email_receipts", "email_quarantine", "email_addresses")


def upgrade() -> None:
    op.create_table('email_addresses',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('bounce_count', sa.Integer(), nullable=False),
    sa.Column('bounced_at', UTCDateTime(), nullable=True),
    sa.Column('bounce_reason', sa.String(length=500), nullable=True),
    sa.Column('acks_window_at', UTCDateTime(), nullable=True),
    sa.Column('acks_in_window', sa.Integer(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'address')
    )
    with op.batch_alter_table('email_addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_addresses_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('mailboxes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('imap_host', sa.String(length=255), nullable=False),
    sa.Column('imap_port', sa.Integer(), nullable=False),
    sa.Column('imap_security', sa.String(length=10), nullable=False),
    sa.Column('imap_username', sa.String(length=320), nullable=False),
    sa.Column('imap_password_encrypted', sa.String(length=2000), nullable=False),
    sa.Column('imap_folder', sa.String(length=200), nullable=False),
    sa.Column('smtp_host', sa.String(length=255), nullable=False),
    sa.Column('smtp_port', sa.Integer(), nullable=False),
    sa.Column('smtp_security', sa.String(length=10), nullable=False),
    sa.Column('smtp_username', sa.String(length=320), nullable=False),
    sa.Column('smtp_password_encrypted', sa.String(length=2000), nullable=False),
    sa.Column('queue_id', sa.Uuid(), nullable=True),
    sa.Column('workflow_id', sa.Uuid(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('use_idle', sa.Boolean(), nullable=False),
    sa.Column('poll_seconds', sa.Integer(), nullable=False),
    sa.Column('ack_enabled', sa.Boolean(), nullable=False),
    sa.Column('ack_subject', sa.String(length=200), nullable=False),
    sa.Column('ack_text', sa.Text(), nullable=False),
    sa.Column('uid_validity', sa.BigInteger(), nullable=True),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.Column('failing_uid', sa.BigInteger(), nullable=True),
    sa.Column('failing_count', sa.Integer(), nullable=False),
    sa.Column('last_fetch_at', UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('last_error_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['queue_id'], ['routing_queues.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workflow_id'], ['routing_workflows.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'address')
    )
    with op.batch_alter_table('mailboxes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mailboxes_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('email_quarantine',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.Column('uid_validity', sa.BigInteger(), nullable=False),
    sa.Column('uid', sa.BigInteger(), nullable=False),
    sa.Column('raw_key', sa.String(length=300), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('sender', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('resolved_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('email_quarantine', schema=None) as batch_op:
        batch_op.create_index('ix_email_quarantine_mailbox', ['tenant_id', 'mailbox_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_quarantine_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('email_receipts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('mailbox_id', sa.Uuid(), nullable=False),
    sa.Column('uid_validity', sa.BigInteger(), nullable=False),
    sa.Column('uid', sa.BigInteger(), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('email_message_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('mailbox_id', 'uid_validity', 'uid')
    )
    with op.batch_alter_table('email_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_receipts_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('email_threads',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('mailbox_id', sa.Uuid(), nullable=True),
    sa.Column('contact_id', sa.Uuid(), nullable=True),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('customer_address', sa.String(length=320), nullable=False),
    sa.Column('customer_name', sa.String(length=200), nullable=True),
    sa.Column('reply_token', sa.String(length=40), nullable=False),
    sa.Column('message_count', sa.Integer(), nullable=False),
    sa.Column('last_message_at', UTCDateTime(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'reply_token')
    )
    with op.batch_alter_table('email_threads', schema=None) as batch_op:
        batch_op.create_index('ix_email_threads_contact', ['tenant_id', 'contact_id'], unique=False)
        batch_op.create_index('ix_email_threads_customer', ['tenant_id', 'customer_address'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_threads_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('email_messages',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('thread_id', sa.Uuid(), nullable=True),
    sa.Column('mailbox_id', sa.Uuid(), nullable=True),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('message_key', sa.String(length=300), nullable=False),
    sa.Column('message_id', sa.String(length=500), nullable=False),
    sa.Column('synthetic_id', sa.Boolean(), nullable=False),
    sa.Column('in_reply_to', sa.String(length=500), nullable=True),
    sa.Column('references', sa.JSON(), nullable=True),
    sa.Column('from_address', sa.String(length=320), nullable=False),
    sa.Column('from_name', sa.String(length=200), nullable=True),
    sa.Column('to', sa.JSON(), nullable=True),
    sa.Column('cc', sa.JSON(), nullable=True),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('new_text', sa.Text(), nullable=False),
    sa.Column('quoted_text', sa.Text(), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('auto_kind', sa.String(length=20), nullable=True),
    sa.Column('raw_key', sa.String(length=300), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('author_id', sa.Uuid(), nullable=True),
    sa.Column('author_name', sa.String(length=200), nullable=True),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('attachments', sa.JSON(), nullable=True),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['email_threads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'message_key'),
    sa.UniqueConstraint('thread_id', 'client_id')
    )
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_messages_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_email_messages_thread', ['tenant_id', 'thread_id', 'created_at'], unique=False)

    op.create_table('email_attachments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('thread_id', sa.Uuid(), nullable=False),
    sa.Column('message_id', sa.Uuid(), nullable=True),
    sa.Column('storage_key', sa.String(length=300), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content_id', sa.String(length=300), nullable=True),
    sa.Column('inline', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['email_messages.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['email_threads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('email_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_attachments_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_email_attachments_thread', ['tenant_id', 'thread_id'], unique=False)

    op.create_table('email_references',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('message_id', sa.Uuid(), nullable=False),
    sa.Column('thread_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['email_messages.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['email_threads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('email_references', schema=None) as batch_op:
        batch_op.create_index('ix_email_references_key', ['tenant_id', 'key'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_references_tenant_id'), ['tenant_id'], unique=False)
    for table in TENANT_TABLES:
        enable_tenant_isolation(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_isolation(table)
    with op.batch_alter_table('email_references', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_references_tenant_id'))
        batch_op.drop_index('ix_email_references_key')

    op.drop_table('email_references')
    with op.batch_alter_table('email_attachments', schema=None) as batch_op:
        batch_op.drop_index('ix_email_attachments_thread')
        batch_op.drop_index(batch_op.f('ix_email_attachments_tenant_id'))

    op.drop_table('email_attachments')
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_email_messages_thread')
        batch_op.drop_index(batch_op.f('ix_email_messages_tenant_id'))

    op.drop_table('email_messages')
    with op.batch_alter_table('email_threads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_threads_tenant_id'))
        batch_op.drop_index('ix_email_threads_customer')
        batch_op.drop_index('ix_email_threads_contact')

    op.drop_table('email_threads')
    with op.batch_alter_table('email_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_receipts_tenant_id'))

    op.drop_table('email_receipts')
    with op.batch_alter_table('email_quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_quarantine_tenant_id'))
        batch_op.drop_index('ix_email_quarantine_mailbox')

    op.drop_table('email_quarantine')
    with op.batch_alter_table('mailboxes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mailboxes_tenant_id'))

    op.drop_table('mailboxes')
    with op.batch_alter_table('email_addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_addresses_tenant_id'))

    op.drop_table('email_addresses')
