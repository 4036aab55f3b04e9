"""API shapes of the voice channel: the visitor's calls and callbacks, the agent's
softphone, supervisors, and the tenant's voice settings, numbers and IVR menus."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from plateaux.channels.voip.ivr import IvrDefinition

Sdp = Annotated[str, StringConstraints(min_length=1, max_length=30000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- visitors -------------------------------------------------------------------------------


class WebcallIn(Strict):
    video: bool = False
    language: Annotated[str, StringConstraints(max_length=40)] | None = None


class MediaIn(Strict):
    sdp: Sdp


class MediaOut(BaseModel):
    sdp: str
    leg_id: uuid.UUID


class CallStarted(BaseModel):
    call_id: uuid.UUID
    leg_id: uuid.UUID
    ice_servers: list[dict[str, Any]]
    ice_transport_policy: Literal["all", "relay"] = "all"
    video: bool
    status: str


class CallbackIn(Strict):
    number: Annotated[str, StringConstraints(max_length=40)]
    when: Literal["asap"] | datetime = "asap"
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    language: Annotated[str, StringConstraints(max_length=40)] | None = None


class ToggleIn(Strict):
    on: bool


class VisitorCallOut(BaseModel):
    """What the visitor sees of their call or callback."""

    id: uuid.UUID
    kind: str
    status: str
    position: int | None = None
    estimated_wait_seconds: float | None = None
    agent_name: str | None = None
    scheduled_for: datetime | None = None
    attempts: int = 0
    outcome: str | None = None
    on_hold: bool = False
    overflow: str | None = None
    video_answer: str | None = None


# --- agents and supervisors ----------------------------------------------------------------


class LegOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    role: str
    kind: str
    direction: str
    user_id: uuid.UUID | None
    address: str
    status: str
    mode: str | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    sip_status: int | None


class CallOut(BaseModel):
    id: uuid.UUID
    contact_id: uuid.UUID | None
    kind: str
    status: str
    customer_number: str | None
    dialed_number: str | None
    language: str
    video: bool
    scheduled_for: datetime | None
    attempts: int
    next_attempt_at: datetime | None
    outcome: str | None
    has_recording: bool
    has_voicemail: bool
    attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    on_hold: bool = False
    muted: bool = False
    video_offer: str | None = None
    legs: list[LegOut] = Field(default_factory=list)
    ice_servers: list[dict[str, Any]] = Field(default_factory=list)


class AnswerIn(Strict):
    sdp: Sdp | None = Field(default=None, description="The softphone's WebRTC offer; "
                            "absent when the agent's calls ring at a number or SIP address")


class AnswerOut(BaseModel):
    leg_id: uuid.UUID
    sdp: str | None
    call: CallOut


class VoiceTransferIn(Strict):
    queue_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    skill_id: uuid.UUID | None = None
    mode: Literal["blind", "warm"] = "blind"


class SuperviseIn(Strict):
    mode: Literal["listen", "whisper", "join"] = "listen"
    sdp: Sdp | None = None


class ModeIn(Strict):
    mode: Literal["listen", "whisper", "join"]


class LegStatsOut(BaseModel):
    leg_id: uuid.UUID
    role: str
    rx_packets: int
    tx_packets: int
    rx_lost: int
    jitter_ms: float
    codec: str


class ReachIn(Strict):
    mode: Literal["browser", "phone", "sip"]
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""


class ReachOut(BaseModel):
    mode: str
    address: str
    display: str
    updated_at: datetime | None = None


# --- administration --------------------------------------------------------------------------


class VoiceSettingsIn(Strict):
    callback_countries: list[Annotated[str, StringConstraints(max_length=2)]] = Field(
        default_factory=list, max_length=250)
    callback_max_attempts: int = Field(default=3, ge=1, le=10)
    callback_retry_seconds: int = Field(default=120, ge=0, le=86400)
    callback_ring_seconds: int = Field(default=30, ge=5, le=120)
    recording_enabled: bool = False
    recording_announcement: dict[Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")],
                                 Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=dict)
    announce_every_seconds: int = Field(default=30, ge=10, le=600)
    video_widgets: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    relay_only: bool = False


class VoiceSettingsOut(BaseModel):
    configured: bool
    browser_calls: bool
    callback_countries: list[str]
    callback_max_attempts: int
    callback_retry_seconds: int
    callback_ring_seconds: int
    recording_enabled: bool
    recording_announcement: dict[str, str]
    announce_every_seconds: int
    video_widgets: list[uuid.UUID]
    relay_only: bool
    has_hold_music: bool


class NumberIn(Strict):
    e164: Annotated[str, StringConstraints(max_length=40)]
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    ivr_id: uuid.UUID | None = None
    active: bool = True


class NumberPatch(Strict):
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    ivr_id: uuid.UUID | None = None
    active: bool | None = None


class NumberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    e164: str
    label: str
    ivr_id: uuid.UUID | None
    active: bool
    created_at: datetime


class IvrIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    definition: IvrDefinition


class IvrPatch(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=120)] | None = None
    definition: IvrDefinition | None = None


class PromptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slot: str
    language: str
    filename: str
    created_at: datetime


class IvrOut(BaseModel):
    id: uuid.UUID
    name: str
    definition: dict[str, Any]
    prompts: list[PromptOut] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
