"""chat: conversations, numbered messages, attachments

Revision ID: 0004_chat
Revises: 0003_embed
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from plateaux.platform.rls import disable_tenant_isolation, enable_tenant_isolation
from plateaux.platform.types import UTCDateTime

revision: str = "0004_chat"
down_revision: str | None = "0003_embed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("conversations", "conversation_messages", "attachments")


def upgrade() -> None:
    op.create_table("conversations",
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("widget_id", sa.Uuid(), nullable=True),
    sa.Column("visitor_id", sa.Uuid(), nullable=True),
    sa.Column("contact_id", sa.Uuid(), nullable=True),
    sa.Column("channel", sa.String(length=20), nullable=False),
    sa.Column("status", sa.String(length=10), nullable=False),
    sa.Column("ended_by", sa.String(length=10), nullable=True),
    sa.Column("last_seq", sa.Integer(), nullable=False),
    sa.Column("visitor_read_seq", sa.Integer(), nullable=False),
    sa.Column("agent_read_seq", sa.Integer(), nullable=False),
    sa.Column("rating", sa.Integer(), nullable=True),
    sa.Column("rating_comment", sa.String(length=2000), nullable=True),
    sa.Column("language", sa.String(length=10), nullable=False),
    sa.Column("contact_name", sa.String(length=200), nullable=True),
    sa.Column("contact_email", sa.String(length=320), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["visitor_id"], ["visitors.id"], ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["widget_id"], ["widgets.id"], ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index("ix_conversations_contact", ["tenant_id", "contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conversations_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_conversations_visitor", ["tenant_id", "visitor_id", "created_at"], unique=False)

    op.create_table("attachments",
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("conversation_id", sa.Uuid(), nullable=False),
    sa.Column("storage_key", sa.String(length=300), nullable=False),
    sa.Column("filename", sa.String(length=255), nullable=False),
    sa.Column("content_type", sa.String(length=100), nullable=False),
    sa.Column("size", sa.Integer(), nullable=False),
    sa.Column("uploaded_by", sa.String(length=12), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.create_index("ix_attachments_conversation", ["tenant_id", "conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_attachments_tenant_id"), ["tenant_id"], unique=False)

    op.create_table("conversation_messages",
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("conversation_id", sa.Uuid(), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=10), nullable=False),
    sa.Column("author_type", sa.String(length=12), nullable=False),
    sa.Column("author_id", sa.Uuid(), nullable=True),
    sa.Column("author_name", sa.String(length=200), nullable=True),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("attachments", sa.JSON(), nullable=True),
    sa.Column("client_id", sa.String(length=64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("conversation_id", "client_id"),
    sa.UniqueConstraint("conversation_id", "seq")
    )
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversation_messages_tenant_id"), ["tenant_id"], unique=False)

    for table in TENANT_TABLES:
        enable_tenant_isolation(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_isolation(table)
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_messages_tenant_id"))

    op.drop_table("conversation_messages")
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachments_tenant_id"))
        batch_op.drop_index("ix_attachments_conversation")

    op.drop_table("attachments")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_visitor")
        batch_op.drop_index(batch_op.f("ix_conversations_tenant_id"))
        batch_op.drop_index("ix_conversations_contact")

    op.drop_table("conversations")
