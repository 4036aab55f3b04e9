"""API shapes of mailboxes, threads, replies, the quarantine and bounced addresses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from plateaux.channels.email.models import Security

HOST = r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$"


class MailboxIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    address: EmailStr
    display_name: str = Field(default="", max_length=200)
    imap_host: str = Field(pattern=HOST, max_length=253)
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_security: Security = Security.SSL
    imap_username: str = Field(min_length=1, max_length=320)
    imap_password: str = Field(min_length=1, max_length=1000)
    imap_folder: str = Field(default="INBOX", min_length=1, max_length=200)
    smtp_host: str = Field(pattern=HOST, max_length=253)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Security = Security.STARTTLS
    smtp_username: str = Field(default="", max_length=320)
    smtp_password: str = Field(default="", max_length=1000)
    queue_id: uuid.UUID | None = None
    workflow_id: uuid.UUID | None = None
    enabled: bool = True
    use_idle: bool = True
    poll_seconds: int = Field(default=60, ge=10, le=3600)
    ack_enabled: bool = False
    ack_subject: str = Field(default="", max_length=200)
    ack_text: str = Field(default="", max_length=5000)

    @model_validator(mode="after")
    def _checks(self) -> MailboxIn:
        if self.imap_security == Security.STARTTLS:
            raise ValueError("IMAP takes TLS from the start (ssl) or, on a private network, "
                             "none; STARTTLS is not offered")
        if self.queue_id is None and self.workflow_id is None:
            raise ValueError("name the queue or workflow that routes this mailbox's mail")
        if self.ack_enabled and not self.ack_text.strip():
            raise ValueError("an acknowledgement needs a text")
        if any(ch in self.imap_folder for ch in "\r\n\0"):
            raise ValueError("the folder name has control characters")
        return self


class MailboxPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    display_name: str | None = Field(default=None, max_length=200)
    imap_host: str | None = Field(default=None, pattern=HOST, max_length=253)
    imap_port: int | None = Field(default=None, ge=1, le=65535)
    imap_security: Security | None = None
    imap_username: str | None = Field(default=None, min_length=1, max_length=320)
    imap_password: str | None = Field(default=None, min_length=1, max_length=1000)
    imap_folder: str | None = Field(default=None, min_length=1, max_length=200)
    smtp_host: str | None = Field(default=None, pattern=HOST, max_length=253)
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Security | None = None
    smtp_username: str | None = Field(default=None, max_length=320)
    smtp_password: str | None = Field(default=None, max_length=1000)
    queue_id: uuid.UUID | None = None
    workflow_id: uuid.UUID | None = None
    enabled: bool | None = None
    use_idle: bool | None = None
    poll_seconds: int | None = Field(default=None, ge=10, le=3600)
    ack_enabled: bool | None = None
    ack_subject: str | None = Field(default=None, max_length=200)
    ack_text: str | None = Field(default=None, max_length=5000)


class MailboxOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    address: str
    display_name: str
    imap_host: str
    imap_port: int
    imap_security: str
    imap_username: str
    imap_folder: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_username: str
    queue_id: uuid.UUID | None
    workflow_id: uuid.UUID | None
    enabled: bool
    use_idle: bool
    poll_seconds: int
    ack_enabled: bool
    ack_subject: str
    ack_text: str
    uid_validity: int | None
    last_uid: int
    last_fetch_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    created_at: datetime


class ConnectionStep(BaseModel):
    stage: str
    ok: bool
    detail: str


class ConnectionReport(BaseModel):
    ok: bool
    imap: list[ConnectionStep]
    smtp: list[ConnectionStep]


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    direction: str
    kind: str
    message_id: str
    from_address: str
    from_name: str | None
    to: list[str]
    cc: list[str]
    subject: str
    new_text: str
    quoted_text: str
    signature: str
    html: str | None
    auto_kind: str | None
    status: str
    attempts: int
    last_error: str | None
    author_name: str | None
    attachments: list[dict[str, Any]]
    client_id: str | None
    sent_at: datetime | None
    created_at: datetime


class ThreadOut(BaseModel):
    id: uuid.UUID
    subject: str
    customer_address: str
    customer_name: str | None
    contact_id: uuid.UUID | None
    mailbox_address: str | None
    customer_bounced: bool
    messages: list[MessageOut]


class ThreadRef(BaseModel):
    id: uuid.UUID


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=50000)
    cc: list[EmailStr] = Field(default_factory=list, max_length=20)
    attachments: list[uuid.UUID] = Field(default_factory=list, max_length=10)
    client_id: str | None = Field(default=None, min_length=1, max_length=64)


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    filename: str
    content_type: str
    size: int


class QuarantineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    mailbox_id: uuid.UUID
    uid_validity: int
    uid: int
    size: int
    reason: str
    sender: str | None
    subject: str | None
    status: str
    created_at: datetime


class BouncedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    address: str
    bounce_count: int
    bounced_at: datetime | None
    bounce_reason: str | None


class ClearBounceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: EmailStr
