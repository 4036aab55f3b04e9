"""API shapes of the CRM."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plateaux.crm.models import FieldType, IdentityKind

TAG_MAX = 40
Scalar = str | int | float | bool | None


def _clean_tags(value: list[str]) -> list[str]:
    tags: list[str] = []
    for tag in value:
        text = tag.strip().lower()
        if not text or len(text) > TAG_MAX:
            raise ValueError(f"tags are 1 to {TAG_MAX} characters")
        if text not in tags:
            tags.append(text)
    if len(tags) > 50:
        raise ValueError("at most 50 tags")
    return tags


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)
    verified: bool = True


class IdentityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    value: str
    verified: bool
    created_at: datetime


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    company: str | None = Field(default=None, max_length=200,
                                description="A company name: found or created")
    owner_id: uuid.UUID | None = None
    language: str | None = Field(default=None, max_length=10)
    tags: list[str] = Field(default_factory=list, max_length=50)
    custom: dict[str, Scalar] = Field(default_factory=dict)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=50)

    _tags = field_validator("tags")(_clean_tags)


class PersonPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200,
                                description="A company name; empty removes it")
    owner_id: uuid.UUID | None = None
    language: str | None = Field(default=None, max_length=10)
    tags: list[str] | None = Field(default=None, max_length=50)
    custom: dict[str, Scalar] | None = Field(
        default=None, description="Values to set; null removes one")

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _clean_tags(value)


class CompanyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    domain: str | None


class PersonOut(BaseModel):
    id: uuid.UUID
    name: str
    company: CompanyOut | None
    owner_id: uuid.UUID | None
    language: str | None
    tags: list[str]
    custom: dict[str, Any]
    identities: list[IdentityOut]
    source: str
    created_at: datetime
    updated_at: datetime
    last_contact_at: datetime | None


class PersonPage(BaseModel):
    items: list[PersonOut]
    total: int
    offset: int
    limit: int


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duplicate_id: uuid.UUID = Field(description="The person merged into this one, then gone")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=10000)


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    person_id: uuid.UUID
    author_id: uuid.UUID | None
    author_name: str
    body: str
    created_at: datetime


class CustomFieldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1, max_length=120)
    type: FieldType = FieldType.TEXT
    choices: list[str] = Field(default_factory=list, max_length=100)
    required: bool = False
    position: int = Field(default=0, ge=0, le=1000)

    @field_validator("choices")
    @classmethod
    def _choices(cls, value: list[str]) -> list[str]:
        cleaned = [c.strip() for c in value if c.strip()]
        if any(len(c) > 120 for c in cleaned):
            raise ValueError("choices are at most 120 characters")
        return list(dict.fromkeys(cleaned))


class CustomFieldPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, min_length=1, max_length=120)
    choices: list[str] | None = Field(default=None, max_length=100)
    required: bool | None = None
    position: int | None = Field(default=None, ge=0, le=1000)


class CustomFieldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    key: str
    label: str
    type: str
    choices: list[str]
    required: bool
    position: int


class TimelineItemOut(BaseModel):
    at: datetime
    kind: str
    channel: str | None = None
    title: str
    summary: str = ""
    contact_id: uuid.UUID | None = None
    status: str | None = None
    ref: dict[str, Any] = Field(default_factory=dict)


class PageViewOut(BaseModel):
    url: str
    title: str
    at: datetime


class ExternalOut(BaseModel):
    status: Literal["ok", "not_configured", "not_found", "unavailable", "cached"]
    data: dict[str, Any] | None = None
    fetched_at: datetime | None = None
    error: str | None = None


class CardOut(BaseModel):
    """What the agent console pops for a contact: the person, their history newest first,
    the pages they viewed, notes, and what the tenant's own CRM said last."""

    contact_id: uuid.UUID
    person: PersonOut | None
    timeline: list[TimelineItemOut]
    pages: list[PageViewOut]
    notes: list[NoteOut]
    custom_fields: list[CustomFieldOut]
    external: ExternalOut | None


class SearchHitOut(BaseModel):
    kind: Literal["person", "conversation", "email", "note"]
    person_id: uuid.UUID | None
    ref_id: uuid.UUID
    title: str
    snippet: str
    at: datetime | None


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)
    description: str = Field(default="", max_length=200)
    events: list[str] = Field(min_length=1, max_length=50)
    active: bool = True


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2000)
    description: str | None = Field(default=None, max_length=200)
    events: list[str] | None = Field(default=None, min_length=1, max_length=50)
    active: bool | None = None


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    description: str
    events: list[str]
    active: bool
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown once: verifies the Plateaux-Signature header")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event: str
    status: str
    attempts: int
    log: list[dict[str, Any]]
    created_at: datetime
    delivered_at: datetime | None


class CrmSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lookup_url: str | None = Field(default=None, max_length=2000)
    phone_region: str | None = Field(default=None, min_length=2, max_length=2,
                                     pattern=r"^[A-Za-z]{2}$")
    conversation_retention_days: int | None = Field(default=None, ge=1, le=36500)
    person_retention_days: int | None = Field(default=None, ge=1, le=36500)


class CrmSettingsOut(BaseModel):
    lookup_url: str | None
    lookup_configured: bool
    phone_region: str | None
    conversation_retention_days: int | None
    person_retention_days: int | None
    last_retention_at: datetime | None


class LookupSecretOut(BaseModel):
    secret: str


class ImportReport(BaseModel):
    created: int
    updated: int
    rejected: list[dict[str, Any]]


class ErasureOut(BaseModel):
    person_id: uuid.UUID
    erased: dict[str, int]
