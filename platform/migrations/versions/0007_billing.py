"""billing: plans, subscriptions, usage ledger, Stripe events

Revision ID: 0007_billing
Revises: 0006_email
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from plateaux.platform.rls import disable_tenant_isolation, enable_tenant_isolation
from plateaux.platform.types import UTCDateTime

revision: str = "0007_billing"
down_revision: str | None = "0006_email"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("billing_accounts", "usage_records", "usage_reports")

# The ledger is append-only: nothing may change a recorded event or delete it, except the
# one-time claim of a row by a report, and the cascade of a tenant's deletion (a trigger
# fired from the foreign key's own trigger, hence the depth test).
APPEND_ONLY = """
CREATE FUNCTION usage_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF pg_trigger_depth() > 1 THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'usage records are append-only';
    END IF;
    IF OLD.report_id IS NOT NULL
       OR (NEW.id, NEW.tenant_id, NEW.key, NEW.meter, NEW.quantity, NEW.seconds,
           NEW.contact_id, NEW.details::jsonb, NEW.occurred_at, NEW.recorded_at)
          IS DISTINCT FROM
          (OLD.id, OLD.tenant_id, OLD.key, OLD.meter, OLD.quantity, OLD.seconds,
           OLD.contact_id, OLD.details::jsonb, OLD.occurred_at, OLD.recorded_at) THEN
        RAISE EXCEPTION 'usage records are append-only';
    END IF;
    RETURN NEW;
END $$
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER usage_records_append_only BEFORE UPDATE OR DELETE ON usage_records
FOR EACH ROW EXECUTE FUNCTION usage_records_append_only();
"""


def upgrade() -> None:
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trial_days", sa.Integer(), nullable=False,
                                      server_default="14"))
        batch_op.add_column(sa.Column("usage", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("stripe_ids", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("stripe_synced_at", UTCDateTime(), nullable=True))

    op.create_table("billing_stripe_objects",
    sa.Column("key", sa.String(length=80), nullable=False),
    sa.Column("stripe_id", sa.String(length=255), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("key")
    )
    op.create_table("billing_stripe_events",
    sa.Column("id", sa.String(length=255), nullable=False),
    sa.Column("type", sa.String(length=100), nullable=False),
    sa.Column("created", sa.Integer(), nullable=False),
    sa.Column("customer", sa.String(length=255), nullable=True),
    sa.Column("outcome", sa.String(length=200), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=True),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("billing_stripe_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_stripe_events_type"), ["type"], unique=False)
        batch_op.create_index(batch_op.f("ix_billing_stripe_events_customer"), ["customer"], unique=False)

    op.create_table("billing_accounts",
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
    sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
    sa.Column("stripe_items", sa.JSON(), nullable=True),
    sa.Column("plan_code", sa.String(length=40), nullable=True),
    sa.Column("subscription_status", sa.String(length=30), nullable=True),
    sa.Column("seats", sa.Integer(), nullable=False),
    sa.Column("changes", sa.Integer(), nullable=False),
    sa.Column("trial_ends_at", UTCDateTime(), nullable=True),
    sa.Column("period_start", UTCDateTime(), nullable=True),
    sa.Column("period_end", UTCDateTime(), nullable=True),
    sa.Column("subscription_event_at", sa.Integer(), nullable=False),
    sa.Column("payment_event_at", sa.Integer(), nullable=False),
    sa.Column("payment_failed_at", UTCDateTime(), nullable=True),
    sa.Column("payment_failure", sa.String(length=500), nullable=True),
    sa.Column("delinquent_since", UTCDateTime(), nullable=True),
    sa.Column("suspended_by_billing", sa.Boolean(), nullable=False),
    sa.Column("last_error", sa.String(length=500), nullable=True),
    sa.Column("synced_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("tenant_id")
    )
    with op.batch_alter_table("billing_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_accounts_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_billing_accounts_stripe_customer_id"), ["stripe_customer_id"], unique=False)

    op.create_table("usage_reports",
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("meter", sa.String(length=40), nullable=False),
    sa.Column("quantity", sa.Integer(), nullable=False),
    sa.Column("records", sa.Integer(), nullable=False),
    sa.Column("stripe_customer_id", sa.String(length=255), nullable=False),
    sa.Column("reported_for", UTCDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.String(length=500), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("usage_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_reports_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_usage_reports_state", ["tenant_id", "sent_at"], unique=False)

    op.create_table("usage_records",
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("tenant_id", sa.Uuid(), nullable=False),
    sa.Column("key", sa.String(length=120), nullable=False),
    sa.Column("meter", sa.String(length=40), nullable=False),
    sa.Column("quantity", sa.Integer(), nullable=False),
    sa.Column("seconds", sa.Integer(), nullable=True),
    sa.Column("contact_id", sa.Uuid(), nullable=True),
    sa.Column("details", sa.JSON(), nullable=True),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("report_id", sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("tenant_id", "key")
    )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_records_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_usage_records_period", ["tenant_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_usage_records_unreported", ["tenant_id", "report_id", "meter"], unique=False)

    for table in TENANT_TABLES:
        enable_tenant_isolation(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)
        op.execute(APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS usage_records_append_only ON usage_records")
        op.execute("DROP FUNCTION IF EXISTS usage_records_append_only()")
    for table in TENANT_TABLES:
        disable_tenant_isolation(table)
    for table, indexes in (
        ("usage_records", ("ix_usage_records_unreported", "ix_usage_records_period",
                           "ix_usage_records_tenant_id")),
        ("usage_reports", ("ix_usage_reports_state", "ix_usage_reports_tenant_id")),
        ("billing_accounts", ("ix_billing_accounts_stripe_customer_id",
                              "ix_billing_accounts_tenant_id")),
        ("billing_stripe_events", ("ix_billing_stripe_events_customer",
                                   "ix_billing_stripe_events_type")),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for index in indexes:
                batch_op.drop_index(index)
        op.drop_table(table)
    op.drop_table("billing_stripe_objects")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_column("stripe_synced_at")
        batch_op.drop_column("stripe_ids")
        batch_op.drop_column("usage")
        batch_op.drop_column("trial_days")
