"""console: canned responses and wrap-up codes

Revision ID: 0005_console
Revises: 0004_chat
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from plateaux.platform.rls import disable_tenant_isolation, enable_tenant_isolation
from plateaux.platform.types import UTCDateTime

revision: str = "0005_console"
down_revision: str | None = "0004_chat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("canned_responses", "wrap_up_codes")


def upgrade() -> None:
    op.create_table("canned_responses",
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("shortcut", sa.String(length=40), nullable=False),
    sa.Column("title", sa.String(length=120), nullable=False),
    sa.Column("body", sa.String(length=4000), nullable=False),
    sa.Column("language", sa.String(length=10), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("tenant_id", "shortcut", "language")
    )
    with op.batch_alter_table("canned_responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_canned_responses_tenant_id"), ["tenant_id"],
                              unique=False)

    op.create_table("wrap_up_codes",
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("code", sa.String(length=40), nullable=False),
    sa.Column("label", sa.String(length=120), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("tenant_id", "code")
    )
    with op.batch_alter_table("wrap_up_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wrap_up_codes_tenant_id"), ["tenant_id"],
                              unique=False)
    for table in TENANT_TABLES:
        enable_tenant_isolation(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_isolation(table)
    with op.batch_alter_table("wrap_up_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wrap_up_codes_tenant_id"))
    op.drop_table("wrap_up_codes")
    with op.batch_alter_table("canned_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_canned_responses_tenant_id"))
    op.drop_table("canned_responses")
