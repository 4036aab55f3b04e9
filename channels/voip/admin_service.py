"""Administration of voice: the tenant's settings, numbers (DIDs), IVR menus and their
recorded prompts, hold music. The API and the admin pages share these rules; every change
is audited."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.channels.storage import local_storage, new_key
from plateaux.channels.voip import numbers as phone
from plateaux.channels.voip import repository as repo
from plateaux.channels.voip.audio import VOICES, check_recording
from plateaux.channels.voip.ivr import IvrDefinition
from plateaux.channels.voip.models import IvrMenu, VoiceNumber, VoicePrompt, VoiceSettings
from plateaux.channels.voip.runtime import VoiceRuntime
from plateaux.channels.voip.schemas import (
    IvrIn,
    IvrOut,
    IvrPatch,
    NumberIn,
    NumberPatch,
    PromptOut,
    VoiceSettingsIn,
    VoiceSettingsOut,
)
from plateaux.embed.models import Widget
from plateaux.platform.auth.subject import Subject
from plateaux.platform.database import savepoint
from plateaux.platform.errors import Conflict, UnprocessableContent
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.routing.models import RoutingQueue, RoutingWorkflow
from plateaux.tenants import service as tenant_service

Slot = Literal["language", "greeting", "menu", "invalid", "voicemail", "callback_offer",
               "callback_taken"]
SLOTS: tuple[str, ...] = Slot.__args__  # type: ignore[attr-defined]


def _check_prompt(slot: str, language: str) -> None:
    # Checked once the IVR is known to be the tenant's: another tenant's id is a 404.
    if slot not in SLOTS:
        raise UnprocessableContent(f"Unknown prompt '{slot}': one of {', '.join(SLOTS)}.",
                                   extra={"field": "slot"})
    if language not in VOICES:
        raise UnprocessableContent(f"Unknown language '{language}'.",
                                   extra={"field": "language"})


def _audit(session: AsyncSession, subject: Subject, action: str, target: str,
           **details: Any) -> None:
    tenant_service.audit(session, subject.tenant_id, actor=subject.label, action=action,
                         target=target, **details)


def _storage(session: AsyncSession) -> Any:
    services: Services = session.info["services"]
    return local_storage(services.settings.data_dir)


def settings_out(row: VoiceSettings, runtime: VoiceRuntime) -> VoiceSettingsOut:
    return VoiceSettingsOut(
        configured=runtime.running, browser_calls=runtime.browser_calls,
        callback_countries=list(row.callback_countries or []),
        callback_max_attempts=row.callback_max_attempts,
        callback_retry_seconds=row.callback_retry_seconds,
        callback_ring_seconds=row.callback_ring_seconds,
        recording_enabled=row.recording_enabled,
        recording_announcement=dict(row.recording_announcement or {}),
        announce_every_seconds=row.announce_every_seconds,
        video_widgets=[uuid.UUID(w) for w in row.video_widgets or []],
        relay_only=row.relay_only,
        has_hold_music=row.hold_music_key is not None)


async def update_settings(session: AsyncSession, subject: Subject,
                          body: VoiceSettingsIn) -> VoiceSettings:
    row = await repo.settings_of(session, subject.tenant_id)
    countries = phone.valid_countries(body.callback_countries)
    widgets = []
    for widget_id in body.video_widgets:
        widget = await session.get(Widget, widget_id)
        if widget is None or widget.tenant_id != subject.tenant_id:
            raise UnprocessableContent(f"Unknown site {widget_id}.",
                                       extra={"field": "video_widgets"})
        widgets.append(str(widget_id))
    row.callback_countries = countries
    row.callback_max_attempts = body.callback_max_attempts
    row.callback_retry_seconds = body.callback_retry_seconds
    row.callback_ring_seconds = body.callback_ring_seconds
    row.recording_enabled = body.recording_enabled
    row.recording_announcement = {k: v.strip() for k, v in body.recording_announcement.items()
                                  if v.strip()}
    row.announce_every_seconds = body.announce_every_seconds
    row.video_widgets = widgets
    row.relay_only = body.relay_only
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()
    _audit(session, subject, "voice.settings_changed", "voice",
           recording=row.recording_enabled, countries=countries)
    return row


async def set_hold_music(session: AsyncSession, subject: Subject, data: bytes) -> VoiceSettings:
    check_recording(data)
    row = await repo.settings_of(session, subject.tenant_id)
    key = new_key(subject.tenant_id, "voice", "music")
    await _storage(session).put(key, data)
    old, row.hold_music_key = row.hold_music_key, key
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()
    if old:
        await _storage(session).delete(old)
    _audit(session, subject, "voice.hold_music_changed", "voice")
    return row


# --- numbers -----------------------------------------------------------------------------------


async def _check_ivr(session: AsyncSession, tenant_id: uuid.UUID,
                     ivr_id: uuid.UUID | None) -> None:
    if ivr_id is not None:
        try:
            await repo.get_ivr(session, tenant_id, ivr_id)
        except Exception as error:
            raise UnprocessableContent(f"Unknown IVR menu {ivr_id}.",
                                       extra={"field": "ivr_id"}) from error


async def _flush_unique(session: AsyncSession, message: str) -> None:
    try:
        async with savepoint(session):
            await session.flush()
    except IntegrityError as error:
        raise Conflict(message) from error


async def add_number(session: AsyncSession, subject: Subject, body: NumberIn) -> VoiceNumber:
    e164 = phone.did(body.e164)
    await _check_ivr(session, subject.tenant_id, body.ivr_id)
    row = VoiceNumber(tenant_id=subject.tenant_id, e164=e164, label=body.label,
                      ivr_id=body.ivr_id, active=body.active)
    session.add(row)
    # Numbers are unique on the whole platform: the constraint sees every tenant's.
    await _flush_unique(session, f"The number {e164} is already in use.")
    _audit(session, subject, "voice.number_added", e164)
    return row


async def update_number(session: AsyncSession, subject: Subject, row: VoiceNumber,
                        body: NumberPatch) -> VoiceNumber:
    changes = body.model_dump(exclude_unset=True)
    if "ivr_id" in changes:
        await _check_ivr(session, subject.tenant_id, body.ivr_id)
    for name, value in changes.items():
        if name in ("active", "label") and value is None:
            continue
        setattr(row, name, value)
    session.add(row)
    await session.flush()
    _audit(session, subject, "voice.number_changed", row.e164, fields=sorted(changes))
    return row


async def delete_number(session: AsyncSession, subject: Subject, row: VoiceNumber) -> None:
    _audit(session, subject, "voice.number_removed", row.e164)
    await session.delete(row)
    await session.flush()


# --- IVR menus -----------------------------------------------------------------------------------


async def _check_definition(session: AsyncSession, tenant_id: uuid.UUID,
                            definition: IvrDefinition) -> None:
    workflows, queues = definition.referenced_ids()
    for workflow_id in workflows:
        found = (await session.scalars(select(RoutingWorkflow.id).where(
            col(RoutingWorkflow.tenant_id) == tenant_id,
            col(RoutingWorkflow.id) == workflow_id))).first()
        if found is None:
            raise UnprocessableContent(f"Unknown workflow {workflow_id}.",
                                       extra={"field": "definition"})
    for queue_id in queues:
        found = (await session.scalars(select(RoutingQueue.id).where(
            col(RoutingQueue.tenant_id) == tenant_id, col(RoutingQueue.id) == queue_id))).first()
        if found is None:
            raise UnprocessableContent(f"Unknown queue {queue_id}.",
                                       extra={"field": "definition"})


async def ivr_out(session: AsyncSession, row: IvrMenu) -> IvrOut:
    prompts = await repo.prompts_of(session, row.tenant_id, row.id)
    return IvrOut(id=row.id, name=row.name, definition=row.definition,
                  prompts=[PromptOut.model_validate(p) for p in prompts],
                  created_at=row.created_at, updated_at=row.updated_at)


async def create_ivr(session: AsyncSession, subject: Subject, body: IvrIn) -> IvrMenu:
    await _check_definition(session, subject.tenant_id, body.definition)
    row = IvrMenu(tenant_id=subject.tenant_id, name=body.name,
                  definition=body.definition.model_dump(mode="json"))
    session.add(row)
    await _flush_unique(session, f"An IVR menu named '{body.name}' already exists.")
    _audit(session, subject, "voice.ivr_created", body.name)
    return row


async def update_ivr(session: AsyncSession, subject: Subject, row: IvrMenu,
                     body: IvrPatch) -> IvrMenu:
    if body.definition is not None:
        await _check_definition(session, subject.tenant_id, body.definition)
        row.definition = body.definition.model_dump(mode="json")
    if body.name is not None:
        row.name = body.name
    row.updated_at = utcnow()
    session.add(row)
    await _flush_unique(session, f"An IVR menu named '{row.name}' already exists.")
    _audit(session, subject, "voice.ivr_changed", row.name)
    return row


async def delete_ivr(session: AsyncSession, subject: Subject, row: IvrMenu) -> None:
    for prompt in await repo.prompts_of(session, row.tenant_id, row.id):
        await _storage(session).delete(prompt.storage_key)
    _audit(session, subject, "voice.ivr_deleted", row.name)
    await session.delete(row)
    await session.flush()


async def set_prompt(session: AsyncSession, subject: Subject, row: IvrMenu, slot: str,
                     language: str, data: bytes, filename: str) -> VoicePrompt:
    _check_prompt(slot, language)
    check_recording(data)
    key = new_key(subject.tenant_id, "voice", "prompts")
    await _storage(session).put(key, data)
    found = await repo.prompt(session, subject.tenant_id, row.id, slot, language)
    if found is None:
        found = VoicePrompt(tenant_id=subject.tenant_id, ivr_id=row.id, slot=slot,
                            language=language, storage_key=key)
    else:
        await _storage(session).delete(found.storage_key)
        found.storage_key = key
        found.created_at = utcnow()
    found.filename = "".join(c for c in filename if c.isprintable())[:200]
    session.add(found)
    await session.flush()
    _audit(session, subject, "voice.prompt_uploaded", row.name, slot=slot, language=language)
    return found


async def delete_prompt(session: AsyncSession, subject: Subject, row: IvrMenu, slot: str,
                        language: str) -> None:
    _check_prompt(slot, language)
    found = await repo.prompt(session, subject.tenant_id, row.id, slot, language)
    if found is None:
        return
    await _storage(session).delete(found.storage_key)
    await session.delete(found)
    await session.flush()
    _audit(session, subject, "voice.prompt_removed", row.name, slot=slot, language=language)
