"""API shapes of chat, for the visitor's widget and the agent's console."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from plateaux.channels.chat.service import MAX_ATTACHMENTS, MAX_TEXT
from plateaux.routing.contact_schemas import ContactOut

ClientId = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=MAX_TEXT)
    language: str | None = Field(default=None, max_length=20)
    attributes: dict[str, Any] = Field(default_factory=dict)


class ConversationCreated(BaseModel):
    conversation_id: uuid.UUID
    status: str
    position: int | None
    estimated_wait_seconds: float | None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str | None = ClientId
    text: str = Field(default="", max_length=MAX_TEXT)
    attachments: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class AgentMessageIn(MessageIn):
    kind: Literal["message", "note"] = "message"


class WhisperIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str | None = ClientId
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class MessageOut(BaseModel):
    type: Literal["message"] = "message"
    seq: int
    kind: str
    author_type: str
    author_name: str | None
    body: str
    text: str
    attachments: list[dict[str, Any]]
    created_at: datetime
    client_id: str | None


class TypingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    typing: bool


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0)


class ReadOut(BaseModel):
    seq: int


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class TranscriptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr


class LeaveMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class LeftMessage(BaseModel):
    conversation_id: uuid.UUID
    contact_id: uuid.UUID


class AttachmentOut(BaseModel):
    id: uuid.UUID
    name: str
    content_type: str
    size: int


class ConversationOut(BaseModel):
    id: uuid.UUID
    channel: str
    status: str
    ended_by: str | None
    last_seq: int
    visitor_read_seq: int
    agent_read_seq: int
    rating: int | None
    rating_comment: str | None
    language: str
    created_at: datetime
    ended_at: datetime | None


class PageOut(BaseModel):
    url: str
    title: str
    at: datetime


class VisitorOut(BaseModel):
    id: uuid.UUID
    name: str | None
    email: str | None
    external_id: str | None
    verified: bool
    language: str
    current_url: str | None
    current_title: str | None


class ConversationDetail(BaseModel):
    conversation: ConversationOut
    contact: ContactOut | None
    visitor: VisitorOut | None
    pages_viewed: list[PageOut]
    contact_name: str | None
    contact_email: str | None
