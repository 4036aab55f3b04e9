"""The admin console's Voice section (``/t/{slug}/admin/voice``): whether voice works on
this platform, callbacks, recording and announcements, sites with video, the tenant's
numbers and the IVR menu each reaches, IVR menus (with recorded prompts) and hold music.
The same services as the API."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from plateaux.channels.voip import admin_service as admin
from plateaux.channels.voip import repository as repo
from plateaux.channels.voip.embed_endpoints import voice_runtime
from plateaux.channels.voip.ivr import IvrDefinition
from plateaux.channels.voip.schemas import IvrIn, IvrPatch, NumberIn, VoiceSettingsIn
from plateaux.embed import repository as embed_repo
from plateaux.platform.deps import AdminConsole, ConsoleContext, DbSession
from plateaux.platform.errors import UnprocessableContent
from plateaux.routing import config_repository as routing_repo
from plateaux.tenants.console import ADMIN, REFUSED, _attempt, _back, _field, _page

router = APIRouter(include_in_schema=False)
SECTION = ADMIN + "/voice"
MAX_UPLOAD = 6 * 1024 * 1024

EXAMPLE_IVR = {
    "languages": ["fr", "en"],
    "greeting": {"fr": "Bonjour, merci de votre appel.",
                 "en": "Hello, thank you for calling."},
    "menu": {"fr": "Pour les ventes, tapez 1. Pour le support, tapez 2.",
             "en": "For sales, press 1. For support, press 2."},
    "options": [{"digit": "1", "label": "Sales", "attributes": {"topic": "sales"}},
                {"digit": "2", "label": "Support", "attributes": {"topic": "support"}}],
    "queue_id": None, "timeout_seconds": 6, "retries": 2, "max_wait_seconds": 300,
    "overflow": "voicemail",
}


async def _show(request: Request, console: ConsoleContext, session: DbSession, *,
                failure: BaseException | None = None, draft: dict[str, Any] | None = None,
                ) -> Response:
    tenant_id = console.tenant.id
    runtime = voice_runtime(request)
    settings = await repo.settings_of(session, tenant_id)
    ivrs = await repo.ivrs(session, tenant_id)
    return _page(
        request, console, "voice/voice.html", section="voice", failure=failure,
        status=admin.settings_out(settings, runtime), settings=settings,
        numbers=await repo.numbers(session, tenant_id), ivrs=ivrs,
        ivr_names={i.id: i.name for i in ivrs},
        prompts={i.id: await repo.prompts_of(session, tenant_id, i.id) for i in ivrs},
        definitions={i.id: json.dumps(i.definition, indent=2, ensure_ascii=False) for i in ivrs},
        widgets=await embed_repo.list_widgets(session, tenant_id),
        queues=await routing_repo.all_queues(session, tenant_id),
        example=json.dumps(EXAMPLE_IVR, indent=2, ensure_ascii=False),
        draft=draft or {}, slots=list(admin.SLOTS),
        trunk=bool(runtime.settings.sip_trunk))


@router.get(SECTION)
async def voice_page(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _show(request, console, session)


@router.post(SECTION + "/settings")
async def save_settings(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def run() -> None:
        announcement = {lang: _field(form, f"announcement_{lang}") for lang in ("fr", "en")}
        body = VoiceSettingsIn.model_validate({
            "callback_countries": [c for c in _field(form, "callback_countries")
                                   .replace(";", ",").replace(" ", ",").split(",") if c],
            "callback_max_attempts": _field(form, "callback_max_attempts") or 3,
            "callback_retry_seconds": _field(form, "callback_retry_seconds") or 120,
            "callback_ring_seconds": _field(form, "callback_ring_seconds") or 30,
            "recording_enabled": form.get("recording_enabled") == "on",
            "recording_announcement": {k: v for k, v in announcement.items() if v},
            "announce_every_seconds": _field(form, "announce_every_seconds") or 30,
            "video_widgets": [v for v in form.getlist("video_widgets") if isinstance(v, str)],
            "relay_only": form.get("relay_only") == "on",
        })
        await admin.update_settings(session, console.subject, body)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _show(request, console, session, failure=exc)
    return _back(request, console, "voice", "Voice settings saved.")


async def _file(request: Request, name: str = "file") -> tuple[bytes, str]:
    form = await request.form()
    upload = form.get(name)
    if upload is None or isinstance(upload, str):
        raise UnprocessableContent("Choose a WAV file.")
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise UnprocessableContent("A recording is at most 5 MB.")
    return data, upload.filename or ""


@router.post(SECTION + "/hold-music")
async def hold_music(request: Request, console: AdminConsole, session: DbSession) -> Response:
    async def run() -> None:
        data, _ = await _file(request)
        await admin.set_hold_music(session, console.subject, data)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _show(request, console, session, failure=exc)
    return _back(request, console, "voice", "Hold music uploaded.")


@router.post(SECTION + "/numbers")
async def add_number(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def run() -> str:
        ivr = _field(form, "ivr_id")
        body = NumberIn(e164=_field(form, "e164"), label=_field(form, "label"),
                        ivr_id=uuid.UUID(ivr) if ivr else None)
        return (await admin.add_number(session, console.subject, body)).e164

    try:
        e164 = await _attempt(session, run)
    except REFUSED as exc:
        return await _show(request, console, session, failure=exc)
    return _back(request, console, "voice", f"Number {e164} added.")


@router.post(SECTION + "/numbers/{number_id}/delete")
async def delete_number(number_id: uuid.UUID, request: Request, console: AdminConsole,
                        session: DbSession) -> Response:
    row = await repo.get_number(session, console.tenant.id, number_id)
    await admin.delete_number(session, console.subject, row)
    return _back(request, console, "voice", f"Number {row.e164} removed.")


def _definition(text: str) -> IvrDefinition:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise UnprocessableContent(f"The menu is not valid JSON: {error.msg} at line "
                                   f"{error.lineno}.") from error
    return IvrDefinition.model_validate(value)


@router.post(SECTION + "/ivrs")
async def create_ivr(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def run() -> str:
        body = IvrIn(name=_field(form, "name"), definition=_definition(_field(form,
                                                                              "definition")))
        return (await admin.create_ivr(session, console.subject, body)).name

    try:
        name = await _attempt(session, run)
    except REFUSED as exc:
        return await _show(request, console, session, failure=exc,
                           draft={"name": _field(form, "name"),
                                  "definition": _field(form, "definition")})
    return _back(request, console, "voice", f"IVR menu {name} created.")


@router.post(SECTION + "/ivrs/{ivr_id}")
async def update_ivr(ivr_id: uuid.UUID, request: Request, console: AdminConsole,
                     session: DbSession) -> Response:
    form = await request.form()
    row = await repo.get_ivr(session, console.tenant.id, ivr_id)

    async def run() -> None:
        body = IvrPatch(name=_field(form, "name") or None,
                        definition=_definition(_field(form, "definition")))
        await admin.update_ivr(session, console.subject, row, body)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _show(request, console, session, failure=exc)
    return _back(request, console, "voice", f"IVR menu {row.name} saved.")


@router.post(SECTION + "/ivrs/{ivr_id}/delete")
async def delete_ivr(ivr_id: uuid.UUID, request: Request, console: AdminConsole,
                     session: DbSession) -> Response:
    row = await repo.get_ivr(session, console.tenant.id, ivr_id)
    await admin.delete_ivr(session, console.subject, row)
    return _back(request, console, "voice", f"IVR menu {row.name} deleted.")


@router.post(SECTION + "/ivrs/{ivr_id}/prompts")
async def upload_prompt(ivr_id: uuid.UUID, request: Request, console: AdminConsole,
                        session: DbSession) -> Response:
    row = await repo.get_ivr(session, console.tenant.id, ivr_id)
    form = await request.form()

    async def run() -> None:
        slot, language = _field(form, "slot"), _field(form, "language")
        data, filename = await _file(request)
        await admin.set_prompt(session, console.subject, row, slot, language, data, filename)

    try:
        await _attempt(session, run)
    except REFUSED as exc:
        return await _show(request, console, session, failure=exc)
    return _back(request, console, "voice", "Recording uploaded.")
