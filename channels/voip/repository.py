"""Every voice query, each taking the tenant it reads for."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.channels.voip.models import (
    AgentReach,
    Call,
    CallLeg,
    CallStatus,
    IvrMenu,
    LegStatus,
    VoiceNumber,
    VoicePrompt,
    VoiceSettings,
)
from plateaux.platform.errors import NotFound


async def settings_of(session: AsyncSession, tenant_id: uuid.UUID) -> VoiceSettings:
    """The tenant's voice settings, made with the defaults the first time."""
    found = (await session.scalars(select(VoiceSettings).where(
        VoiceSettings.tenant_id == tenant_id))).first()
    if found is None:
        found = VoiceSettings(tenant_id=tenant_id)
        session.add(found)
        await session.flush()
    return found


async def get_call(session: AsyncSession, tenant_id: uuid.UUID, call_id: uuid.UUID) -> Call:
    found = (await session.scalars(select(Call).where(
        Call.tenant_id == tenant_id, Call.id == call_id))).first()
    if found is None:
        raise NotFound("Call not found.")
    return found


async def call_of_contact(session: AsyncSession, tenant_id: uuid.UUID,
                          contact_id: uuid.UUID) -> Call | None:
    return (await session.scalars(select(Call).where(
        Call.tenant_id == tenant_id, Call.contact_id == contact_id))).first()


async def legs_of(session: AsyncSession, tenant_id: uuid.UUID,
                  call_id: uuid.UUID) -> list[CallLeg]:
    return list((await session.scalars(select(CallLeg).where(
        CallLeg.tenant_id == tenant_id, CallLeg.call_id == call_id)
        .order_by(col(CallLeg.created_at)))).all())


async def get_leg(session: AsyncSession, tenant_id: uuid.UUID, leg_id: uuid.UUID) -> CallLeg:
    found = (await session.scalars(select(CallLeg).where(
        CallLeg.tenant_id == tenant_id, CallLeg.id == leg_id))).first()
    if found is None:
        raise NotFound("Leg not found.")
    return found


async def open_legs(session: AsyncSession, tenant_id: uuid.UUID) -> list[CallLeg]:
    return list((await session.scalars(select(CallLeg).where(
        CallLeg.tenant_id == tenant_id,
        col(CallLeg.status) != LegStatus.ENDED.value))).all())


async def live_calls(session: AsyncSession, tenant_id: uuid.UUID) -> list[Call]:
    return list((await session.scalars(select(Call).where(
        Call.tenant_id == tenant_id,
        col(Call.status).in_([CallStatus.IVR.value, CallStatus.WAITING.value,
                              CallStatus.CONNECTING.value, CallStatus.CONNECTED.value]))
        .order_by(col(Call.created_at)))).all())


async def due_callbacks(session: AsyncSession, tenant_id: uuid.UUID,
                        now: datetime) -> list[Call]:
    return list((await session.scalars(select(Call).where(
        Call.tenant_id == tenant_id, Call.status == CallStatus.SCHEDULED.value,
        col(Call.scheduled_for) <= now))).all())


async def reach_of(session: AsyncSession, tenant_id: uuid.UUID,
                   user_id: uuid.UUID) -> AgentReach | None:
    return (await session.scalars(select(AgentReach).where(
        AgentReach.tenant_id == tenant_id, AgentReach.user_id == user_id))).first()


async def numbers(session: AsyncSession, tenant_id: uuid.UUID) -> list[VoiceNumber]:
    return list((await session.scalars(select(VoiceNumber).where(
        VoiceNumber.tenant_id == tenant_id).order_by(col(VoiceNumber.e164)))).all())


async def get_number(session: AsyncSession, tenant_id: uuid.UUID,
                     number_id: uuid.UUID) -> VoiceNumber:
    found = (await session.scalars(select(VoiceNumber).where(
        VoiceNumber.tenant_id == tenant_id, VoiceNumber.id == number_id))).first()
    if found is None:
        raise NotFound("Number not found.")
    return found


async def ivrs(session: AsyncSession, tenant_id: uuid.UUID) -> list[IvrMenu]:
    return list((await session.scalars(select(IvrMenu).where(
        IvrMenu.tenant_id == tenant_id).order_by(col(IvrMenu.name)))).all())


async def get_ivr(session: AsyncSession, tenant_id: uuid.UUID, ivr_id: uuid.UUID) -> IvrMenu:
    found = (await session.scalars(select(IvrMenu).where(
        IvrMenu.tenant_id == tenant_id, IvrMenu.id == ivr_id))).first()
    if found is None:
        raise NotFound("IVR menu not found.")
    return found


async def prompts_of(session: AsyncSession, tenant_id: uuid.UUID,
                     ivr_id: uuid.UUID) -> list[VoicePrompt]:
    return list((await session.scalars(select(VoicePrompt).where(
        VoicePrompt.tenant_id == tenant_id, VoicePrompt.ivr_id == ivr_id)
        .order_by(col(VoicePrompt.slot), col(VoicePrompt.language)))).all())


async def prompt(session: AsyncSession, tenant_id: uuid.UUID, ivr_id: uuid.UUID, slot: str,
                 language: str) -> VoicePrompt | None:
    return (await session.scalars(select(VoicePrompt).where(
        VoicePrompt.tenant_id == tenant_id, VoicePrompt.ivr_id == ivr_id,
        VoicePrompt.slot == slot, VoicePrompt.language == language))).first()
