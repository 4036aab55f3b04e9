"""Routing tables: queues, workflows, agents' routing profiles, away reasons, and the
routed contacts with the history of every state change.

The live state (who is available, what is offered to whom) is kept by the routing state
store; these tables hold the configuration it starts from, every contact as it was
accepted (so a crash never loses one), and the history reporting reads.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field

from plateaux.platform.models import TenantOwned, created_at_field, timestamp_field
from plateaux.platform.types import UTCDateTime, utcnow


class RoutingQueue(TenantOwned, table=True):
    __tablename__ = "routing_queues"

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=1000)
    ordering: str = Field(default="fifo", max_length=10)
    strategy: str = Field(default="longest_idle", max_length=20)
    sla_threshold_seconds: float = 20.0
    sla_target: float = 0.8
    offer_to: int = 1
    accept_timeout_seconds: float | None = 30.0
    away_on_timeout: bool = True
    away_on_reject: bool = False
    sticky_seconds: float = 0.0
    wrap_up_seconds: float = 0.0
    follow_business_hours: bool = True
    # Per site or skill group: minimum and maximum share of traffic or agents busy.
    thresholds: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class RoutingWorkflow(TenantOwned, table=True):
    """Filters, steps and overflow, stored as one validated document: they are read and
    changed together, and the routing core takes them as one value."""

    __tablename__ = "routing_workflows"

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=1000)
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class AgentProfile(TenantOwned, table=True):
    """How one agent is routed to (Amazon Connect's routing profile): capacity per channel,
    whether chats continue beside a call, and the queues served with priority and delay."""

    __tablename__ = "agent_profiles"

    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    capacity: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON))
    chats_beside_calls: bool = False
    # queue id -> {"priority": int, "delay": seconds}
    queues: dict[str, dict[str, float]] = Field(default_factory=dict, sa_column=Column(JSON))
    updated_at: datetime = created_at_field()


class AwayReason(TenantOwned, table=True):
    __tablename__ = "away_reasons"

    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: str = Field(max_length=40)
    label: str = Field(max_length=120)
    created_at: datetime = created_at_field()


class ContactStatusValue(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    WRAP_UP = "wrap_up"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({"completed", "abandoned", "cancelled"})


class Contact(TenantOwned, table=True):
    """One request for service, whatever its medium: the unit that is routed and billed
    (a transfer moves it, it never makes a second one)."""

    __tablename__ = "contacts"

    __table_args__ = (
        Index("ix_contacts_tenant_status", "tenant_id", "status"),
        Index("ix_contacts_tenant_customer", "tenant_id", "customer_key", "ended_at"),
    )

    channel: str = Field(max_length=20)
    status: str = Field(default="queued", max_length=20)
    priority: int = 0
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    workflow_id: uuid.UUID | None = Field(
        default=None, foreign_key="routing_workflows.id", ondelete="SET NULL")
    queue_id: uuid.UUID | None = Field(
        default=None, foreign_key="routing_queues.id", ondelete="SET NULL")
    required_skills: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON))
    requested_agent_id: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL")
    agent_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    # Who the customer is, as the channel knows them (visitor token, address, number):
    # sticky routing prefers the agent who last served the same key.
    customer_key: str | None = Field(default=None, max_length=200)
    # The CRM person the contact was matched to (``crm.matching``); the foreign key and
    # index are in the CRM's migration.
    person_id: uuid.UUID | None = None
    transfers: int = 0
    outcome: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_at_field()
    offered_at: datetime | None = timestamp_field()
    answered_at: datetime | None = timestamp_field()
    ended_at: datetime | None = timestamp_field()
    updated_at: datetime = created_at_field()


class ContactEvent(TenantOwned, table=True):
    """One state change of a contact, for its history and for reporting. ``log_id`` is the
    state store's log entry it was recorded from: recording twice is a no-op."""

    __tablename__ = "contact_events"

    __table_args__ = (
        UniqueConstraint("tenant_id", "log_id", "contact_id", "kind"),
        Index("ix_contact_events_contact", "tenant_id", "contact_id", "at"),
    )

    contact_id: uuid.UUID = Field(foreign_key="contacts.id", ondelete="CASCADE")
    log_id: str = Field(max_length=40)
    kind: str = Field(max_length=30)
    status: str = Field(max_length=20)
    agent_id: uuid.UUID | None = None
    queue_id: uuid.UUID | None = None
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AgentStateEvent(TenantOwned, table=True):
    """An agent's presence change, with how long the previous state lasted."""

    __tablename__ = "agent_state_events"

    __table_args__ = (
        UniqueConstraint("tenant_id", "log_id", "user_id"),
        Index("ix_agent_state_events_user", "tenant_id", "user_id", "at"),
    )

    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    log_id: str = Field(max_length=40)
    presence: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=40)
    previous: str | None = Field(default=None, max_length=20)
    previous_seconds: float | None = None
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
