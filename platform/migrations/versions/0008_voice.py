"""voice: numbers, calls and legs, IVR menus, recordings, agents' reach numbers

Revision ID: 0008_voice
Revises: 0007_billing
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from plateaux.platform.rls import disable_tenant_isolation, enable_tenant_isolation
from plateaux.platform.types import UTCDateTime

revision: str = "0008_voice"
down_revision: str | None = "0007_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("voice_settings", "ivr_menus", "voice_numbers", "voice_prompts",
                 "agent_reach", "calls", "call_legs")


def _base() -> list[sa.Column]:
    return [sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("tenant_id", sa.Uuid(), nullable=False)]


def _tenant_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table("voice_settings", *_base(),
    sa.Column("callback_countries", sa.JSON(), nullable=True),
    sa.Column("callback_max_attempts", sa.Integer(), nullable=False),
    sa.Column("callback_retry_seconds", sa.Integer(), nullable=False),
    sa.Column("callback_ring_seconds", sa.Integer(), nullable=False),
    sa.Column("recording_enabled", sa.Boolean(), nullable=False),
    sa.Column("recording_announcement", sa.JSON(), nullable=True),
    sa.Column("announce_every_seconds", sa.Integer(), nullable=False),
    sa.Column("video_widgets", sa.JSON(), nullable=True),
    sa.Column("hold_music_key", sa.String(length=300), nullable=True),
    sa.Column("relay_only", sa.Boolean(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id"))

    op.create_table("ivr_menus", *_base(),
    sa.Column("name", sa.String(length=120), nullable=False),
    sa.Column("definition", sa.JSON(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id", "name"))

    op.create_table("voice_numbers", *_base(),
    sa.Column("e164", sa.String(length=20), nullable=False),
    sa.Column("label", sa.String(length=120), nullable=False),
    sa.Column("ivr_id", sa.Uuid(), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["ivr_id"], ["ivr_menus.id"], ondelete="SET NULL"),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("e164"))

    op.create_table("voice_prompts", *_base(),
    sa.Column("ivr_id", sa.Uuid(), nullable=False),
    sa.Column("slot", sa.String(length=40), nullable=False),
    sa.Column("language", sa.String(length=10), nullable=False),
    sa.Column("storage_key", sa.String(length=300), nullable=False),
    sa.Column("filename", sa.String(length=200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["ivr_id"], ["ivr_menus.id"], ondelete="CASCADE"),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("tenant_id", "ivr_id", "slot", "language"))

    op.create_table("agent_reach", *_base(),
    sa.Column("user_id", sa.Uuid(), nullable=False),
    sa.Column("mode", sa.String(length=10), nullable=False),
    sa.Column("address", sa.String(length=300), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id", "user_id"))

    op.create_table("calls", *_base(),
    sa.Column("contact_id", sa.Uuid(), nullable=True),
    sa.Column("kind", sa.String(length=10), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("widget_id", sa.Uuid(), nullable=True),
    sa.Column("visitor_id", sa.Uuid(), nullable=True),
    sa.Column("customer_number", sa.String(length=20), nullable=True),
    sa.Column("dialed_number", sa.String(length=20), nullable=True),
    sa.Column("ivr_id", sa.Uuid(), nullable=True),
    sa.Column("language", sa.String(length=10), nullable=False),
    sa.Column("video", sa.Boolean(), nullable=False),
    sa.Column("scheduled_for", UTCDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("outcome", sa.String(length=30), nullable=True),
    sa.Column("recording_key", sa.String(length=300), nullable=True),
    sa.Column("voicemail_key", sa.String(length=300), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("answered_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["widget_id"], ["widgets.id"], ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["visitor_id"], ["visitors.id"], ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["ivr_id"], ["ivr_menus.id"], ondelete="SET NULL"),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("tenant_id", "contact_id"))
    op.create_index("ix_calls_tenant_status", "calls", ["tenant_id", "status"])

    op.create_table("call_legs", *_base(),
    sa.Column("call_id", sa.Uuid(), nullable=False),
    sa.Column("role", sa.String(length=12), nullable=False),
    sa.Column("kind", sa.String(length=10), nullable=False),
    sa.Column("direction", sa.String(length=10), nullable=False),
    sa.Column("user_id", sa.Uuid(), nullable=True),
    sa.Column("address", sa.String(length=300), nullable=False),
    sa.Column("status", sa.String(length=12), nullable=False),
    sa.Column("sip_call_id", sa.String(length=200), nullable=True),
    sa.Column("mode", sa.String(length=10), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("answered_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("end_reason", sa.String(length=40), nullable=True),
    sa.Column("sip_status", sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(["call_id"], ["calls.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
    _tenant_fk(), sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_call_legs_call", "call_legs", ["tenant_id", "call_id"])

    for table in TENANT_TABLES:
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        enable_tenant_isolation(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_isolation(table)
    for table in reversed(TENANT_TABLES):
        op.drop_table(table)
