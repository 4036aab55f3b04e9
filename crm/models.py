"""CRM tables: people, companies, identities, custom fields, notes, the tenant's CRM
settings, webhooks with their deliveries, and what the tenant's own CRM last said.

An identity (an email address, a phone number in E.164, a website visitor, a verified
identity from the embed, an external CRM id) belongs to one person of the tenant: the
unique constraint on (tenant, kind, value) is what makes every channel find the same
person for the same address or number.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from plateaux.platform.models import TenantOwned, created_at_field, timestamp_field


class IdentityKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"  # E.164
    VISITOR = "visitor"  # a website visitor's id (their token stays with the embed)
    VERIFIED = "verified"  # the ``sub`` of a signed identity from the tenant's site
    EXTERNAL = "external"  # the person's id in the tenant's own CRM


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    CHOICE = "choice"
    URL = "url"


class Company(TenantOwned, table=True):
    __tablename__ = "crm_companies"

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: str = Field(max_length=200)
    domain: str | None = Field(default=None, max_length=253)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class Person(TenantOwned, table=True):
    __tablename__ = "crm_people"

    __table_args__ = (Index("ix_crm_people_tenant_seen", "tenant_id", "last_contact_at"),)

    name: str = Field(default="", max_length=200)
    company_id: uuid.UUID | None = Field(
        default=None, foreign_key="crm_companies.id", ondelete="SET NULL")
    owner_id: uuid.UUID | None = Field(default=None, foreign_key="users.id",
                                       ondelete="SET NULL")
    language: str | None = Field(default=None, max_length=10)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    custom: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # Name, identities, company, tags and custom values in one text: what full-text
    # search reads (kept by the service whenever one of them changes).
    search_text: str = Field(default="", sa_type=Text)
    source: str = Field(default="manual", max_length=20)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    last_contact_at: datetime | None = timestamp_field()


class Identity(TenantOwned, table=True):
    __tablename__ = "crm_identities"

    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "value"),
        Index("ix_crm_identities_person", "tenant_id", "person_id"),
    )

    person_id: uuid.UUID = Field(foreign_key="crm_people.id", ondelete="CASCADE")
    kind: str = Field(max_length=10)
    value: str = Field(max_length=320)
    # Vouched for (a signed identity, an address that wrote to us, an admin's entry) or
    # only claimed (typed by a visitor in a form).
    verified: bool = False
    created_at: datetime = created_at_field()


class CustomField(TenantOwned, table=True):
    __tablename__ = "crm_custom_fields"

    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    key: str = Field(max_length=40)
    label: str = Field(max_length=120)
    type: str = Field(default=FieldType.TEXT.value, max_length=10)
    choices: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    required: bool = False
    position: int = 0
    created_at: datetime = created_at_field()


class Note(TenantOwned, table=True):
    __tablename__ = "crm_notes"

    __table_args__ = (Index("ix_crm_notes_person", "tenant_id", "person_id", "created_at"),)

    person_id: uuid.UUID = Field(foreign_key="crm_people.id", ondelete="CASCADE")
    author_id: uuid.UUID | None = Field(default=None, foreign_key="users.id",
                                        ondelete="SET NULL")
    author_name: str = Field(default="", max_length=200)
    body: str = Field(sa_type=Text)
    created_at: datetime = created_at_field()


class CrmSettings(TenantOwned, table=True):
    """One row per tenant: its own CRM's lookup address and the retention periods."""

    __tablename__ = "crm_settings"

    __table_args__ = (UniqueConstraint("tenant_id"),)

    lookup_url: str | None = Field(default=None, max_length=2000)
    lookup_secret_encrypted: str | None = Field(default=None, max_length=500)
    # The region numbers written without a country code belong to (ISO 3166, "FR").
    phone_region: str | None = Field(default=None, max_length=2)
    # Days after their end that conversations, email threads and calls are kept; days
    # without any contact after which a person is erased. None keeps them.
    conversation_retention_days: int | None = None
    person_retention_days: int | None = None
    last_retention_at: datetime | None = timestamp_field()
    updated_at: datetime = created_at_field()


class Webhook(TenantOwned, table=True):
    __tablename__ = "crm_webhooks"

    url: str = Field(max_length=2000)
    description: str = Field(default="", max_length=200)
    secret_encrypted: str = Field(max_length=500)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    active: bool = True
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(TenantOwned, table=True):
    """One event for one webhook, with every attempt made to deliver it."""

    __tablename__ = "crm_webhook_deliveries"

    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_crm_webhook_deliveries_hook", "tenant_id", "webhook_id", "created_at"),
        Index("ix_crm_webhook_deliveries_person", "tenant_id", "person_id"),
    )

    webhook_id: uuid.UUID = Field(foreign_key="crm_webhooks.id", ondelete="CASCADE")
    event_id: uuid.UUID
    event: str = Field(max_length=60)
    person_id: uuid.UUID | None = None
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    status: str = Field(default=DeliveryStatus.PENDING.value, max_length=10)
    attempts: int = 0
    # [{"at", "status_code", "error", "ms"}], newest last.
    log: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = created_at_field()
    delivered_at: datetime | None = timestamp_field()


class ExternalRecord(TenantOwned, table=True):
    """What the tenant's own CRM answered last about a person (shown in the panel)."""

    __tablename__ = "crm_external_records"

    __table_args__ = (UniqueConstraint("tenant_id", "person_id"),)

    person_id: uuid.UUID = Field(foreign_key="crm_people.id", ondelete="CASCADE")
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    fetched_at: datetime = created_at_field()


TENANT_TABLES = ("crm_companies", "crm_people", "crm_identities", "crm_custom_fields",
                 "crm_notes", "crm_settings", "crm_webhooks", "crm_webhook_deliveries",
                 "crm_external_records")

__all__ = ["Company", "CrmSettings", "CustomField", "DeliveryStatus", "ExternalRecord",
           "FieldType", "Identity", "IdentityKind", "Note", "Person", "Webhook",
           "WebhookDelivery"]
