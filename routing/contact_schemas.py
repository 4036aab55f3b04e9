"""API shapes of routed contacts, their history, and agents' presence."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from plateaux.routing.state import Channel

Scalar = str | int | float | bool | None
MAX_ATTRIBUTES = 50


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    attributes: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    priority: int = Field(default=0, ge=-100, le=100)
    workflow_id: uuid.UUID | None = None
    queue_id: uuid.UUID | None = None
    required_skills: dict[uuid.UUID, int] = Field(default_factory=dict)
    agent_id: uuid.UUID | None = Field(default=None, description="Direct routing to one agent")
    customer_key: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="Who the customer is for the channel; sticky routing prefers the agent "
                    "who last served the same key")

    @field_validator("attributes")
    @classmethod
    def _small_attributes(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
        for key, item in value.items():
            if not 1 <= len(key) <= 64 or not key.replace("_", "").isalnum():
                raise ValueError("attribute names are 1 to 64 letters, digits or underscores")
            items = item if isinstance(item, list) else [item]
            if len(items) > 100 or any(isinstance(i, str) and len(i) > 2000 for i in items):
                raise ValueError(f"attribute '{key}' is too large")
        return value

    @field_validator("required_skills")
    @classmethod
    def _levels(cls, value: dict[uuid.UUID, int]) -> dict[uuid.UUID, int]:
        if any(not 1 <= level <= 5 for level in value.values()):
            raise ValueError("skill levels are 1 to 5")
        return value


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: str
    status: str
    priority: int
    attributes: dict[str, Any]
    workflow_id: uuid.UUID | None
    queue_id: uuid.UUID | None
    requested_agent_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    customer_key: str | None
    transfers: int
    outcome: str | None
    created_at: datetime
    offered_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    position: int | None = None
    estimated_wait_seconds: float | None = None


class ContactEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    status: str
    agent_id: uuid.UUID | None
    queue_id: uuid.UUID | None
    details: dict[str, Any]
    at: datetime


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    required_skills: dict[uuid.UUID, int] = Field(default_factory=dict)

    @field_validator("required_skills")
    @classmethod
    def _levels(cls, value: dict[uuid.UUID, int]) -> dict[uuid.UUID, int]:
        if any(not 1 <= level <= 5 for level in value.values()):
            raise ValueError("skill levels are 1 to 5")
        return value


class WrapUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wrap_up_code: str | None = Field(
        default=None, max_length=40,
        description="One of the tenant's wrap-up codes; kept as the contact's outcome")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Literal["abandoned", "cancelled"] = "cancelled"


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presence: Literal["available", "away", "busy", "offline"]
    reason: str | None = Field(default=None, max_length=40)


class AgentStateOut(BaseModel):
    agent_id: uuid.UUID
    presence: str
    reason: str | None
    since: datetime | None
    activity: str  # what the agent is doing: their presence, or busy / wrap_up with work
    load: dict[str, int]
    contacts: list[uuid.UUID]
