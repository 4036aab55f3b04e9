"""Chat tables: conversations, their numbered messages, and the files attached to them.

Every message carries a sequence number unique in its conversation, allocated in the
transaction that stores it (``last_seq`` of the conversation is the counter): a client
that saw up to N asks for what is after N and gets each message exactly once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from plateaux.platform.models import TenantOwned, created_at_field, timestamp_field


class ConversationStatus(StrEnum):
    OPEN = "open"
    ENDED = "ended"


class MessageKind(StrEnum):
    MESSAGE = "message"
    NOTE = "note"  # agents only
    WHISPER = "whisper"  # a supervisor to the agent; agents only
    SYSTEM = "system"


# What the visitor may see; notes and whispers stay with the agents.
PUBLIC_KINDS = frozenset({MessageKind.MESSAGE, MessageKind.SYSTEM})


class AuthorType(StrEnum):
    VISITOR = "visitor"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    SYSTEM = "system"


class Conversation(TenantOwned, table=True):
    __tablename__ = "conversations"

    __table_args__ = (
        Index("ix_conversations_visitor", "tenant_id", "visitor_id", "created_at"),
        Index("ix_conversations_contact", "tenant_id", "contact_id"),
    )

    widget_id: uuid.UUID | None = Field(
        default=None, foreign_key="widgets.id", ondelete="SET NULL")
    visitor_id: uuid.UUID | None = Field(
        default=None, foreign_key="visitors.id", ondelete="SET NULL")
    contact_id: uuid.UUID | None = Field(
        default=None, foreign_key="contacts.id", ondelete="SET NULL")
    channel: str = Field(default="chat", max_length=20)
    status: str = Field(default=ConversationStatus.OPEN.value, max_length=10)
    ended_by: str | None = Field(default=None, max_length=10)
    last_seq: int = 0
    visitor_read_seq: int = 0
    agent_read_seq: int = 0
    rating: int | None = None
    rating_comment: str | None = Field(default=None, max_length=2000)
    language: str = Field(default="en", max_length=10)
    # For a message left while nobody was available: who to answer.
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=320)
    created_at: datetime = created_at_field()
    ended_at: datetime | None = timestamp_field()


class ConversationMessage(TenantOwned, table=True):
    __tablename__ = "conversation_messages"

    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        # A resend of the same message (same client id) is the same message.
        UniqueConstraint("conversation_id", "client_id"),
    )

    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    seq: int
    kind: str = Field(default=MessageKind.MESSAGE.value, max_length=10)
    author_type: str = Field(max_length=12)
    author_id: uuid.UUID | None = None
    author_name: str | None = Field(default=None, max_length=200)
    body: str = Field(default="", sa_type=Text)  # sanitised HTML
    text: str = Field(default="", sa_type=Text)  # plain, as typed
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    client_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_at_field()


class Attachment(TenantOwned, table=True):
    __tablename__ = "attachments"

    __table_args__ = (Index("ix_attachments_conversation", "tenant_id", "conversation_id"),)

    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    storage_key: str = Field(max_length=300)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    uploaded_by: str = Field(max_length=12)  # author type
    created_at: datetime = created_at_field()


__all__ = ["Attachment", "AuthorType", "Conversation", "ConversationMessage",
           "ConversationStatus", "MessageKind"]
