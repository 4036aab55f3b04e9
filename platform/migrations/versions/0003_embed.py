"""embed: widgets, visitors, page views

Revision ID: 0003_embed
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from plateaux.platform.rls import disable_tenant_isolation, enable_tenant_isolation
from plateaux.platform.types import UTCDateTime

revision: str = "0003_embed"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("widgets", "visitors", "page_views")


def upgrade() -> None:
    op.create_table("widgets",
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("name", sa.String(length=120), nullable=False),
    sa.Column("public_key", sa.String(length=80), nullable=False),
    sa.Column("secret_encrypted", sa.String(length=500), nullable=False),
    sa.Column("allowed_domains", sa.JSON(), nullable=True),
    sa.Column("theme", sa.JSON(), nullable=True),
    sa.Column("greeting", sa.JSON(), nullable=True),
    sa.Column("languages", sa.JSON(), nullable=True),
    sa.Column("default_language", sa.String(length=10), nullable=False),
    sa.Column("buttons", sa.JSON(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("public_key")
    )
    with op.batch_alter_table("widgets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_widgets_tenant_id"), ["tenant_id"], unique=False)

    op.create_table("visitors",
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("widget_id", sa.Uuid(), nullable=False),
    sa.Column("token_hash", sa.String(length=64), nullable=False),
    sa.Column("external_id", sa.String(length=200), nullable=True),
    sa.Column("email", sa.String(length=320), nullable=True),
    sa.Column("name", sa.String(length=200), nullable=True),
    sa.Column("verified", sa.Boolean(), nullable=False),
    sa.Column("language", sa.String(length=10), nullable=False),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("current_url", sa.String(length=2000), nullable=True),
    sa.Column("current_title", sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["widget_id"], ["widgets.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("token_hash")
    )
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitors_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_visitors_widget", ["tenant_id", "widget_id"], unique=False)

    op.create_table("page_views",
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("visitor_id", sa.Uuid(), nullable=False),
    sa.Column("url", sa.String(length=2000), nullable=False),
    sa.Column("title", sa.String(length=500), nullable=False),
    sa.Column("referrer", sa.String(length=2000), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["visitor_id"], ["visitors.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("page_views", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_page_views_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_page_views_visitor", ["tenant_id", "visitor_id", "at"], unique=False)

    for table in TENANT_TABLES:
        enable_tenant_isolation(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_isolation(table)
    with op.batch_alter_table("page_views", schema=None) as batch_op:
        batch_op.drop_index("ix_page_views_visitor")
        batch_op.drop_index(batch_op.f("ix_page_views_tenant_id"))
    op.drop_table("page_views")
    with op.batch_alter_table("visitors", schema=None) as batch_op:
        batch_op.drop_index("ix_visitors_widget")
        batch_op.drop_index(batch_op.f("ix_visitors_tenant_id"))
    op.drop_table("visitors")
    with op.batch_alter_table("widgets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_widgets_tenant_id"))
    op.drop_table("widgets")
