"""Voice rules: starting calls and callbacks, inbound calls through the IVR, answering,
holding, muting, transferring and supervising, recordings and voicemail, every leg's
times (and its billing), and who may do what.

Each call is a routed contact of its channel (``webcall``, ``callback``, ``phone``),
created through the routing engine's own contact rules, so routing, transfers (the same
contact: billed once) and reports treat it like any other contact. What needs the media
goes through the :class:`~plateaux.channels.voip.runtime.VoiceRuntime` of the process
that runs the switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.billing.metering import record_voice_leg
from plateaux.billing.meters import VoiceDirection
from plateaux.billing.standing import ensure_taking_contacts
from plateaux.channels.storage import StorageError, local_storage
from plateaux.channels.voip import numbers as phone
from plateaux.channels.voip import repository as repo
from plateaux.channels.voip.ivr import IvrDefinition, say
from plateaux.channels.voip.models import (
    AgentReach,
    Call,
    CallKind,
    CallLeg,
    CallStatus,
    LegKind,
    LegRole,
    LegStatus,
    ReachMode,
    VoiceNumber,
)
from plateaux.channels.voip.runtime import LiveCall, LiveLeg, VoiceRuntime, VoiceUnavailable
from plateaux.channels.voip.schemas import CallOut, LegOut, VisitorCallOut
from plateaux.channels.voip.turn import ice_servers
from plateaux.crm import matching
from plateaux.embed import service as embed
from plateaux.embed.models import Visitor, Widget
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.errors import Conflict, Forbidden, NotFound, UnprocessableContent
from plateaux.platform.netguard import UnresolvableHost, is_public_address, resolve_host
from plateaux.platform.publish import publish
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.routing import contact_service
from plateaux.routing.contact_schemas import ContactIn
from plateaux.routing.live_repository import load_configuration
from plateaux.routing.models import Contact
from plateaux.tenants.hours import is_open
from plateaux.tenants.models import Role, Tenant, TenantStatus, User

logger = logging.getLogger(__name__)

SUPERVISING = frozenset({Role.ADMIN, Role.SUPERVISOR})
VOICE_EVENT = "voice.call"


# --- legs and their times ------------------------------------------------------------------


async def record_leg(session: AsyncSession, leg: CallLeg, *, status: str, answered: bool,
                     ended: bool, why: str | None, code: int | None,
                     sip_call_id: str | None) -> None:
    """A leg's progress, kept as it happens; an answered leg that ends is billed (once:
    the ledger is keyed by the leg's id)."""
    now = utcnow()
    leg.status = status
    if sip_call_id:
        leg.sip_call_id = sip_call_id[:200]
    if answered and leg.answered_at is None:
        leg.answered_at = now
    if ended and leg.ended_at is None:
        leg.ended_at = now
        leg.end_reason = (why or "")[:40] or None
        leg.sip_status = code or None
    session.add(leg)
    await session.flush()
    if ended and leg.answered_at is not None and leg.ended_at is not None:
        call = await session.get(Call, leg.call_id)
        seconds = max(0, int((leg.ended_at - leg.answered_at).total_seconds()))
        await record_voice_leg(session, leg.tenant_id, leg_id=str(leg.id),
                               direction=VoiceDirection(leg.direction), seconds=seconds,
                               ended_at=leg.ended_at,
                               contact_id=call.contact_id if call else None)
    await announce(session, leg.tenant_id, leg.call_id)


async def announce(session: AsyncSession, tenant_id: uuid.UUID, call_id: uuid.UUID) -> None:
    """Tell the consoles of the people on the call (and supervisors) it changed."""
    legs = await repo.legs_of(session, tenant_id, call_id)
    payload = {"call_id": str(call_id)}
    for user_id in {leg.user_id for leg in legs if leg.user_id is not None}:
        publish(session, tenant_id, VOICE_EVENT, payload, audience=f"user:{user_id}")
    publish(session, tenant_id, VOICE_EVENT, payload, audience="voice:supervisors")


def direction_of(kind: str, role: str, call_kind: str) -> str:
    if kind == LegKind.BROWSER:
        return VoiceDirection.BROWSER.value
    if role == LegRole.CUSTOMER and call_kind == CallKind.INBOUND:
        return VoiceDirection.INBOUND.value
    return VoiceDirection.OUTBOUND.value


def new_leg(call: Call, *, role: str, kind: str, user_id: uuid.UUID | None = None,
            address: str = "", mode: str | None = None,
            status: str = LegStatus.DIALING.value) -> CallLeg:
    return CallLeg(tenant_id=call.tenant_id, call_id=call.id, role=role, kind=kind,
                   direction=direction_of(kind, role, call.kind), user_id=user_id,
                   address=address[:300], mode=mode, status=status)


# --- contacts ---------------------------------------------------------------------------------


def _system_subject(tenant_id: uuid.UUID, label: str) -> Subject:
    return Subject(tenant_id=tenant_id, kind="visitor", principal_id=tenant_id,
                   role=Role.AGENT, scopes=frozenset(), label=label)


async def _contact(session: AsyncSession, tenant_id: uuid.UUID, *, channel: str,
                   target: dict[str, Any], attributes: dict[str, Any],
                   customer_key: str | None, label: str) -> Contact:
    if not target:
        raise Conflict("This site's calls are not connected to a queue or workflow yet.")
    try:
        body = ContactIn.model_validate({"channel": channel, "attributes": attributes,
                                         "customer_key": customer_key, **target})
    except ValidationError as error:
        raise UnprocessableContent(
            "The attributes are not valid: " + "; ".join(e["msg"] for e in error.errors())
        ) from error
    contact = await contact_service.create_contact(session, _system_subject(tenant_id, label),
                                                   body)
    # The person calling (the caller's number, the number to call back, the visitor and
    # the identity their site vouched for): the console pops their record with the offer.
    verified = attributes.get("external_id") if attributes.get("verified") else None
    await matching.match_contact(
        session, contact, phone=attributes.get("phone") or None,
        visitor_id=attributes.get("visitor_id"), verified_id=verified,
        email=attributes.get("email") if verified else None,
        name=attributes.get("name") if attributes.get("name") != attributes.get("phone")
        else None, language=attributes.get("language"))
    return contact


async def _visitor_attributes(session: AsyncSession, widget: Widget, visitor: Visitor,
                              language: str) -> dict[str, Any]:
    pages = await embed.pages_viewed(session, widget.tenant_id, visitor.id, limit=20)
    attributes: dict[str, Any] = {
        "language": language, "site_key": widget.public_key, "site_name": widget.name,
        "current_page": visitor.current_url, "current_title": visitor.current_title,
        "pages_viewed": [page.url for page in pages], "visitor_id": str(visitor.id),
        "verified": visitor.verified,
    }
    if visitor.verified:
        attributes.update(external_id=visitor.external_id, email=visitor.email,
                          name=visitor.name)
    return attributes


# --- the visitor's side ------------------------------------------------------------------------


def require_voice(runtime: VoiceRuntime, *, browser: bool = False) -> None:
    if not runtime.running:
        raise VoiceUnavailableProblem("Voice is not configured on this platform.")
    if browser and not runtime.browser_calls:
        raise VoiceUnavailableProblem("Calls from browsers are not configured here.")


class VoiceUnavailableProblem(Conflict):
    status, title = 503, "Voice unavailable"


def leg_ice(runtime: VoiceRuntime, leg_id: uuid.UUID) -> list[dict[str, Any]]:
    settings = runtime.settings
    return ice_servers(stun_urls=settings.stun_urls, turn_urls=settings.turn_urls,
                       secret=settings.turn_secret, leg_id=leg_id.hex,
                       ttl=settings.turn_ttl_seconds)


async def start_webcall(session: AsyncSession, runtime: VoiceRuntime, widget: Widget,
                        visitor: Visitor, *, video: bool,
                        language: str | None) -> tuple[Call, CallLeg]:
    require_voice(runtime, browser=True)
    await ensure_taking_contacts(session, widget.tenant_id)
    if "call" not in embed.enabled_buttons(widget):
        raise Forbidden("This site does not take calls from the browser.")
    settings = await repo.settings_of(session, widget.tenant_id)
    video = video and str(widget.id) in (settings.video_widgets or [])
    chosen = embed.pick_language(widget, language, visitor.language)
    attributes = await _visitor_attributes(session, widget, visitor, chosen)
    attributes["video"] = video
    target = embed.button_target(widget, "call") or embed.chat_target(widget)
    contact = await _contact(session, widget.tenant_id, channel="webcall", target=target,
                             attributes=attributes, customer_key=str(visitor.id),
                             label=f"visitor:{visitor.id}")
    call = Call(tenant_id=widget.tenant_id, contact_id=contact.id, kind=CallKind.WEBCALL,
                status=CallStatus.WAITING, widget_id=widget.id, visitor_id=visitor.id,
                language=chosen, video=video)
    session.add(call)
    await session.flush()
    leg = new_leg(call, role=LegRole.CUSTOMER, kind=LegKind.BROWSER)
    session.add(leg)
    await session.flush()
    live = runtime.track(call)
    live.announce_every = float(settings.announce_every_seconds)
    live.waiting_since = time.monotonic()
    runtime.add_leg(live, leg)
    return call, leg


async def visitor_call(session: AsyncSession, widget: Widget, visitor: Visitor,
                       call_id: uuid.UUID) -> Call:
    call = await repo.get_call(session, widget.tenant_id, call_id)
    if call.visitor_id != visitor.id or call.widget_id != widget.id:
        raise NotFound("Call not found.")
    return call


async def visitor_media(runtime: VoiceRuntime, call: Call, sdp: str) -> tuple[uuid.UUID, str]:
    require_voice(runtime, browser=True)
    live = runtime.calls.get(call.id)
    leg = live.customer if live is not None else None
    if live is None or leg is None or leg.kind != LegKind.BROWSER:
        raise Conflict("This call has ended.")
    if leg.janus is not None or leg.name:
        raise Conflict("This call is already connected.")
    return leg.id, await _browser(runtime, leg, sdp)


async def _browser(runtime: VoiceRuntime, leg: LiveLeg, sdp: str) -> str:
    try:
        return await runtime.connect_browser(leg, sdp)
    except VoiceUnavailable as error:
        raise VoiceUnavailableProblem(str(error)) from error


async def visitor_view(session: AsyncSession, runtime: VoiceRuntime, call: Call) -> VisitorCallOut:
    out = VisitorCallOut(id=call.id, kind=call.kind, status=call.status,
                         scheduled_for=call.scheduled_for, attempts=call.attempts,
                         outcome=call.outcome)
    live = runtime.calls.get(call.id)
    if live is not None:
        out.on_hold = live.held is not None
        out.video_answer = live.video_answer
    if call.status != CallStatus.ENDED and call.contact_id is not None:
        status, agent_id, place = await runtime.routed(call.tenant_id, call.contact_id)
        if place is not None:
            out.position, out.estimated_wait_seconds = place
        # A callback's agent is named once the customer's phone is answered.
        talking = call.kind != CallKind.CALLBACK or call.status == CallStatus.CONNECTED
        if agent_id and status in ("assigned", "wrap_up") and talking:
            user = await session.get(User, uuid.UUID(agent_id))
            if user is not None and user.tenant_id == call.tenant_id:
                out.agent_name = user.name
    if call.contact_id is not None and call.status == CallStatus.ENDED:
        contact = await session.get(Contact, call.contact_id)
        if contact is not None and contact.outcome in ("offer_callback", "take_message"):
            out.overflow = contact.outcome
    return out


async def request_callback(session: AsyncSession, runtime: VoiceRuntime, widget: Widget,
                           visitor: Visitor | None, *, number: str, when: str | datetime,
                           name: str, language: str | None) -> Call:
    require_voice(runtime)
    if not runtime.settings.sip_trunk:
        raise VoiceUnavailableProblem("Callbacks are not configured on this platform.")
    await ensure_taking_contacts(session, widget.tenant_id)
    if "callback" not in embed.enabled_buttons(widget):
        raise Forbidden("This site does not offer callbacks.")
    settings = await repo.settings_of(session, widget.tenant_id)
    tenant = await session.get(Tenant, widget.tenant_id)
    region = _region_of(tenant, settings.callback_countries)
    e164 = phone.normalise(number, default_region=region,
                           allowed_countries=settings.callback_countries)
    chosen = embed.pick_language(widget, language, visitor.language if visitor else None)
    scheduled: datetime | None = None
    if isinstance(when, datetime):
        scheduled = await _check_slot(session, widget.tenant_id, when)
    attributes: dict[str, Any] = {"language": chosen, "site_key": widget.public_key,
                                  "site_name": widget.name, "phone": e164}
    if visitor is not None:
        attributes.update(await _visitor_attributes(session, widget, visitor, chosen))
        attributes["phone"] = e164
    if name:
        attributes["name"] = name
    call = Call(tenant_id=widget.tenant_id, kind=CallKind.CALLBACK,
                status=CallStatus.SCHEDULED if scheduled else CallStatus.WAITING,
                widget_id=widget.id, visitor_id=visitor.id if visitor else None,
                customer_number=e164, language=chosen, scheduled_for=scheduled)
    if scheduled is None:
        contact = await _contact(session, widget.tenant_id, channel="callback",
                                 target=embed.button_target(widget, "callback")
                                 or embed.chat_target(widget), attributes=attributes,
                                 customer_key=e164, label="callback")
        call.contact_id = contact.id
    session.add(call)
    await session.flush()
    return call


def _region_of(tenant: Tenant | None, countries: list[str]) -> str | None:
    if countries:
        return countries[0]
    language = (tenant.default_language if tenant else "") or ""
    return {"fr": "FR", "en": "GB", "de": "DE", "es": "ES", "it": "IT", "nl": "NL"}.get(
        language)


async def _check_slot(session: AsyncSession, tenant_id: uuid.UUID, when: datetime) -> datetime:
    if when.tzinfo is None:
        raise UnprocessableContent("Give the time with its time zone.", extra={"field": "when"})
    now = utcnow()
    if when < now:
        raise UnprocessableContent("This time has passed.", extra={"field": "when"})
    if (when - now).days > 30:
        raise UnprocessableContent("Choose a time within the next 30 days.",
                                   extra={"field": "when"})
    config = await load_configuration(session, tenant_id)
    if config.hours and not is_open(when, timezone=config.timezone, hours=config.hours,
                                    holidays=config.holidays):
        raise UnprocessableContent("Choose a time within our opening hours.",
                                   extra={"field": "when"})
    return when.astimezone(UTC)


async def route_due_callbacks(services: Services) -> None:
    """Callbacks whose slot has come become routed contacts."""
    async with services.unit_of_work() as session:
        tenants = list((await session.scalars(select(Tenant.id).where(
            Tenant.status == TenantStatus.ACTIVE))).all())
    now = utcnow()
    for tenant_id in tenants:
        async with services.unit_of_work(tenant_id=tenant_id) as session:
            for call in await repo.due_callbacks(session, tenant_id, now):
                widget = await session.get(Widget, call.widget_id) if call.widget_id else None
                target = (embed.button_target(widget, "callback") or embed.chat_target(widget)
                          ) if widget else {}
                try:
                    contact = await _contact(
                        session, tenant_id, channel="callback", target=target,
                        attributes={"language": call.language, "phone": call.customer_number,
                                    "scheduled_for": call.scheduled_for.isoformat()
                                    if call.scheduled_for else None},
                        customer_key=call.customer_number, label="callback")
                except (Conflict, UnprocessableContent):
                    call.status, call.outcome, call.ended_at = (
                        CallStatus.ENDED, "not_routable", utcnow())
                    continue
                call.contact_id = contact.id
                call.status = CallStatus.WAITING


# --- the agent's side ---------------------------------------------------------------------------


async def reach(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> AgentReach:
    found = await repo.reach_of(session, tenant_id, user_id)
    return found or AgentReach(tenant_id=tenant_id, user_id=user_id,
                               mode=ReachMode.BROWSER.value, address="")


async def set_reach(session: AsyncSession, services: Services, subject: Subject, *, mode: str,
                    address: str) -> AgentReach:
    if subject.user_id is None:
        raise Forbidden("Only a person's own session can set where their calls ring.")
    if mode == ReachMode.BROWSER:
        address = ""
    elif mode == ReachMode.PHONE:
        address = phone.normalise(address, field="address")
    else:
        address = await check_sip_address(address,
                                          allow_private=services.settings.sip_allow_private)
    found = await repo.reach_of(session, subject.tenant_id, subject.user_id)
    if found is None:
        found = AgentReach(tenant_id=subject.tenant_id, user_id=subject.user_id)
    found.mode, found.address, found.updated_at = mode, address, utcnow()
    session.add(found)
    await session.flush()
    return found


async def check_sip_address(address: str, *, allow_private: bool) -> str:
    """``sip:user@host[:port]``; a host on a private network only where allowed (the
    platform must not be made to call into its own network)."""
    text = address.strip()
    if not text.lower().startswith("sip:"):
        text = "sip:" + text
    rest = text[4:]
    user, _, hostport = rest.rpartition("@")
    host = hostport.split(";", 1)[0]
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if not user or not hostname or any(c in text for c in " <>\"'\r\n") or len(text) > 300:
        raise UnprocessableContent("Write a SIP address like sip:alice@pbx.example.com.",
                                   extra={"field": "address"})
    if not allow_private:
        try:
            addresses = await resolve_host(hostname.strip("[]"))
        except UnresolvableHost as error:
            raise UnprocessableContent(f"The host '{hostname}' cannot be resolved.",
                                       extra={"field": "address"}) from error
        for found in addresses:
            if not is_public_address(found):
                raise UnprocessableContent("This SIP address is on a private network.",
                                           extra={"field": "address"})
    return f"sip:{user}@{host}"


def trunk_uri(runtime: VoiceRuntime, e164: str) -> str:
    trunk = runtime.settings.sip_trunk
    if not trunk:
        raise VoiceUnavailableProblem("Calls to numbers are not configured on this platform.")
    return f"sip:{e164}@{trunk}"


def reach_uri(runtime: VoiceRuntime, found: AgentReach) -> str:
    if found.mode == ReachMode.PHONE:
        return trunk_uri(runtime, found.address)
    return found.address


async def call_for_agent(session: AsyncSession, subject: Subject, call_id: uuid.UUID) -> Call:
    call = await repo.get_call(session, subject.tenant_id, call_id)
    await _check_party(session, subject, call)
    return call


async def _check_party(session: AsyncSession, subject: Subject, call: Call) -> None:
    if supervises(subject):
        return
    legs = await repo.legs_of(session, subject.tenant_id, call.id)
    if subject.user_id is not None and any(leg.user_id == subject.user_id for leg in legs):
        return
    if call.contact_id is not None and subject.user_id is not None:
        # The live routing state first: the recorded contact lags it by a moment.
        router = await contact_service.routing_of(session).router(call.tenant_id)
        live = router.snapshot.contacts.get(str(call.contact_id))
        if live is not None and live.agent_id == str(subject.user_id):
            return
        contact = await session.get(Contact, call.contact_id)
        if contact is not None and contact.agent_id == subject.user_id:
            return
    raise Forbidden("Only the agent on this call, or a supervisor, may.")


def supervises(subject: Subject) -> bool:
    if subject.kind == "api_key":
        return subject.has(Scope.CONTACTS_WRITE)
    return subject.role in SUPERVISING


async def answer(session: AsyncSession, runtime: VoiceRuntime, subject: Subject,
                 contact_id: uuid.UUID, sdp: str | None) -> tuple[Call, CallLeg, str | None]:
    """The agent who accepted the contact joins the call: from the softphone (``sdp``)
    or at the number or SIP address they set."""
    contact = await contact_service.get_contact(session, subject, contact_id)
    call = await repo.call_of_contact(session, subject.tenant_id, contact.id)
    if call is None:
        raise NotFound("This contact is not a call.")
    require_voice(runtime)
    if subject.user_id is None:
        raise Forbidden("Only an agent's own session can answer.")
    if call.status == CallStatus.ENDED:
        raise Conflict("This call has ended.")
    live = runtime.calls.get(call.id)
    if live is None and call.kind == CallKind.CALLBACK:
        # A callback lives in the switch only once an agent takes it.
        live = runtime.track(call)
    if live is None:
        raise Conflict("This call is no longer connected.")
    status, agent_id, _ = await runtime.contact_status(live)
    if agent_id != str(subject.user_id) or status != "assigned":
        raise Conflict("Accept the contact first: it is not assigned to you.")
    mine = [leg for leg in live.by_role(LegRole.AGENT) if leg.user_id == subject.user_id]
    if mine:
        raise Conflict("You are already on this call.")
    found = await reach(session, subject.tenant_id, subject.user_id)
    if found.mode == ReachMode.BROWSER and not sdp:
        raise UnprocessableContent("Give the softphone's offer (sdp), or set a number "
                                   "where your calls ring.", extra={"field": "sdp"})
    kind = LegKind.BROWSER if sdp else (LegKind.PHONE if found.mode == ReachMode.PHONE
                                        else LegKind.SIP)
    if kind == LegKind.BROWSER:
        require_voice(runtime, browser=True)
    leg = new_leg(call, role=LegRole.AGENT, kind=kind, user_id=subject.user_id,
                  address="" if sdp else found.address)
    session.add(leg)
    call.status = CallStatus.CONNECTING
    await session.flush()
    await session.commit()
    item = runtime.add_leg(live, leg)
    answer_sdp = None
    if kind == LegKind.BROWSER:
        assert sdp is not None
        answer_sdp = await _browser(runtime, item, sdp)
    else:
        settings = await repo.settings_of(session, call.tenant_id)
        runtime.spawn(runtime.dial(item, reach_uri(runtime, found),
                                   ring_seconds=settings.callback_ring_seconds))
    return call, leg, answer_sdp


async def agent_hangup(session: AsyncSession, runtime: VoiceRuntime, subject: Subject,
                       call: Call) -> None:
    live = _live(runtime, call)
    legs = [leg for leg in live.legs.values() if leg.user_id == subject.user_id
            and leg.status != LegStatus.ENDED.value]
    if not legs:
        raise Conflict("You are not on this call.")
    for leg in legs:
        # The agent serving the call ends it; one who handed it over only leaves.
        why = "agent_left" if leg.leaving or leg.role == LegRole.SUPERVISOR else "agent_hangup"
        await runtime.hangup(leg, why)


def _live(runtime: VoiceRuntime, call: Call) -> LiveCall:
    require_voice(runtime)
    live = runtime.calls.get(call.id)
    if live is None or live.ended:
        raise Conflict("This call is no longer connected.")
    return live


async def hold(runtime: VoiceRuntime, call: Call, *, by: str, on: bool) -> None:
    live = _live(runtime, call)
    if on and live.held not in (None, by):
        raise Conflict("The other party has put the call on hold.")
    live.held = by if on else None
    async with live.lock:
        await runtime.remix(live)


async def mute(runtime: VoiceRuntime, call: Call, *, user_id: uuid.UUID | None,
               role: str, on: bool) -> None:
    live = _live(runtime, call)
    legs = [leg for leg in live.legs.values() if leg.status != LegStatus.ENDED.value
            and leg.role == role and (user_id is None or leg.user_id == user_id)]
    if not legs:
        raise Conflict("You are not on this call.")
    for leg in legs:
        leg.muted = on
    async with live.lock:
        await runtime.remix(live)


async def transfer(session: AsyncSession, runtime: VoiceRuntime, subject: Subject, call: Call,
                   *, queue_id: uuid.UUID | None, agent_id: uuid.UUID | None,
                   skill_id: uuid.UUID | None, mode: str) -> None:
    """Blind: the agent leaves at once and the caller waits (music) for the next agent.
    Warm: the agent stays with the caller until the next agent joins, then leaves when
    they choose. Either way it is the same contact (billed once)."""
    from plateaux.routing.contact_schemas import TransferIn

    live = _live(runtime, call)
    if call.contact_id is None:
        raise Conflict("This call has no contact to transfer.")
    contact = await contact_service.get_contact(session, subject, call.contact_id)
    body = TransferIn(queue_id=queue_id, agent_id=agent_id,
                      required_skills={skill_id: 1} if skill_id else {})
    await contact_service.transfer(session, subject, contact, body)
    for leg in live.by_role(LegRole.AGENT):
        leg.leaving = True
        if mode == "blind":
            await runtime.hangup(leg, "transferred")
    live.waiting_since = time.monotonic()
    call.status = CallStatus.WAITING
    session.add(call)
    await session.flush()
    async with live.lock:
        await runtime.remix(live)


async def supervise(session: AsyncSession, runtime: VoiceRuntime, subject: Subject,
                    call: Call, *, mode: str, sdp: str | None) -> tuple[CallLeg, str | None]:
    if not supervises(subject) or subject.user_id is None:
        raise Forbidden("Only supervisors listen to calls.")
    live = _live(runtime, call)
    if any(other.user_id == subject.user_id for other in live.by_role(LegRole.SUPERVISOR)):
        raise Conflict("You are already on this call.")
    found = await reach(session, subject.tenant_id, subject.user_id)
    if not sdp and found.mode == ReachMode.BROWSER:
        raise UnprocessableContent("Give the softphone's offer (sdp).", extra={"field": "sdp"})
    kind = LegKind.BROWSER if sdp else (LegKind.PHONE if found.mode == ReachMode.PHONE
                                        else LegKind.SIP)
    leg = new_leg(call, role=LegRole.SUPERVISOR, kind=kind, user_id=subject.user_id,
                  address="" if sdp else found.address, mode=mode)
    session.add(leg)
    await session.flush()
    await session.commit()
    item = runtime.add_leg(live, leg)
    if sdp:
        return leg, await _browser(runtime, item, sdp)
    runtime.spawn(runtime.dial(item, reach_uri(runtime, found), ring_seconds=30))
    return leg, None


async def set_mode(session: AsyncSession, runtime: VoiceRuntime, subject: Subject, call: Call,
                   mode: str) -> None:
    live = _live(runtime, call)
    legs = [leg for leg in live.by_role(LegRole.SUPERVISOR) if leg.user_id == subject.user_id]
    if not legs:
        raise Conflict("You are not listening to this call.")
    for leg in legs:
        leg.mode = mode
        row = await session.get(CallLeg, leg.id)
        if row is not None:
            row.mode = mode
            session.add(row)
    await session.flush()
    async with live.lock:
        await runtime.remix(live)


async def call_out(session: AsyncSession, runtime: VoiceRuntime, call: Call, *,
                   for_user: uuid.UUID | None = None) -> CallOut:
    legs = await repo.legs_of(session, call.tenant_id, call.id)
    live = runtime.calls.get(call.id)
    attributes: dict[str, Any] = {}
    if call.contact_id is not None:
        contact = await session.get(Contact, call.contact_id)
        if contact is not None:
            attributes = dict(contact.attributes or {})
    out = CallOut(
        id=call.id, contact_id=call.contact_id, kind=call.kind, status=call.status,
        customer_number=call.customer_number, dialed_number=call.dialed_number,
        language=call.language, video=call.video, scheduled_for=call.scheduled_for,
        attempts=call.attempts, next_attempt_at=call.next_attempt_at, outcome=call.outcome,
        has_recording=call.recording_key is not None,
        has_voicemail=call.voicemail_key is not None, attributes=attributes,
        created_at=call.created_at, answered_at=call.answered_at, ended_at=call.ended_at,
        legs=[LegOut.model_validate(leg) for leg in legs])
    if live is not None:
        out.on_hold = live.held is not None
        out.muted = any(leg.muted for leg in live.legs.values()
                        if for_user is not None and leg.user_id == for_user)
        out.video_offer = live.video_offer
    return out


def video_offer(runtime: VoiceRuntime, call: Call, sdp: str) -> None:
    """The visitor's video offer, for the agent's console (video goes browser to
    browser; only a call the site allows video for)."""
    live = _live(runtime, call)
    if not call.video:
        raise Conflict("This call has no video.")
    if not any(leg.connected for leg in live.by_role(LegRole.AGENT)):
        raise Conflict("Video starts once an agent has joined the call.")
    live.video_offer, live.video_answer = sdp, None


def video_answer(runtime: VoiceRuntime, call: Call, sdp: str) -> None:
    live = _live(runtime, call)
    if live.video_offer is None:
        raise Conflict("The visitor has not offered video.")
    live.video_answer = sdp


async def _holds_voicemail(session: AsyncSession, subject: Subject, call: Call) -> bool:
    """Whether the agent was given the contact that delivers this call's voicemail."""
    if subject.user_id is None:
        return False
    wanted = str(call.id)
    router = await contact_service.routing_of(session).router(call.tenant_id)
    for live in router.snapshot.contacts.values():
        if live.agent_id == str(subject.user_id) and \
                live.attributes.get("voicemail_call_id") == wanted:
            return True
    rows = (await session.scalars(select(Contact).where(
        Contact.tenant_id == subject.tenant_id, Contact.agent_id == subject.user_id,
        Contact.channel == "form", col(Contact.created_at) >= call.created_at)
        .limit(200))).all()
    return any((row.attributes or {}).get("voicemail_call_id") == wanted for row in rows)


async def recording(session: AsyncSession, subject: Subject, call: Call, *,
                    voicemail: bool = False) -> bytes:
    if not (voicemail and await _holds_voicemail(session, subject, call)):
        await _check_party(session, subject, call)
    key = call.voicemail_key if voicemail else call.recording_key
    if key is None:
        raise NotFound("This call has no recording.")
    services: Services = session.info["services"]
    try:
        return await local_storage(services.settings.data_dir).open(key)
    except StorageError as error:
        raise NotFound("This call has no recording.") from error


# --- what happens as legs answer and end -------------------------------------------------------


class CallFlow:
    """The runtime's hooks: what the platform does when a leg answers or ends, when a
    number is called, and every second."""

    def __init__(self, runtime: VoiceRuntime) -> None:
        self.runtime = runtime
        self.services = runtime.services
        runtime.on_answered = self.answered
        runtime.on_ended = self.ended
        runtime.on_inbound = self.inbound
        runtime.on_tick = self.tick
        runtime.on_start = self.recover
        self._last_sweep = 0.0
        self._directory_read = 0.0

    async def _call_row(self, session: AsyncSession, live: LiveCall) -> Call:
        return await repo.get_call(session, live.tenant_id, live.id)

    async def answered(self, live: LiveCall, leg: LiveLeg) -> None:
        runtime = self.runtime
        if leg.role == LegRole.AGENT and not leg.leaving:
            live.waiting_since = None
            async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
                call = await self._call_row(session, live)
                settings = await repo.settings_of(session, live.tenant_id)
                if live.kind == CallKind.CALLBACK and (live.customer is None):
                    runtime.spawn(self._place_callback(live, leg))
                    return
                call.status = CallStatus.CONNECTED
                call.answered_at = call.answered_at or utcnow()
                recording = settings.recording_enabled
                announcement = settings.recording_announcement.get(live.language) \
                    or say(live.language, "recording")
            if recording:
                runtime.spawn(self._record(live, announcement))
        elif leg.role == LegRole.CUSTOMER and live.kind == CallKind.CALLBACK:
            async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
                call = await self._call_row(session, live)
                call.status = CallStatus.CONNECTED
                call.answered_at = call.answered_at or utcnow()
                call.outcome = "answered"
                recording = (await repo.settings_of(session, live.tenant_id)).recording_enabled
                announcement = (await repo.settings_of(session, live.tenant_id)
                                ).recording_announcement.get(live.language) \
                    or say(live.language, "recording")
            if recording:
                runtime.spawn(self._record(live, announcement))
        elif leg.role == LegRole.SUPERVISOR:
            async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
                await announce(session, live.tenant_id, live.id)

    async def _record(self, live: LiveCall, announcement: str) -> None:
        runtime = self.runtime
        customer = live.customer
        agent = live.agent()
        await runtime.recording_start(live)
        speeches = [runtime.speak(live, leg, announcement) for leg in (customer, agent)
                    if leg is not None]
        await asyncio.gather(*speeches, return_exceptions=True)

    async def _place_callback(self, live: LiveCall, agent: LiveLeg) -> None:
        """Dial the customer once the agent is there (after the retry pause, if any)."""
        runtime = self.runtime
        async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
            call = await self._call_row(session, live)
            settings = await repo.settings_of(session, live.tenant_id)
            wait = 0.0
            if call.next_attempt_at is not None:
                wait = max(0.0, (call.next_attempt_at - utcnow()).total_seconds())
            ring = settings.callback_ring_seconds
        if wait > 0:
            await runtime.speak(live, agent, say(live.language, "next_attempt", n=int(wait)))
            await asyncio.sleep(max(0.0, wait - 0.5))
        if not agent.connected or live.ended:
            return
        # The agent hears what happens while the number is dialled (not before: every
        # second before the customer's phone rings is a second of the agent's time).
        runtime.spawn(runtime.speak(live, agent, say(live.language, "calling_customer")))
        async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
            call = await self._call_row(session, live)
            call.attempts += 1
            call.next_attempt_at = None
            leg = new_leg(call, role=LegRole.CUSTOMER, kind=LegKind.PHONE,
                          address=call.customer_number or "")
            session.add(leg)
            await session.flush()
            number = call.customer_number or ""
        item = runtime.add_leg(live, leg)
        live.ringback.add(agent.name)
        async with live.lock:
            await runtime.remix(live)
        await runtime.dial(item, trunk_uri(runtime, number), ring_seconds=ring)

    async def ended(self, live: LiveCall, leg: LiveLeg, code: int, why: str) -> None:
        runtime = self.runtime
        if live.ended:
            return
        if leg.role == LegRole.CUSTOMER and live.kind == CallKind.CALLBACK \
                and leg.why != "customer_hangup" and not _was_answered(leg, why):
            await self._callback_failed(live, why)
            return
        if leg.role == LegRole.CUSTOMER:
            if live.voicemail:
                return  # hanging up is how a message ends: the voicemail task closes the call
            await self.finish(live, outcome="completed" if live.agent() else "abandoned",
                              by="customer")
            return
        if leg.role == LegRole.AGENT:
            if why in ("agent_hangup",):
                await self.finish(live, outcome="completed", by="agent")
                return
            if why in ("transferred", "agent_left") or leg.leaving:
                return
            if why == "attempt_failed":
                return
            # The agent's phone or browser went away mid-call (or never answered): the
            # caller waits again (music), the same contact goes back to the queue.
            customer = live.customer
            if customer is None and live.kind != CallKind.CALLBACK:
                await self.finish(live, outcome="dropped", by="agent")
                return
            live.waiting_since = time.monotonic()
            live.ringback.clear()
            await runtime.routing_call("transfer", live, by_agent=None)
            async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
                call = await self._call_row(session, live)
                call.status = CallStatus.WAITING
                await announce(session, live.tenant_id, live.id)
            async with live.lock:
                await runtime.remix(live)
            if customer is not None:
                runtime.spawn(runtime.speak(live, customer, say(live.language, "hold")))

    async def _callback_failed(self, live: LiveCall, why: str) -> None:
        runtime = self.runtime
        agent = live.agent()
        result = "busy" if why == "busy" else "no_answer" if why == "no_answer" else "failed"
        async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
            call = await self._call_row(session, live)
            settings = await repo.settings_of(session, live.tenant_id)
            retry = call.attempts < settings.callback_max_attempts
            if retry:
                call.next_attempt_at = utcnow() + _seconds(settings.callback_retry_seconds)
                call.outcome = f"retry_{result}"
                call.status = CallStatus.WAITING
            await announce(session, live.tenant_id, live.id)
        live.ringback.clear()
        if agent is not None:
            with contextlib.suppress(Exception):
                await runtime.speak(live, agent, say(live.language, result if result != "failed"
                                                     else "no_answer"), timeout=10)
            await runtime.hangup(agent, "attempt_failed")
        if retry:
            live.waiting_since = time.monotonic()
            # Back in the queue, offered to nobody before the pause between attempts ends.
            await runtime.routing_call("transfer", live, by_agent=None,
                                       not_before=call.next_attempt_at)
            return
        await self.finish(live, outcome=result, by="platform", agent_id=agent.user_id
                          if agent else None)

    async def finish(self, live: LiveCall, *, outcome: str, by: str,
                     agent_id: uuid.UUID | None = None,
                     current_leg: LiveLeg | None = None) -> None:
        """The call is over: every leg hangs up, the recording is stored, the contact
        ends (abandoned while it waited, to wrap-up when an agent had it)."""
        runtime = self.runtime
        if live.ended:
            return
        live.ended = True
        if live.task is not None and live.task is not asyncio.current_task():
            live.task.cancel()
        for leg in list(live.legs.values()):
            if leg.status != LegStatus.ENDED.value:
                await runtime.hangup(leg, f"{by}_hangup" if by != "platform" else "ended")
        # "Ended" means every leg has ended (and has its end time): wait for the switch.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                for leg in list(live.legs.values()):
                    if leg is not current_leg:
                        await leg.closed.wait()
        key = None
        with contextlib.suppress(Exception):
            key = await runtime.recording_stop(live)
        status, agent, _ = await runtime.contact_status(live)
        if status in ("queued", "offered"):
            await runtime.routing_call("cancel", live, reason="abandoned"
                                       if by == "customer" else "cancelled")
        elif status == "assigned" and agent:
            if outcome in ("no_answer", "busy", "failed"):
                await runtime.routing_call("complete", live, agent_id=uuid.UUID(agent))
            else:
                await runtime.routing_call("wrap_up", live, agent_id=uuid.UUID(agent))
        async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
            call = await self._call_row(session, live)
            call.status = CallStatus.ENDED
            call.ended_at = utcnow()
            if call.outcome in (None, "answered") or call.outcome.startswith("retry_") or \
                    outcome in ("no_answer", "busy", "failed"):
                call.outcome = outcome
            if key:
                call.recording_key = key
            await announce(session, live.tenant_id, live.id)
        runtime.calls.pop(live.id, None)
        if live.contact_id is not None and outcome in ("no_answer", "busy", "failed"):
            runtime.spawn(self._contact_outcome(live.tenant_id, live.contact_id, outcome))

    async def _contact_outcome(self, tenant_id: uuid.UUID, contact_id: uuid.UUID,
                               outcome: str) -> None:
        """The callback's result becomes the contact's outcome once the routing engine
        has recorded the contact's end (which writes an outcome of its own)."""
        for _ in range(120):
            async with self.services.unit_of_work(tenant_id=tenant_id) as session:
                contact = await session.get(Contact, contact_id)
                if contact is None or contact.tenant_id != tenant_id:
                    return
                if contact.ended_at is not None:
                    contact.outcome = outcome
                    return
            await asyncio.sleep(0.5)

    # --- inbound ------------------------------------------------------------------------------

    async def _directory(self, e164: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID | None] | None:
        """(tenant, number, ivr) of a number: read again when unknown (at most every two
        seconds) and every minute."""
        found = self.runtime.directory.get(e164)
        now = time.monotonic()
        if (found is None and now - self._directory_read > 2) or now - self._directory_read > 60:
            self._directory_read = now
            directory: dict[str, tuple[uuid.UUID, uuid.UUID | None]] = {}
            async with self.services.unit_of_work() as session:
                tenants = list((await session.scalars(select(Tenant.id).where(
                    Tenant.status == TenantStatus.ACTIVE))).all())
            for tenant_id in tenants:
                async with self.services.unit_of_work(tenant_id=tenant_id) as session:
                    rows = (await session.scalars(select(VoiceNumber).where(
                        VoiceNumber.tenant_id == tenant_id,
                        col(VoiceNumber.active).is_(True)))).all()
                    for row in rows:
                        directory[row.e164] = (tenant_id, row.ivr_id)
                        self._numbers[row.e164] = row.id
            self.runtime.directory = directory
        entry = self.runtime.directory.get(e164)
        if entry is None:
            return None
        return entry[0], self._numbers[e164], entry[1]

    _numbers: dict[str, uuid.UUID] = {}

    async def inbound(self, placeholder: LiveLeg, user: str, remote: str) -> None:
        runtime = self.runtime
        switch = runtime.need()
        try:
            dialed = phone.did(user)
        except UnprocessableContent:
            await switch.answer(placeholder.name, 404)
            return
        found = await self._directory(dialed)
        if found is None:
            await switch.answer(placeholder.name, 404)
            return
        tenant_id, _number_id, ivr_id = found
        caller = _caller_number(remote)
        async with self.services.unit_of_work(tenant_id=tenant_id) as session:
            tenant = await session.get(Tenant, tenant_id)
            if tenant is None or tenant.status != TenantStatus.ACTIVE:
                await switch.answer(placeholder.name, 480)
                return
            definition = None
            if ivr_id is not None:
                with contextlib.suppress(Exception):
                    menu = await repo.get_ivr(session, tenant_id, ivr_id)
                    definition = IvrDefinition.model_validate(menu.definition)
            settings = await repo.settings_of(session, tenant_id)
            language = definition.languages[0] if definition else tenant.default_language
            call = Call(tenant_id=tenant_id, kind=CallKind.INBOUND, status=CallStatus.IVR,
                        customer_number=caller, dialed_number=dialed, ivr_id=ivr_id,
                        language=language)
            session.add(call)
            await session.flush()
            leg = new_leg(call, role=LegRole.CUSTOMER, kind=LegKind.PHONE, address=caller or remote)
            session.add(leg)
            await session.flush()
            hold_music = None
            if settings.hold_music_key:
                with contextlib.suppress(StorageError):
                    data = await local_storage(self.services.settings.data_dir).open(
                        settings.hold_music_key)
                    hold_music = runtime.sounds.cached(settings.hold_music_key, data)
        live = runtime.track(call, ivr=definition)
        live.hold_music = hold_music
        live.announce_every = float(settings.announce_every_seconds)
        item = runtime.add_leg(live, leg)
        item.name = placeholder.name
        runtime.by_name[item.name] = item
        await switch.answer(item.name, 200)
        live.task = asyncio.ensure_future(self._ivr(live, item))

    async def _prompt(self, live: LiveCall, leg: LiveLeg, slot: str, text: str, *,
                      language: str | None = None, interrupt: bool = False) -> str | None:
        """An uploaded recording for the slot if the tenant made one, else ``text``
        spoken."""
        runtime = self.runtime
        language = language or live.language
        if live.ivr_id is not None:
            async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
                row = await repo.prompt(session, live.tenant_id, live.ivr_id, slot, language)
                data = None
                if row is not None:
                    with contextlib.suppress(StorageError):
                        data = await local_storage(self.services.settings.data_dir).open(
                            row.storage_key)
            if data is not None and row is not None:
                path = runtime.sounds.cached(row.storage_key, data)
                return await runtime.play(live, leg, path, interrupt_on_digit=interrupt)
        path = await runtime.sounds.speech(text, language)
        return await runtime.play(live, leg, path, interrupt_on_digit=interrupt)

    async def _ivr(self, live: LiveCall, leg: LiveLeg) -> None:
        try:
            await self._run_ivr(live, leg)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("the IVR failed; the caller is put through to the default target")
            if leg.connected and not live.ended:
                await self.finish(live, outcome="failed", by="platform")

    async def _wait_answer(self, live: LiveCall, leg: LiveLeg) -> None:
        for _ in range(100):
            if leg.connected or leg.status == LegStatus.ENDED.value:
                return
            await asyncio.sleep(0.05)

    async def _run_ivr(self, live: LiveCall, leg: LiveLeg) -> None:
        await self._wait_answer(live, leg)
        if not leg.connected:
            return
        definition = live.ivr or IvrDefinition(languages=[live.language])
        if len(definition.languages) > 1:
            digit = None
            for _attempt in range(definition.retries + 1):
                for index, language in enumerate(definition.languages, start=1):
                    digit = await self._prompt(
                        live, leg, "language", say(language, "choose_language", n=index),
                        language=language, interrupt=True)
                    if digit:
                        break
                digit = digit or await self.runtime.digit(live, definition.timeout_seconds)
                if digit and digit.isdigit() and 1 <= int(digit) <= len(definition.languages):
                    live.language = definition.languages[int(digit) - 1]
                    break
            if not leg.connected:
                return
        language = live.language
        await self._prompt(live, leg, "greeting",
                           definition.greeting.get(language) or say(language, "greeting"))
        option = None
        if definition.options:
            for _attempt in range(definition.retries + 1):
                menu = definition.menu.get(language) or " ".join(
                    f"{o.label}: {o.digit}." for o in definition.options)
                digit = await self._prompt(live, leg, "menu", menu, interrupt=True)
                digit = digit or await self.runtime.digit(live, definition.timeout_seconds)
                if not leg.connected:
                    return
                option = definition.option(digit) if digit else None
                if option is not None:
                    break
                if digit:
                    await self._prompt(live, leg, "invalid", say(language, "invalid"))
        if not leg.connected:
            return
        if option is not None and option.action == "voicemail":
            await self.voicemail(live, leg)
            return
        if option is not None and option.action == "callback":
            await self.offer_callback(live, leg, ask=False)
            return
        attributes: dict[str, Any] = {"language": language, "phone": live_caller(live),
                                      "dialed_number": None}
        async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
            call = await self._call_row(session, live)
            attributes["phone"] = call.customer_number
            attributes["dialed_number"] = call.dialed_number
            attributes["call_id"] = str(call.id)
            if option is not None:
                attributes["ivr_choice"] = option.label
                attributes["ivr_digit"] = option.digit
                attributes.update(option.attributes)
            target = definition.target(option)
            if not target:
                raise RuntimeError("the IVR names no target")
            contact = await _contact(session, live.tenant_id, channel="phone", target=target,
                                     attributes=attributes, customer_key=call.customer_number,
                                     label="phone")
            call.contact_id = contact.id
            call.language = language
            call.status = CallStatus.WAITING
        live.contact_id = contact.id
        live.waiting_since = time.monotonic()
        live.last_announce = time.monotonic() - live.announce_every + 3
        async with live.lock:
            await self.runtime.remix(live)

    async def voicemail(self, live: LiveCall, leg: LiveLeg) -> None:
        """The caller leaves a message: recorded, stored, and delivered as a contact of
        its own with the audio (the call's own contact, if any, is withdrawn)."""
        runtime = self.runtime
        live.waiting_since = None
        if live.contact_id is not None:
            await runtime.routing_call("cancel", live, reason="cancelled")
        await self._prompt(live, leg, "voicemail", say(live.language, "voicemail"))
        if not leg.connected:
            await self.finish(live, outcome="abandoned", by="customer")
            return
        await runtime.play(live, leg, runtime.sounds.tone("beep"))
        live.voicemail = True
        key = await runtime.voicemail(live, leg)
        async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
            call = await self._call_row(session, live)
            call.voicemail_key = key
            call.outcome = "voicemail"
            if key is not None:
                definition = live.ivr or IvrDefinition(languages=[live.language])
                target: dict[str, str] = definition.target(None) or next(
                    (definition.target(o) for o in definition.options
                     if definition.target(o)), {})
                if target:
                    await _contact(session, live.tenant_id, channel="form", target=target,
                                   attributes={"voicemail_call_id": str(call.id),
                                               "phone": call.customer_number,
                                               "language": live.language,
                                               "name": call.customer_number or "Voicemail"},
                                   customer_key=call.customer_number, label="voicemail")
        if leg.connected:
            await runtime.hangup(leg, "voicemail_done")
        else:
            await self.finish(live, outcome="voicemail", by="platform")

    async def offer_callback(self, live: LiveCall, leg: LiveLeg, *, ask: bool = True) -> None:
        runtime = self.runtime
        live.waiting_since = None
        digit = "1"
        if ask:
            digit = await self._prompt(live, leg, "callback_offer",
                                       say(live.language, "callback_offer"), interrupt=True) \
                or await runtime.digit(live, 10) or ""
        if digit != "1" or not leg.connected:
            await self.finish(live, outcome="abandoned", by="customer")
            return
        if live.contact_id is not None:
            await runtime.routing_call("cancel", live, reason="cancelled")
        async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
            call = await self._call_row(session, live)
            number = call.customer_number
            definition = live.ivr or IvrDefinition(languages=[live.language])
            target = definition.target(None)
            ok = False
            if number and target:
                settings = await repo.settings_of(session, live.tenant_id)
                with contextlib.suppress(UnprocessableContent):
                    phone.normalise(number, allowed_countries=settings.callback_countries)
                    contact = await _contact(session, live.tenant_id, channel="callback",
                                             target=target,
                                             attributes={"language": live.language,
                                                         "phone": number,
                                                         "from_call": str(call.id)},
                                             customer_key=number, label="callback")
                    session.add(Call(tenant_id=live.tenant_id, contact_id=contact.id,
                                     kind=CallKind.CALLBACK, status=CallStatus.WAITING,
                                     customer_number=number, language=live.language,
                                     dialed_number=call.dialed_number))
                    call.outcome = "callback"
                    ok = True
        if ok:
            await self._prompt(live, leg, "callback_taken", say(live.language, "callback_taken"))
        await self.finish(live, outcome="callback" if ok else "abandoned", by="platform")

    # --- after a restart ------------------------------------------------------------------------

    async def recover(self) -> int:
        """The switch starts with no call: legs the database still has open ended with
        the process that carried them. Their ends are kept (and billed); a call whose
        customer is gone ends, its waiting contact withdrawn; a callback nobody has
        reached yet waits again, its contact still routed. The number of calls closed."""
        async with self.services.unit_of_work() as session:
            tenants = list((await session.scalars(select(Tenant.id))).all())
        closed = 0
        for tenant_id in tenants:
            async with self.services.unit_of_work(tenant_id=tenant_id) as session:
                for leg in await repo.open_legs(session, tenant_id):
                    await record_leg(session, leg, status=LegStatus.ENDED.value, answered=False,
                                     ended=True, why="restart", code=None, sip_call_id=None)
                calls = await repo.live_calls(session, tenant_id)
            for call in calls:
                if call.kind == CallKind.CALLBACK and call.answered_at is None:
                    async with self.services.unit_of_work(tenant_id=tenant_id) as session:
                        row = await repo.get_call(session, tenant_id, call.id)
                        row.status = CallStatus.WAITING
                    continue
                live = self.runtime.track(call)
                await self.finish(live, outcome="dropped", by="platform")
                closed += 1
        return closed

    # --- every second -------------------------------------------------------------------------

    async def tick(self) -> None:
        runtime = self.runtime
        now = time.monotonic()
        for live in list(runtime.calls.values()):
            if live.ended:
                continue
            customer = live.customer
            if live.waiting_since is not None and customer is not None and customer.connected:
                await self._waiting(live, customer, now)
        if now - self._last_sweep > 5:
            self._last_sweep = now
            await route_due_callbacks(self.services)

    async def _waiting(self, live: LiveCall, customer: LiveLeg, now: float) -> None:
        """A caller waiting for an agent: announcements of position and wait, and the
        overflow when waiting lasts too long or the routing engine says so."""
        runtime = self.runtime
        status, _agent, place = await runtime.contact_status(live)
        if live.contact_id is not None and status is None and live.kind != CallKind.CALLBACK:
            # No longer routed (withdrawn, or overflowed by its workflow).
            async with self.services.unit_of_work(tenant_id=live.tenant_id) as session:
                contact = await session.get(Contact, live.contact_id)
                outcome = contact.outcome if contact else None
            if live.kind == CallKind.INBOUND and outcome in ("take_message", "offer_callback"):
                self._overflow(live, customer, "voicemail" if outcome == "take_message"
                               else "callback")
            elif outcome not in (None,) and contact is not None and contact.status in (
                    "cancelled", "abandoned", "completed"):
                live.waiting_since = None
                runtime.spawn(self.finish(live, outcome=outcome or "cancelled",
                                          by="platform"))
            return
        limit = live.ivr.max_wait_seconds if live.ivr else None
        if live.kind == CallKind.INBOUND and limit and live.waiting_since is not None and \
                now - live.waiting_since > limit and status == "queued":
            self._overflow(live, customer, live.ivr.overflow if live.ivr else "voicemail")
            return
        if status != "queued" or place is None or customer.name in live.speaking:
            return
        if now - live.last_announce < live.announce_every:
            return
        live.last_announce = now
        position, wait = place
        text = say(live.language, "position", n=position)
        if wait is not None:
            text += " " + (say(live.language, "wait_short") if wait < 60
                           else say(live.language, "wait", n=max(1, round(wait / 60))))
        runtime.spawn(runtime.speak(live, customer, text))

    def _overflow(self, live: LiveCall, customer: LiveLeg, action: str) -> None:
        live.waiting_since = None
        if live.task is not None and not live.task.done():
            return
        coroutine = self.voicemail(live, customer) if action == "voicemail" \
            else self.offer_callback(live, customer)
        live.task = asyncio.ensure_future(coroutine)


def live_caller(live: LiveCall) -> str | None:
    customer = live.customer
    return customer.id.hex if customer else None


def _was_answered(leg: LiveLeg, why: str) -> bool:
    return why == "hangup" or why.endswith("_hangup")


def _seconds(value: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=value)


def _caller_number(remote: str) -> str | None:
    """The caller's number from the From URI, when it is one."""
    text = remote.split("<", 1)[-1].split(">", 1)[0]
    user = text.split(":", 1)[-1].split("@", 1)[0]
    if not user or not any(ch.isdigit() for ch in user):
        return None
    try:
        return phone.did(user)
    except UnprocessableContent:
        return None
