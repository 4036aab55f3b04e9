"""The voice API (``/api/v1/voice``): the softphone (answer, hang up, hold, mute,
transfer), where an agent's calls ring, supervisors (listen, whisper, join), call
details with every leg and its quality, recordings and voicemail, and the tenant's voice
settings, numbers and IVR menus."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response, UploadFile
from pydantic import BaseModel

from plateaux.channels.voip import admin_service as admin
from plateaux.channels.voip import numbers as phone
from plateaux.channels.voip import repository as repo
from plateaux.channels.voip import service as svc
from plateaux.channels.voip.embed_endpoints import Runtime
from plateaux.channels.voip.models import LegStatus
from plateaux.channels.voip.schemas import (
    AnswerIn,
    AnswerOut,
    CallOut,
    IvrIn,
    IvrOut,
    IvrPatch,
    LegStatsOut,
    MediaIn,
    MediaOut,
    ModeIn,
    NumberIn,
    NumberOut,
    NumberPatch,
    ReachIn,
    ReachOut,
    SuperviseIn,
    ToggleIn,
    VoiceSettingsIn,
    VoiceSettingsOut,
    VoiceTransferIn,
)
from plateaux.channels.voip.turn import ice_servers
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import DbSession, ServicesDep, require_scope
from plateaux.platform.errors import Forbidden, NotFound, PayloadTooLarge
from plateaux.routing import contact_service

router = APIRouter(prefix="/voice", tags=["voice"])

Agent = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_READ))]
Supervisor = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_WRITE))]
Reader = Annotated[Subject, Depends(require_scope(Scope.TENANT_READ))]
Admin = Annotated[Subject, Depends(require_scope(Scope.TENANT_WRITE))]
MAX_UPLOAD = 6 * 1024 * 1024


class VoiceStatus(BaseModel):
    configured: bool
    browser_calls: bool
    callbacks: bool
    ice_servers: list[dict[str, object]]
    ice_transport_policy: str


@router.get("/status", response_model=VoiceStatus)
async def voice_status(subject: Agent, session: DbSession, runtime: Runtime) -> VoiceStatus:
    """Whether voice works here, and the ICE servers (TURN credentials made for this
    person, valid for a while) the softphone connects with."""
    settings = runtime.settings
    who = (subject.user_id or subject.principal_id).hex
    relay = (await repo.settings_of(session, subject.tenant_id)).relay_only
    return VoiceStatus(
        ice_transport_policy="relay" if relay else "all",
        configured=runtime.running, browser_calls=runtime.browser_calls,
        callbacks=runtime.running and bool(settings.sip_trunk),
        ice_servers=ice_servers(stun_urls=settings.stun_urls, turn_urls=settings.turn_urls,
                                secret=settings.turn_secret, leg_id=f"user-{who}",
                                ttl=settings.turn_ttl_seconds))


# --- where an agent's calls ring -----------------------------------------------------------


def _reach_out(mode: str, address: str, updated: datetime | None = None) -> ReachOut:
    display = "This console" if mode == "browser" else (
        phone.display(address) if mode == "phone" else address)
    return ReachOut(mode=mode, address=address, display=display,
                    updated_at=updated)


@router.get("/me/reach", response_model=ReachOut)
async def my_reach(subject: Agent, session: DbSession) -> ReachOut:
    if subject.user_id is None:
        raise Forbidden("Only a person's own session has a reach number.")
    found = await svc.reach(session, subject.tenant_id, subject.user_id)
    return _reach_out(found.mode, found.address, found.updated_at)


@router.put("/me/reach", response_model=ReachOut)
async def set_my_reach(body: ReachIn, subject: Agent, session: DbSession,
                       services: ServicesDep) -> ReachOut:
    """Where my calls ring: this console's softphone, a number (E.164), or a SIP
    address. It may change at any time, even between two calls."""
    found = await svc.set_reach(session, services, subject, mode=body.mode,
                                address=body.address)
    return _reach_out(found.mode, found.address, found.updated_at)


# --- calls -----------------------------------------------------------------------------------


@router.post("/contacts/{contact_id}/answer", response_model=AnswerOut)
async def answer(contact_id: uuid.UUID, body: AnswerIn, subject: Agent, session: DbSession,
                 runtime: Runtime) -> AnswerOut:
    """Join the call of a contact you accepted: from the softphone (its WebRTC offer in
    ``sdp``; the answer comes back) or at the number or SIP address you set."""
    call, leg, sdp = await svc.answer(session, runtime, subject, contact_id, body.sdp)
    return AnswerOut(leg_id=leg.id, sdp=sdp,
                     call=await svc.call_out(session, runtime, call, for_user=subject.user_id))


@router.get("/contacts/{contact_id}/call", response_model=CallOut)
async def call_of_contact(contact_id: uuid.UUID, subject: Agent, session: DbSession,
                          runtime: Runtime) -> CallOut:
    contact = await contact_service.get_contact(session, subject, contact_id)
    call = await repo.call_of_contact(session, subject.tenant_id, contact.id)
    if call is None:
        voicemail = (contact.attributes or {}).get("voicemail_call_id")
        if not voicemail:
            raise NotFound("This contact is not a call.")
        call = await repo.get_call(session, subject.tenant_id, uuid.UUID(str(voicemail)))
    else:
        await svc.call_for_agent(session, subject, call.id)
    return await svc.call_out(session, runtime, call, for_user=subject.user_id)


@router.get("/contacts/{contact_id}/voicemail", response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}})
async def contact_voicemail(contact_id: uuid.UUID, subject: Agent,
                            session: DbSession) -> Response:
    """The message a caller left, for the agent given its contact."""
    contact = await contact_service.get_contact(session, subject, contact_id)
    call_id = (contact.attributes or {}).get("voicemail_call_id")
    if not call_id:
        raise NotFound("This contact holds no voicemail.")
    call = await repo.get_call(session, subject.tenant_id, uuid.UUID(str(call_id)))
    return _wav(await svc.recording(session, subject, call, voicemail=True),
                f"voicemail-{call.id}")


@router.get("/calls", response_model=list[CallOut])
async def live_calls(subject: Supervisor, session: DbSession, runtime: Runtime) -> list[CallOut]:
    """Calls going on now (in the IVR, waiting, connected), for supervisors."""
    calls = await repo.live_calls(session, subject.tenant_id)
    return [await svc.call_out(session, runtime, call) for call in calls]


@router.get("/calls/{call_id}", response_model=CallOut)
async def get_call(call_id: uuid.UUID, subject: Agent, session: DbSession,
                   runtime: Runtime) -> CallOut:
    call = await svc.call_for_agent(session, subject, call_id)
    return await svc.call_out(session, runtime, call, for_user=subject.user_id)


@router.post("/calls/{call_id}/hangup", response_model=CallOut)
async def hang_up(call_id: uuid.UUID, subject: Agent, session: DbSession,
                  runtime: Runtime) -> CallOut:
    """Hang up your leg: the agent serving the call ends it (the contact goes to
    wrap-up); a supervisor, or an agent who handed the call over, only leaves."""
    call = await svc.call_for_agent(session, subject, call_id)
    await svc.agent_hangup(session, runtime, subject, call)
    return await svc.call_out(session, runtime, call, for_user=subject.user_id)


@router.post("/calls/{call_id}/hold", response_model=CallOut)
async def hold(call_id: uuid.UUID, body: ToggleIn, subject: Agent, session: DbSession,
               runtime: Runtime) -> CallOut:
    """The caller hears music while on hold; the agent hears nothing."""
    call = await svc.call_for_agent(session, subject, call_id)
    await svc.hold(runtime, call, by="agent", on=body.on)
    return await svc.call_out(session, runtime, call, for_user=subject.user_id)


@router.post("/calls/{call_id}/mute", response_model=CallOut)
async def mute(call_id: uuid.UUID, body: ToggleIn, subject: Agent, session: DbSession,
               runtime: Runtime) -> CallOut:
    call = await svc.call_for_agent(session, subject, call_id)
    legs = await repo.legs_of(session, subject.tenant_id, call.id)
    mine = [leg for leg in legs if leg.user_id == subject.user_id
            and leg.status != LegStatus.ENDED.value]
    role = mine[-1].role if mine else "agent"
    await svc.mute(runtime, call, user_id=subject.user_id, role=role, on=body.on)
    return await svc.call_out(session, runtime, call, for_user=subject.user_id)


@router.post("/calls/{call_id}/transfer", response_model=CallOut)
async def transfer(call_id: uuid.UUID, body: VoiceTransferIn, subject: Agent,
                   session: DbSession, runtime: Runtime) -> CallOut:
    """To a queue, an agent or a skill. ``blind``: you leave now and the caller waits
    for the next agent; ``warm``: you stay with the caller until the next agent joins
    (then hang up to leave). One contact throughout, billed once."""
    call = await svc.call_for_agent(session, subject, call_id)
    await svc.transfer(session, runtime, subject, call, queue_id=body.queue_id,
                       agent_id=body.agent_id, skill_id=body.skill_id, mode=body.mode)
    return await svc.call_out(session, runtime, call, for_user=subject.user_id)


@router.post("/calls/{call_id}/video", response_model=CallOut)
async def call_video(call_id: uuid.UUID, body: MediaIn, subject: Agent, session: DbSession,
                     runtime: Runtime) -> CallOut:
    """The agent's answer to the visitor's video offer (video goes browser to browser)."""
    call = await svc.call_for_agent(session, subject, call_id)
    svc.video_answer(runtime, call, body.sdp)
    return await svc.call_out(session, runtime, call, for_user=subject.user_id)


@router.post("/calls/{call_id}/supervise", response_model=MediaOut)
async def supervise(call_id: uuid.UUID, body: SuperviseIn, subject: Supervisor,
                    session: DbSession, runtime: Runtime) -> MediaOut:
    """Listen to a call (nobody hears you), whisper to the agent (the caller does not
    hear you), or join it."""
    call = await repo.get_call(session, subject.tenant_id, call_id)
    leg, sdp = await svc.supervise(session, runtime, subject, call, mode=body.mode,
                                   sdp=body.sdp)
    return MediaOut(sdp=sdp or "", leg_id=leg.id)


@router.post("/calls/{call_id}/mode", response_model=CallOut)
async def supervisor_mode(call_id: uuid.UUID, body: ModeIn, subject: Supervisor,
                          session: DbSession, runtime: Runtime) -> CallOut:
    call = await repo.get_call(session, subject.tenant_id, call_id)
    await svc.set_mode(session, runtime, subject, call, body.mode)
    return await svc.call_out(session, runtime, call, for_user=subject.user_id)


@router.get("/calls/{call_id}/stats", response_model=list[LegStatsOut])
async def call_stats(call_id: uuid.UUID, subject: Agent, session: DbSession,
                     runtime: Runtime) -> list[LegStatsOut]:
    """Each connected leg's audio as the switch measures it: packets each way, packets
    lost, jitter and codec."""
    call = await svc.call_for_agent(session, subject, call_id)
    live = runtime.calls.get(call.id)
    result: list[LegStatsOut] = []
    if live is None:
        return result
    for leg in list(live.legs.values()):
        stats = await runtime.stats(leg)
        if stats is not None:
            result.append(LegStatsOut(leg_id=leg.id, role=leg.role, rx_packets=stats.rx_packets,
                                      tx_packets=stats.tx_packets, rx_lost=stats.rx_lost,
                                      jitter_ms=stats.jitter_ms, codec=stats.codec))
    return result


def _wav(data: bytes, name: str) -> Response:
    return Response(data, media_type="audio/wav", headers={
        "Content-Disposition": f'attachment; filename="{name}.wav"',
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/calls/{call_id}/recording", response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}})
async def call_recording(call_id: uuid.UUID, subject: Agent, session: DbSession) -> Response:
    call = await repo.get_call(session, subject.tenant_id, call_id)
    return _wav(await svc.recording(session, subject, call), f"call-{call.id}")


@router.get("/calls/{call_id}/voicemail", response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}})
async def call_voicemail(call_id: uuid.UUID, subject: Agent, session: DbSession) -> Response:
    call = await repo.get_call(session, subject.tenant_id, call_id)
    return _wav(await svc.recording(session, subject, call, voicemail=True),
                f"voicemail-{call.id}")


# --- administration -----------------------------------------------------------------------------


@router.get("/settings", response_model=VoiceSettingsOut)
async def get_settings(subject: Reader, session: DbSession, runtime: Runtime) -> VoiceSettingsOut:
    return admin.settings_out(await repo.settings_of(session, subject.tenant_id), runtime)


@router.put("/settings", response_model=VoiceSettingsOut)
async def put_settings(body: VoiceSettingsIn, subject: Admin, session: DbSession,
                       runtime: Runtime) -> VoiceSettingsOut:
    """Countries callbacks may go to, callback attempts and pauses, recording (with the
    announcement callers hear first), announcements while waiting, sites with video."""
    row = await admin.update_settings(session, subject, body)
    return admin.settings_out(row, runtime)


async def _upload(file: UploadFile) -> bytes:
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise PayloadTooLarge("A recording is at most 5 MB.")
    return data


@router.put("/settings/hold-music", response_model=VoiceSettingsOut)
async def put_hold_music(file: UploadFile, subject: Admin, session: DbSession,
                         runtime: Runtime) -> VoiceSettingsOut:
    """The music callers hear while they wait (a WAV file, 16-bit PCM)."""
    row = await admin.set_hold_music(session, subject, await _upload(file))
    return admin.settings_out(row, runtime)


@router.get("/numbers", response_model=list[NumberOut])
async def list_numbers(subject: Reader, session: DbSession) -> list[NumberOut]:
    return [NumberOut.model_validate(n) for n in await repo.numbers(session, subject.tenant_id)]


@router.post("/numbers", response_model=NumberOut, status_code=201)
async def add_number(body: NumberIn, subject: Admin, session: DbSession) -> NumberOut:
    """A number (DID) the tenant owns; its calls reach the IVR named."""
    return NumberOut.model_validate(await admin.add_number(session, subject, body))


@router.patch("/numbers/{number_id}", response_model=NumberOut)
async def patch_number(number_id: uuid.UUID, body: NumberPatch, subject: Admin,
                       session: DbSession) -> NumberOut:
    row = await repo.get_number(session, subject.tenant_id, number_id)
    return NumberOut.model_validate(await admin.update_number(session, subject, row, body))


@router.delete("/numbers/{number_id}", status_code=204, response_class=Response)
async def delete_number(number_id: uuid.UUID, subject: Admin, session: DbSession) -> Response:
    row = await repo.get_number(session, subject.tenant_id, number_id)
    await admin.delete_number(session, subject, row)
    return Response(status_code=204)


@router.get("/ivrs", response_model=list[IvrOut])
async def list_ivrs(subject: Reader, session: DbSession) -> list[IvrOut]:
    return [await admin.ivr_out(session, row) for row in await repo.ivrs(session,
                                                                          subject.tenant_id)]


@router.post("/ivrs", response_model=IvrOut, status_code=201)
async def create_ivr(body: IvrIn, subject: Admin, session: DbSession) -> IvrOut:
    return await admin.ivr_out(session, await admin.create_ivr(session, subject, body))


@router.get("/ivrs/{ivr_id}", response_model=IvrOut)
async def get_ivr(ivr_id: uuid.UUID, subject: Reader, session: DbSession) -> IvrOut:
    return await admin.ivr_out(session, await repo.get_ivr(session, subject.tenant_id, ivr_id))


@router.patch("/ivrs/{ivr_id}", response_model=IvrOut)
async def patch_ivr(ivr_id: uuid.UUID, body: IvrPatch, subject: Admin,
                    session: DbSession) -> IvrOut:
    row = await repo.get_ivr(session, subject.tenant_id, ivr_id)
    return await admin.ivr_out(session, await admin.update_ivr(session, subject, row, body))


@router.delete("/ivrs/{ivr_id}", status_code=204, response_class=Response)
async def delete_ivr(ivr_id: uuid.UUID, subject: Admin, session: DbSession) -> Response:
    row = await repo.get_ivr(session, subject.tenant_id, ivr_id)
    await admin.delete_ivr(session, subject, row)
    return Response(status_code=204)


@router.put("/ivrs/{ivr_id}/prompts/{slot}/{language}", response_model=IvrOut)
async def put_prompt(ivr_id: uuid.UUID, slot: str, language: str, file: UploadFile,
                     subject: Admin, session: DbSession) -> IvrOut:
    """A recording that replaces a spoken text of the IVR (WAV, 16-bit PCM)."""
    row = await repo.get_ivr(session, subject.tenant_id, ivr_id)
    await admin.set_prompt(session, subject, row, slot, language, await _upload(file),
                           file.filename or "")
    return await admin.ivr_out(session, row)


@router.delete("/ivrs/{ivr_id}/prompts/{slot}/{language}", response_model=IvrOut)
async def delete_prompt(ivr_id: uuid.UUID, slot: str, language: str, subject: Admin,
                        session: DbSession) -> IvrOut:
    row = await repo.get_ivr(session, subject.tenant_id, ivr_id)
    await admin.delete_prompt(session, subject, row, slot, language)
    return await admin.ivr_out(session, row)
