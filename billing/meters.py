"""What the platform meters, and how each usage kind is named in Stripe.

One meter per usage kind, platform-wide: plans price them; the ledger counts them; the
reporting job sends their totals to Stripe's meter of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Meter(StrEnum):
    CHAT = "chat_conversations"
    EMAIL = "email_conversations"
    VOICE_INBOUND = "voice_inbound_minutes"
    VOICE_OUTBOUND = "voice_outbound_minutes"
    VOICE_BROWSER = "voice_browser_minutes"
    CALLBACKS = "callbacks"


class VoiceDirection(StrEnum):
    """A voice leg as it is billed: a call that came in on a number, a call the platform
    placed (callbacks, outbound), or a call from a visitor's browser (WebRTC)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    BROWSER = "browser"


@dataclass(frozen=True, slots=True)
class MeterInfo:
    label: str
    unit: str
    units: str
    description: str

    def quantity(self, count: int) -> str:
        return f"{count} {self.unit if count == 1 else self.units}"


METERS: dict[Meter, MeterInfo] = {
    Meter.CHAT: MeterInfo(
        "Chat conversations", "conversation", "conversations",
        "Web chat conversations answered by an agent"),
    Meter.EMAIL: MeterInfo(
        "Email conversations", "conversation", "conversations",
        "Emails and web forms answered by an agent"),
    Meter.VOICE_INBOUND: MeterInfo(
        "Voice minutes, inbound", "minute", "minutes",
        "Calls received on the tenant's numbers, per leg, each leg rounded up to the minute"),
    Meter.VOICE_OUTBOUND: MeterInfo(
        "Voice minutes, outbound", "minute", "minutes",
        "Calls placed by the platform (callbacks, outbound), per leg, rounded up to the minute"),
    Meter.VOICE_BROWSER: MeterInfo(
        "Voice minutes, browser calls", "minute", "minutes",
        "Calls from visitors' browsers (WebRTC), per leg, rounded up to the minute"),
    Meter.CALLBACKS: MeterInfo(
        "Callbacks", "callback", "callbacks",
        "Web callbacks answered by an agent (their minutes are metered as outbound)"),
}

VOICE_METERS: dict[VoiceDirection, Meter] = {
    VoiceDirection.INBOUND: Meter.VOICE_INBOUND,
    VoiceDirection.OUTBOUND: Meter.VOICE_OUTBOUND,
    VoiceDirection.BROWSER: Meter.VOICE_BROWSER,
}

# A routed contact is billed per conversation on these channels; calls are billed by the
# minute through their legs instead (a web call or an inbound call has no per-contact fee).
CONTACT_METERS: dict[str, Meter] = {
    "chat": Meter.CHAT,
    "email": Meter.EMAIL,
    "form": Meter.EMAIL,
    "callback": Meter.CALLBACKS,
}

SEAT_LABEL = "Agent seats"


def event_name(meter: Meter) -> str:
    """The Stripe meter's event name (letters, digits and underscores)."""
    return f"plateaux_{meter.value}"


def billable_minutes(seconds: int) -> int:
    """Each leg is rounded up to the next whole minute, as telephony is billed."""
    return max(0, -(-seconds // 60))
