"""Email tables: mailboxes, threads and their messages, what was fetched from which UID,
the quarantine of mail that could not be read, and what is known of each address.

A message is identified twice: by where it was fetched from (mailbox, UIDVALIDITY, UID:
``email_receipts``) and by its Message-ID (``message_key``, unique per tenant; a stable
hash of the message when the header is missing or malformed). Either one seen again means
the message is already stored, so a re-fetch never makes a second copy.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from plateaux.platform.models import TenantOwned, created_at_field, timestamp_field


class Security(StrEnum):
    SSL = "ssl"  # TLS from the first byte (IMAPS 993, SMTPS 465)
    STARTTLS = "starttls"  # SMTP only: plain, then upgraded
    NONE = "none"  # plain text: only where private hosts are allowed (tests, a LAN)


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class MessageStatus(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"


class AutoKind(StrEnum):
    """Why a message is automatic: never answered automatically, never routed anew."""

    AUTO_REPLY = "auto_reply"
    LIST = "list"
    BOUNCE = "bounce"
    LOOP = "loop"  # our own mail coming back


class Mailbox(TenantOwned, table=True):
    __tablename__ = "mailboxes"

    __table_args__ = (UniqueConstraint("tenant_id", "address"),)

    name: str = Field(max_length=120)
    address: str = Field(max_length=320)  # the address replies are sent from
    display_name: str = Field(default="", max_length=200)
    imap_host: str = Field(max_length=255)
    imap_port: int = 993
    imap_security: str = Field(default=Security.SSL.value, max_length=10)
    imap_username: str = Field(max_length=320)
    imap_password_encrypted: str = Field(max_length=2000)
    imap_folder: str = Field(default="INBOX", max_length=200)
    smtp_host: str = Field(max_length=255)
    smtp_port: int = 587
    smtp_security: str = Field(default=Security.STARTTLS.value, max_length=10)
    smtp_username: str = Field(default="", max_length=320)
    smtp_password_encrypted: str = Field(default="", max_length=2000)
    queue_id: uuid.UUID | None = Field(
        default=None, foreign_key="routing_queues.id", ondelete="SET NULL")
    workflow_id: uuid.UUID | None = Field(
        default=None, foreign_key="routing_workflows.id", ondelete="SET NULL")
    enabled: bool = True
    use_idle: bool = True
    poll_seconds: int = 60
    ack_enabled: bool = False
    ack_subject: str = Field(default="", max_length=200)
    ack_text: str = Field(default="", sa_type=Text)
    # Fetch progress: every UID up to last_uid of this UIDVALIDITY is stored or recorded.
    uid_validity: int | None = Field(default=None, sa_type=BigInteger)
    last_uid: int = Field(default=0, sa_type=BigInteger)
    # A UID whose ingestion keeps failing is quarantined after a few tries.
    failing_uid: int | None = Field(default=None, sa_type=BigInteger)
    failing_count: int = 0
    last_fetch_at: datetime | None = timestamp_field()
    last_error: str | None = Field(default=None, max_length=1000)
    last_error_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class EmailThread(TenantOwned, table=True):
    """One conversation by email; ``contact_id`` is its current routed contact (a reply
    after the contact ended routes a new one for the same thread)."""

    __tablename__ = "email_threads"

    __table_args__ = (
        UniqueConstraint("tenant_id", "reply_token"),
        Index("ix_email_threads_customer", "tenant_id", "customer_address"),
        Index("ix_email_threads_contact", "tenant_id", "contact_id"),
    )

    mailbox_id: uuid.UUID | None = Field(
        default=None, foreign_key="mailboxes.id", ondelete="SET NULL")
    contact_id: uuid.UUID | None = Field(
        default=None, foreign_key="contacts.id", ondelete="SET NULL")
    subject: str = Field(default="", max_length=500)
    customer_address: str = Field(max_length=320)
    customer_name: str | None = Field(default=None, max_length=200)
    reply_token: str = Field(max_length=40)
    message_count: int = 0
    last_message_at: datetime = created_at_field()
    created_at: datetime = created_at_field()


class EmailMessage(TenantOwned, table=True):
    __tablename__ = "email_messages"

    __table_args__ = (
        UniqueConstraint("tenant_id", "message_key"),
        UniqueConstraint("thread_id", "client_id"),
        Index("ix_email_messages_thread", "tenant_id", "thread_id", "created_at"),
    )

    thread_id: uuid.UUID | None = Field(
        default=None, foreign_key="email_threads.id", ondelete="CASCADE")
    mailbox_id: uuid.UUID | None = Field(
        default=None, foreign_key="mailboxes.id", ondelete="SET NULL")
    direction: str = Field(max_length=3)
    kind: str = Field(default="message", max_length=10)  # message | ack
    message_key: str = Field(max_length=300)
    message_id: str = Field(max_length=500)  # the header as sent or received
    synthetic_id: bool = False
    in_reply_to: str | None = Field(default=None, max_length=500)
    references: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    from_address: str = Field(max_length=320)
    from_name: str | None = Field(default=None, max_length=200)
    to: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    cc: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    subject: str = Field(default="", max_length=500)
    text: str = Field(default="", sa_type=Text)  # the whole plain text
    new_text: str = Field(default="", sa_type=Text)  # what is new: no quote, no signature
    quoted_text: str = Field(default="", sa_type=Text)
    signature: str = Field(default="", sa_type=Text)
    html: str | None = Field(default=None, sa_type=Text)  # sanitised
    auto_kind: str | None = Field(default=None, max_length=20)
    raw_key: str | None = Field(default=None, max_length=300)
    size: int = 0
    status: str = Field(default=MessageStatus.RECEIVED.value, max_length=10)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    author_id: uuid.UUID | None = None
    author_name: str | None = Field(default=None, max_length=200)
    client_id: str | None = Field(default=None, max_length=64)
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    sent_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()


class EmailReference(TenantOwned, table=True):
    """A Message-ID a message names (In-Reply-To, References): a parent that arrives
    after its reply finds the reply's thread through it."""

    __tablename__ = "email_references"

    __table_args__ = (Index("ix_email_references_key", "tenant_id", "key"),)

    message_id: uuid.UUID = Field(foreign_key="email_messages.id", ondelete="CASCADE")
    thread_id: uuid.UUID = Field(foreign_key="email_threads.id", ondelete="CASCADE")
    key: str = Field(max_length=300)


class EmailAttachment(TenantOwned, table=True):
    __tablename__ = "email_attachments"

    __table_args__ = (Index("ix_email_attachments_thread", "tenant_id", "thread_id"),)

    thread_id: uuid.UUID = Field(foreign_key="email_threads.id", ondelete="CASCADE")
    message_id: uuid.UUID | None = Field(
        default=None, foreign_key="email_messages.id", ondelete="CASCADE")
    storage_key: str = Field(max_length=300)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    content_id: str | None = Field(default=None, max_length=300)
    inline: bool = False
    created_at: datetime = created_at_field()


class EmailReceipt(TenantOwned, table=True):
    """What became of the message at one UID: stored, a copy of one stored, or held."""

    __tablename__ = "email_receipts"

    __table_args__ = (UniqueConstraint("mailbox_id", "uid_validity", "uid"),)

    mailbox_id: uuid.UUID = Field(foreign_key="mailboxes.id", ondelete="CASCADE")
    uid_validity: int = Field(sa_type=BigInteger)
    uid: int = Field(sa_type=BigInteger)
    outcome: str = Field(max_length=12)  # stored | duplicate | quarantined
    email_message_id: uuid.UUID | None = None
    created_at: datetime = created_at_field()


class EmailQuarantine(TenantOwned, table=True):
    __tablename__ = "email_quarantine"

    __table_args__ = (Index("ix_email_quarantine_mailbox", "tenant_id", "mailbox_id"),)

    mailbox_id: uuid.UUID = Field(foreign_key="mailboxes.id", ondelete="CASCADE")
    uid_validity: int = Field(sa_type=BigInteger)
    uid: int = Field(sa_type=BigInteger)
    raw_key: str = Field(max_length=300)
    size: int
    reason: str = Field(max_length=1000)
    sender: str | None = Field(default=None, max_length=320)
    subject: str | None = Field(default=None, max_length=500)
    status: str = Field(default="held", max_length=12)  # held | discarded
    resolved_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()


class EmailAddress(TenantOwned, table=True):
    """What the platform knows of one address: bounces, and acknowledgements sent to it
    (the loop guard counts them per hour)."""

    __tablename__ = "email_addresses"

    __table_args__ = (UniqueConstraint("tenant_id", "address"),)

    address: str = Field(max_length=320)
    bounce_count: int = 0
    bounced_at: datetime | None = timestamp_field()
    bounce_reason: str | None = Field(default=None, max_length=500)
    acks_window_at: datetime | None = timestamp_field()
    acks_in_window: int = 0
    updated_at: datetime = created_at_field()


TENANT_TABLES = ("mailboxes", "email_threads", "email_messages", "email_references",
                 "email_attachments", "email_receipts", "email_quarantine", "email_addresses")

__all__ = ["AutoKind", "Direction", "EmailAddress", "EmailAttachment", "EmailMessage",
           "EmailQuarantine", "EmailReceipt", "EmailReference", "EmailThread", "Mailbox",
           "MessageStatus", "Security"]
