"""Billing tables.

Platform-level (operators' data, not row-secured): plans, the Stripe objects shared by all
tenants (meters, products), and the Stripe events received. Tenant-owned (row-secured):
each tenant's billing account, its usage ledger and what was reported from it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from plateaux.platform.models import TenantOwned, created_at_field, timestamp_field


class Plan(SQLModel, table=True):
    """A plan operators offer. Its prices become Stripe plans the first time a tenant is
    subscribed to it and are fixed from then on (as Stripe's are): to change prices,
    operators create a new plan and move tenants to it, which Stripe prorates."""

    __tablename__ = "plans"

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=1000)
    seat_price_cents: int = Field(default=0, ge=0)
    currency: str = Field(default="eur", max_length=3)
    is_active: bool = True
    created_at: datetime = created_at_field()
    trial_days: int = Field(default=14, ge=0, le=730)
    # meter -> {"included": units included per month, "unit_price": decimal string in the
    # currency, e.g. "0.015"}; a meter absent here is included without limit (price 0).
    usage: dict[str, dict[str, Any]] = Field(default_factory=dict, sa_column=Column(JSON))
    # "seat" or a meter -> the Stripe plan (price) id made for it.
    stripe_ids: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    stripe_synced_at: datetime | None = timestamp_field()


class StripeObject(SQLModel, table=True):
    """Stripe objects the whole platform shares (a meter or a product per usage kind),
    found again by key so a restart never makes a second one."""

    __tablename__ = "billing_stripe_objects"

    key: str = Field(primary_key=True, max_length=80)
    stripe_id: str = Field(max_length=255)
    created_at: datetime = created_at_field()


class StripeEvent(SQLModel, table=True):
    """A Stripe event received by the webhook, stored by its id: a duplicate or a replay
    finds its row and has no second effect."""

    __tablename__ = "billing_stripe_events"

    id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=100, index=True)
    created: int = Field(description="Stripe's creation time (Unix seconds)")
    customer: str | None = Field(default=None, max_length=255, index=True)
    outcome: str = Field(default="", max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    received_at: datetime = created_at_field()


class BillingAccount(TenantOwned, table=True):
    """The tenant as a Stripe customer with one subscription, and where its payments stand."""

    __tablename__ = "billing_accounts"

    __table_args__ = (UniqueConstraint("tenant_id"),)

    stripe_customer_id: str | None = Field(default=None, max_length=255, index=True)
    stripe_subscription_id: str | None = Field(default=None, max_length=255)
    # "seat" or a meter -> the subscription item id.
    stripe_items: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    plan_code: str | None = Field(default=None, max_length=40)
    subscription_status: str | None = Field(default=None, max_length=30)
    seats: int = 0
    # Counts the subscription changes asked of Stripe (seats, plan): part of each one's
    # idempotency key, so 5 -> 6 -> 5 -> 6 seats are three changes and a retry stays one.
    changes: int = 0
    trial_ends_at: datetime | None = timestamp_field()
    period_start: datetime | None = timestamp_field()
    period_end: datetime | None = timestamp_field()
    # Stripe's creation time of the last event applied, per kind of state: an older event
    # arriving late is recorded but changes nothing.
    subscription_event_at: int = 0
    payment_event_at: int = 0
    payment_failed_at: datetime | None = timestamp_field()
    payment_failure: str | None = Field(default=None, max_length=500)
    delinquent_since: datetime | None = timestamp_field()
    suspended_by_billing: bool = False
    last_error: str | None = Field(default=None, max_length=500)
    synced_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()


class UsageRecord(TenantOwned, table=True):
    """One billable event: a contact or a voice leg. ``key`` is unique per tenant (the
    contact's or the leg's id), so recording the same event again is a no-op. Rows are
    never changed or deleted, except ``report_id``, set once when a report takes the row."""

    __tablename__ = "usage_records"

    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        Index("ix_usage_records_period", "tenant_id", "occurred_at"),
        Index("ix_usage_records_unreported", "tenant_id", "report_id", "meter"),
    )

    key: str = Field(max_length=120)
    meter: str = Field(max_length=40)
    quantity: int = Field(ge=0)
    seconds: int | None = None
    contact_id: uuid.UUID | None = None
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    occurred_at: datetime = created_at_field()
    recorded_at: datetime = created_at_field()
    report_id: uuid.UUID | None = None


class UsageReport(TenantOwned, table=True):
    """A total sent to Stripe's meter for one usage kind. Made (and its ledger rows taken)
    in one transaction before Stripe is called; sent with its id as the meter event's
    identifier and idempotency key, so a retry after a crash is deduplicated by Stripe."""

    __tablename__ = "usage_reports"

    __table_args__ = (Index("ix_usage_reports_state", "tenant_id", "sent_at"),)

    meter: str = Field(max_length=40)
    quantity: int = Field(ge=0)
    records: int = 0
    stripe_customer_id: str = Field(max_length=255)
    # The moment the usage counts at in Stripe: the billing period it falls in invoices it.
    reported_for: datetime = created_at_field()
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_at_field()
    sent_at: datetime | None = timestamp_field()

    @property
    def identifier(self) -> str:
        return f"plx_{self.id.hex}"
