"""The visitor's side of voice, for the widget (``/embed/v1``): what the site offers, a
call from the browser (its WebRTC offer relayed to the switch, the answer relayed back),
hold, mute and hang up, and callbacks with the visitor's position and wait.

The visitor is known by their token (``X-Visitor-Token``), the site by its key; requests
are checked against the site's origins and rate limited like the chat's.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from plateaux.channels.chat.embed_endpoints import VisitorDep, _site
from plateaux.channels.voip import service as svc
from plateaux.channels.voip.availability import voice_availability
from plateaux.channels.voip.models import Call, CallKind, CallStatus
from plateaux.channels.voip.runtime import VoiceRuntime
from plateaux.channels.voip.schemas import (
    CallbackIn,
    CallStarted,
    MediaIn,
    MediaOut,
    ToggleIn,
    VisitorCallOut,
    WebcallIn,
)
from plateaux.embed import service as embed
from plateaux.platform.database import run_post_commit
from plateaux.platform.deps import DbSession, ServicesDep
from plateaux.platform.errors import Conflict
from plateaux.platform.ratelimit import Limit
from plateaux.platform.types import utcnow
from plateaux.routing.live import RoutingError
from plateaux.routing.router import RoutingConflict

router = APIRouter(prefix="/embed/v1", tags=["voice (visitor)"])

CALLS_PER_VISITOR = Limit(count=10, seconds=3600)
CALLBACKS_PER_ADDRESS = Limit(count=5, seconds=3600)
CALLBACKS_PER_NUMBER = Limit(count=3, seconds=24 * 3600)


def voice_runtime(request: Request) -> VoiceRuntime:
    runtime: VoiceRuntime = request.app.state.voice
    return runtime


Runtime = Annotated[VoiceRuntime, Depends(voice_runtime)]


class VoiceOffer(BaseModel):
    """What the site's widget may offer now: a call from the browser (with video or
    not) and callbacks; and whether anyone could answer."""

    call: bool
    video: bool
    callback: bool
    agents_available: bool
    open: bool


@router.get("/sites/{key}/voice", response_model=VoiceOffer)
async def voice_offer(key: str, request: Request, session: DbSession, services: ServicesDep,
                      runtime: Runtime) -> VoiceOffer:
    widget = await _site(request, key, session, services)
    buttons = embed.enabled_buttons(widget)
    settings = await svc.repo.settings_of(session, widget.tenant_id)
    available, is_open = await voice_availability(session, services, widget)
    call = "call" in buttons and runtime.browser_calls
    return VoiceOffer(call=call and available and is_open,
                      video=call and str(widget.id) in (settings.video_widgets or []),
                      callback="callback" in buttons and runtime.running
                      and bool(runtime.settings.sip_trunk),
                      agents_available=available, open=is_open)


@router.post("/sites/{key}/calls", response_model=CallStarted, status_code=201)
async def start_call(found: VisitorDep, body: WebcallIn, session: DbSession,
                     services: ServicesDep, runtime: Runtime) -> CallStarted:
    """A call from the browser: a routed contact and the visitor's leg, with the ICE
    servers (TURN credentials for this leg only) the browser connects with."""
    widget, visitor = found
    await services.limiter.check(f"embed:call:{visitor.id}", CALLS_PER_VISITOR, what="calls")
    call, leg = await svc.start_webcall(session, runtime, widget, visitor, video=body.video,
                                        language=body.language)
    await session.commit()
    await run_post_commit(session)
    settings = await svc.repo.settings_of(session, widget.tenant_id)
    return CallStarted(call_id=call.id, leg_id=leg.id, ice_servers=svc.leg_ice(runtime, leg.id),
                       ice_transport_policy="relay" if settings.relay_only else "all",
                       video=call.video, status=call.status)


@router.post("/sites/{key}/calls/{call_id}/media", response_model=MediaOut)
async def call_media(call_id: uuid.UUID, body: MediaIn, found: VisitorDep, session: DbSession,
                     runtime: Runtime) -> MediaOut:
    """The browser's SDP offer (every ICE candidate gathered); the answer to apply."""
    widget, visitor = found
    call = await svc.visitor_call(session, widget, visitor, call_id)
    leg_id, answer = await svc.visitor_media(runtime, call, body.sdp)
    return MediaOut(sdp=answer, leg_id=leg_id)


@router.get("/sites/{key}/calls/{call_id}", response_model=VisitorCallOut)
async def call_status(call_id: uuid.UUID, found: VisitorDep, session: DbSession,
                      runtime: Runtime) -> VisitorCallOut:
    """Where the call or callback stands: waiting (position, estimated wait), ringing,
    connected (the agent's name), on hold, ended (and how)."""
    widget, visitor = found
    call = await svc.visitor_call(session, widget, visitor, call_id)
    return await svc.visitor_view(session, runtime, call)


@router.post("/sites/{key}/calls/{call_id}/hangup", status_code=204)
async def hang_up(call_id: uuid.UUID, found: VisitorDep, session: DbSession,
                  runtime: Runtime) -> Response:
    widget, visitor = found
    call = await svc.visitor_call(session, widget, visitor, call_id)
    await _visitor_ends(session, runtime, call)
    return Response(status_code=204)


async def _visitor_ends(session: DbSession, runtime: VoiceRuntime, call: Call) -> None:
    live = runtime.calls.get(call.id)
    customer = live.customer if live is not None else None
    if customer is not None:
        await runtime.hangup(customer, "customer_hangup")
        return
    if call.status == CallStatus.ENDED:
        return
    if live is not None and any(leg.role == "customer" for leg in live.legs.values()):
        return  # the customer's leg has just ended: the call is being closed
    # Nothing connected (a callback not placed yet, or a scheduled one): withdraw it.
    if call.contact_id is not None and runtime.services.routing is not None:
        try:
            await runtime.services.routing.cancel(call.tenant_id, call.contact_id,
                                                  reason="abandoned")
        except (RoutingError, RoutingConflict) as error:
            if call.kind != CallKind.CALLBACK:
                raise Conflict(str(error)) from error
    call.status, call.outcome = CallStatus.ENDED, "cancelled"
    call.ended_at = utcnow()
    session.add(call)
    if live is not None:
        live.ended = True
        runtime.calls.pop(call.id, None)


@router.post("/sites/{key}/calls/{call_id}/video", response_model=VisitorCallOut)
async def call_video(call_id: uuid.UUID, body: MediaIn, found: VisitorDep, session: DbSession,
                     runtime: Runtime) -> VisitorCallOut:
    """The visitor's video offer (every candidate gathered); the agent's answer comes
    back in the call's status (``video_answer``)."""
    widget, visitor = found
    call = await svc.visitor_call(session, widget, visitor, call_id)
    svc.video_offer(runtime, call, body.sdp)
    return await svc.visitor_view(session, runtime, call)


@router.post("/sites/{key}/calls/{call_id}/hold", response_model=VisitorCallOut)
async def hold(call_id: uuid.UUID, body: ToggleIn, found: VisitorDep, session: DbSession,
               runtime: Runtime) -> VisitorCallOut:
    widget, visitor = found
    call = await svc.visitor_call(session, widget, visitor, call_id)
    await svc.hold(runtime, call, by="customer", on=body.on)
    return await svc.visitor_view(session, runtime, call)


@router.post("/sites/{key}/calls/{call_id}/mute", response_model=VisitorCallOut)
async def mute(call_id: uuid.UUID, body: ToggleIn, found: VisitorDep, session: DbSession,
               runtime: Runtime) -> VisitorCallOut:
    widget, visitor = found
    call = await svc.visitor_call(session, widget, visitor, call_id)
    await svc.mute(runtime, call, user_id=None, role="customer", on=body.on)
    return await svc.visitor_view(session, runtime, call)


@router.post("/sites/{key}/callbacks", response_model=VisitorCallOut, status_code=201)
async def request_callback(body: CallbackIn, found: VisitorDep, request: Request,
                           session: DbSession, services: ServicesDep,
                           runtime: Runtime) -> VisitorCallOut:
    """Leave a number to be called back, as soon as possible or in a slot within the
    opening hours. The number is checked (countries the tenant allows, no premium-rate or
    short number) and rate limited per address and per number."""
    widget, visitor = found
    address = request.client.host if request.client else "unknown"
    await services.limiter.check(f"embed:callback:{widget.id}:{address}",
                                 CALLBACKS_PER_ADDRESS, what="callbacks")
    call = await svc.request_callback(session, runtime, widget, visitor, number=body.number,
                                      when=body.when, name=body.name, language=body.language)
    await services.limiter.check(f"embed:callback-number:{widget.tenant_id}:"
                                 f"{call.customer_number}", CALLBACKS_PER_NUMBER,
                                 what="callbacks to this number")
    await session.commit()
    await run_post_commit(session)
    return await svc.visitor_view(session, runtime, call)
