"""Voice tables: the tenant's voice settings, its numbers (DIDs) and IVR menus with their
recorded prompts, where each agent's calls ring, and every call with its legs.

A call is one routed contact (``contact_id``): transfers move the contact, never make a
second call. A leg is one party's connection to the call (the customer, an agent, a
supervisor), with its own start, answer and end times: legs are what voice minutes are
billed on.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field

from plateaux.platform.models import TenantOwned, created_at_field, timestamp_field


class CallKind(StrEnum):
    WEBCALL = "webcall"  # from the visitor's browser
    CALLBACK = "callback"  # the platform calls the visitor back
    INBOUND = "inbound"  # a call to one of the tenant's numbers


class CallStatus(StrEnum):
    IVR = "ivr"  # an inbound caller choosing in the menu
    WAITING = "waiting"  # in the queue (a callback: waiting for an agent to be free)
    SCHEDULED = "scheduled"  # a callback for a later slot
    CONNECTING = "connecting"  # an agent accepted; the legs are being placed
    CONNECTED = "connected"
    ENDED = "ended"


class LegRole(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SUPERVISOR = "supervisor"


class LegKind(StrEnum):
    BROWSER = "browser"  # WebRTC through the gateway
    PHONE = "phone"  # a number, through the SIP trunk
    SIP = "sip"  # a SIP address


class LegStatus(StrEnum):
    DIALING = "dialing"
    RINGING = "ringing"
    CONNECTED = "connected"
    ENDED = "ended"


class ReachMode(StrEnum):
    BROWSER = "browser"
    PHONE = "phone"
    SIP = "sip"


class VoiceSettings(TenantOwned, table=True):
    """One row per tenant (created with defaults on first use)."""

    __tablename__ = "voice_settings"

    __table_args__ = (UniqueConstraint("tenant_id"),)

    # ISO 3166 codes callbacks may be placed to; empty means any country.
    callback_countries: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    callback_max_attempts: int = 3
    callback_retry_seconds: int = 120
    callback_ring_seconds: int = 30
    recording_enabled: bool = False
    # language -> what the caller hears before a recorded conversation
    recording_announcement: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    announce_every_seconds: int = 30
    # Sites (widget ids) whose browser calls may use video.
    video_widgets: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    hold_music_key: str | None = Field(default=None, max_length=300)
    # Browsers send media only through the TURN relay (their addresses stay hidden).
    relay_only: bool = False
    updated_at: datetime = created_at_field()


class VoiceNumber(TenantOwned, table=True):
    """A number the tenant owns (a DID): calls to it reach the tenant's IVR. A number
    belongs to one tenant on the whole platform."""

    __tablename__ = "voice_numbers"

    __table_args__ = (UniqueConstraint("e164"),)

    e164: str = Field(max_length=20)
    label: str = Field(default="", max_length=120)
    ivr_id: uuid.UUID | None = Field(default=None, foreign_key="ivr_menus.id",
                                     ondelete="SET NULL")
    active: bool = True
    created_at: datetime = created_at_field()


class IvrMenu(TenantOwned, table=True):
    """Language choice, greeting, a DTMF menu whose answers become contact attributes,
    where the call is routed, what callers hear while waiting, and the overflow."""

    __tablename__ = "ivr_menus"

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: str = Field(max_length=120)
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class VoicePrompt(TenantOwned, table=True):
    """An uploaded recording that replaces a spoken text: ``slot`` names the prompt
    (greeting, language, menu, waiting, voicemail, ...) of one IVR in one language."""

    __tablename__ = "voice_prompts"

    __table_args__ = (UniqueConstraint("tenant_id", "ivr_id", "slot", "language"),)

    ivr_id: uuid.UUID = Field(foreign_key="ivr_menus.id", ondelete="CASCADE")
    slot: str = Field(max_length=40)
    language: str = Field(max_length=10)
    storage_key: str = Field(max_length=300)
    filename: str = Field(default="", max_length=200)
    created_at: datetime = created_at_field()


class AgentReach(TenantOwned, table=True):
    """Where an agent's calls ring: the console's softphone, a number, or a SIP address.
    Agents change it themselves at any time."""

    __tablename__ = "agent_reach"

    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    mode: str = Field(default=ReachMode.BROWSER.value, max_length=10)
    address: str = Field(default="", max_length=300)
    updated_at: datetime = created_at_field()


class Call(TenantOwned, table=True):
    __tablename__ = "calls"

    __table_args__ = (
        UniqueConstraint("tenant_id", "contact_id"),
        Index("ix_calls_tenant_status", "tenant_id", "status"),
    )

    # None until a scheduled callback's slot comes (it is routed from then on).
    contact_id: uuid.UUID | None = Field(default=None, foreign_key="contacts.id",
                                         ondelete="CASCADE")
    kind: str = Field(max_length=10)
    status: str = Field(max_length=12)
    widget_id: uuid.UUID | None = Field(default=None, foreign_key="widgets.id",
                                        ondelete="SET NULL")
    visitor_id: uuid.UUID | None = Field(default=None, foreign_key="visitors.id",
                                         ondelete="SET NULL")
    # The customer's number (E.164) for callbacks and inbound calls; the number dialled
    # for inbound calls.
    customer_number: str | None = Field(default=None, max_length=20)
    dialed_number: str | None = Field(default=None, max_length=20)
    ivr_id: uuid.UUID | None = Field(default=None, foreign_key="ivr_menus.id",
                                     ondelete="SET NULL")
    language: str = Field(default="en", max_length=10)
    video: bool = False
    # Callbacks: the slot asked for (none: as soon as possible), attempts made, and when
    # the next one may be placed.
    scheduled_for: datetime | None = timestamp_field()
    attempts: int = 0
    next_attempt_at: datetime | None = timestamp_field()
    outcome: str | None = Field(default=None, max_length=30)
    recording_key: str | None = Field(default=None, max_length=300)
    voicemail_key: str | None = Field(default=None, max_length=300)
    created_at: datetime = created_at_field()
    answered_at: datetime | None = timestamp_field()
    ended_at: datetime | None = timestamp_field()


class CallLeg(TenantOwned, table=True):
    __tablename__ = "call_legs"

    __table_args__ = (Index("ix_call_legs_call", "tenant_id", "call_id"),)

    call_id: uuid.UUID = Field(foreign_key="calls.id", ondelete="CASCADE")
    role: str = Field(max_length=12)
    kind: str = Field(max_length=10)
    # How the leg is billed: inbound, outbound (placed by the platform) or browser.
    direction: str = Field(max_length=10)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id",
                                      ondelete="SET NULL")
    address: str = Field(default="", max_length=300)
    status: str = Field(default=LegStatus.DIALING.value, max_length=12)
    sip_call_id: str | None = Field(default=None, max_length=200)
    mode: str | None = Field(default=None, max_length=10)  # supervisors: listen/whisper/join
    created_at: datetime = created_at_field()
    answered_at: datetime | None = timestamp_field()
    ended_at: datetime | None = timestamp_field()
    end_reason: str | None = Field(default=None, max_length=40)
    sip_status: int | None = None


__all__ = ["AgentReach", "Call", "CallLeg", "IvrMenu", "VoiceNumber", "VoicePrompt",
           "VoiceSettings"]
