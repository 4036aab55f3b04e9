"""What becomes a ledger row: finished contacts (called by the routing engine as it
records a contact's end) and voice legs (called by the voice channel as a leg ends).

A contact keeps one id through every transfer, so keying its row by that id bills it once
however often it moved; it is billed only when an agent answered it (a visitor who gave up
in the queue costs the tenant nothing).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from plateaux.billing import ledger
from plateaux.billing.meters import CONTACT_METERS, VOICE_METERS, VoiceDirection, billable_minutes
from plateaux.routing.models import FINAL_STATUSES, Contact

MAX_LEG_ID = 100
MAX_LEG_SECONDS = 7 * 24 * 3600


def contact_key(contact_id: uuid.UUID) -> str:
    return f"contact:{contact_id}"


def voice_key(leg_id: str) -> str:
    return f"voice:{leg_id}"


async def meter_finished_contacts(session: AsyncSession, tenant_id: uuid.UUID,
                                  contact_ids: Iterable[uuid.UUID]) -> int:
    """Record the contacts among ``contact_ids`` that ended after an agent answered them.
    Runs in the transaction that records their end, so both are kept or neither."""
    ids = list(contact_ids)
    if not ids:
        return 0
    # Columns, not entities: the contacts' rows were just updated by a bulk statement.
    rows = (await session.execute(
        select(col(Contact.id), col(Contact.channel), col(Contact.status),
               col(Contact.transfers), col(Contact.answered_at), col(Contact.ended_at),
               col(Contact.updated_at))
        .where(col(Contact.tenant_id) == tenant_id, col(Contact.id).in_(ids),
               col(Contact.status).in_(FINAL_STATUSES),
               col(Contact.answered_at).is_not(None)))).all()
    added = 0
    for contact_id, channel, status, transfers, _answered, ended_at, updated_at in rows:
        meter = CONTACT_METERS.get(channel)
        if meter is None:
            continue
        added += await ledger.record(
            session, tenant_id, key=contact_key(contact_id), meter=meter, quantity=1,
            occurred_at=ended_at or updated_at, contact_id=contact_id,
            details={"channel": channel, "status": status, "transfers": transfers})
    return added


class InvalidVoiceLeg(ValueError):
    pass


async def record_voice_leg(session: AsyncSession, tenant_id: uuid.UUID, *, leg_id: str,
                           direction: VoiceDirection | str, seconds: int, ended_at: datetime,
                           contact_id: uuid.UUID | None = None) -> bool:
    """Record one voice leg (one party's connection to a call) when it ends.

    ``leg_id`` is the leg's own id (a SIP Call-ID, a WebRTC session id): unique per leg, so
    a retry, a replayed event or a transfer that opens a new leg for the agent never bills
    the same leg twice. Minutes are the leg's ``seconds`` rounded up. False when the leg was
    recorded already.
    """
    if not leg_id or len(leg_id) > MAX_LEG_ID:
        raise InvalidVoiceLeg(f"a leg id is 1 to {MAX_LEG_ID} characters")
    if not 0 <= seconds <= MAX_LEG_SECONDS:
        raise InvalidVoiceLeg("a leg lasts between 0 seconds and a week")
    if ended_at.tzinfo is None:
        raise InvalidVoiceLeg("ended_at must carry its time zone")
    try:
        meter = VOICE_METERS[VoiceDirection(direction)]
    except ValueError as error:
        raise InvalidVoiceLeg(f"unknown direction {direction!r}") from error
    return await ledger.record(
        session, tenant_id, key=voice_key(leg_id), meter=meter,
        quantity=billable_minutes(seconds), seconds=seconds, occurred_at=ended_at,
        contact_id=contact_id, details={"direction": str(VoiceDirection(direction))})
