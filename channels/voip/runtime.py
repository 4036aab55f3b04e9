"""The voice runtime of the process that runs the switch: the live calls and their legs,
what each party hears, and what happens as legs ring, answer, press keys and hang up.

The database keeps every call and leg (start, answer, end, why it ended) and the routed
contact; this object keeps what only lives as long as the media does (which switch leg
is which, who is on hold, the recording in progress). What a party hears is computed
from the call's state by :meth:`VoiceRuntime._mix` and applied as a difference, so each
action only changes the state and asks for a new mix.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from websockets.exceptions import WebSocketException

from plateaux.channels.storage import local_storage, new_key
from plateaux.channels.voip.audio import Sounds
from plateaux.channels.voip.ivr import IvrDefinition
from plateaux.channels.voip.janus import JanusError, JanusGateway, JanusLeg
from plateaux.channels.voip.models import (
    Call,
    CallKind,
    CallLeg,
    CallStatus,
    LegKind,
    LegRole,
    LegStatus,
)
from plateaux.channels.voip.switch import LegStats, Switch, SwitchConfig, SwitchEvent
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.routing.live import RoutingError
from plateaux.routing.router import RoutingConflict
from plateaux.routing.state import ContactStatus

logger = logging.getLogger(__name__)

TICK = 1.0
MEDIA_TIMEOUT = 30.0  # a browser leg must connect within this
# A browser leg whose audio stopped this long is gone (its tab closed, its network lost):
# browsers send audio packets even when muted, and a closed tab may never say goodbye.
SILENCE_TIMEOUT = 6.0
VOICEMAIL_SECONDS = 120.0


class VoiceUnavailable(RuntimeError):
    pass


@dataclass
class LiveLeg:
    id: uuid.UUID
    tenant_id: uuid.UUID
    call_id: uuid.UUID
    role: str
    kind: str
    user_id: uuid.UUID | None = None
    name: str = ""  # the switch's name for it
    status: str = LegStatus.DIALING.value
    mode: str | None = None  # supervisors: listen, whisper, join
    muted: bool = False
    janus: JanusLeg | None = None
    why: str | None = None  # set when the platform ends the leg on purpose
    started: float = field(default_factory=time.monotonic)
    ring_deadline: float | None = None
    leaving: bool = False  # an agent who handed the call over and may stay a while
    rx_packets: int = -1  # audio packets the switch had received from it, last look
    rx_since: float = field(default_factory=time.monotonic)  # when that count last moved
    # Set once the leg's end is stored (its end time and reason).
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def connected(self) -> bool:
        return self.status == LegStatus.CONNECTED.value


@dataclass
class LiveCall:
    id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    language: str = "en"
    contact_id: uuid.UUID | None = None
    legs: dict[uuid.UUID, LiveLeg] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    held: str | None = None  # who put the call on hold: "agent" or "customer"
    speaking: set[str] = field(default_factory=set)  # switch legs hearing a prompt
    ringback: set[str] = field(default_factory=set)  # switch legs hearing a ring tone
    links: set[tuple[str, str]] = field(default_factory=set)
    music: dict[str, str] = field(default_factory=dict)
    recording: str | None = None
    recording_path: Path | None = None
    waiting_since: float | None = None
    last_announce: float = 0.0
    task: asyncio.Task[None] | None = None
    digits: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    played: dict[str, asyncio.Event] = field(default_factory=dict)
    ivr: IvrDefinition | None = None
    ivr_id: uuid.UUID | None = None
    hold_music: Path | None = None
    announce_every: float = 30.0
    ended: bool = False
    dial_at: float | None = None  # a callback's next customer attempt
    voicemail: bool = False  # the caller is leaving a message: hanging up ends it
    # Video goes browser to browser (the switch carries audio): the visitor's offer and
    # the agent's answer, relayed by the platform.
    video_offer: str | None = None
    video_answer: str | None = None

    def by_role(self, role: str) -> list[LiveLeg]:
        return [leg for leg in self.legs.values() if leg.role == role
                and leg.status != LegStatus.ENDED.value]

    @property
    def customer(self) -> LiveLeg | None:
        legs = self.by_role(LegRole.CUSTOMER)
        return legs[-1] if legs else None

    def agent(self) -> LiveLeg | None:
        legs = [leg for leg in self.by_role(LegRole.AGENT) if not leg.leaving]
        return legs[-1] if legs else None


class VoiceRuntime:
    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        self.settings = settings
        self.switch: Switch | None = None
        self.janus: JanusGateway | None = None
        self.sounds = Sounds(settings.data_dir / "voice", tts_command=settings.tts_command)
        self.calls: dict[uuid.UUID, LiveCall] = {}
        self.legs: dict[uuid.UUID, LiveLeg] = {}
        self.by_name: dict[str, LiveLeg] = {}
        self.directory: dict[str, tuple[uuid.UUID, uuid.UUID | None]] = {}
        self._directory_read = 0.0
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # Hooks the service layer installs (inbound calls, overflow, callbacks due).
        self.on_inbound: Callable[[LiveLeg, str, str], Awaitable[None]] | None = None
        self.on_tick: Callable[[], Awaitable[None]] | None = None
        self.on_start: Callable[[], Awaitable[int]] | None = None

    # --- life cycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.switch is not None

    @property
    def browser_calls(self) -> bool:
        return self.running and self.janus is not None

    async def start(self) -> None:
        settings = self.settings
        if settings.sip_port is None:
            return
        switch = Switch(SwitchConfig(host=settings.sip_host, port=settings.sip_port,
                                     rtp_port=settings.sip_rtp_port,
                                     rtp_port_range=settings.sip_rtp_port_range),
                        self._on_event, new_leg=lambda: f"in-{uuid.uuid4().hex}")
        await switch.start()
        self.switch = switch
        if settings.janus_url:
            janus = JanusGateway(settings.janus_url)
            try:
                await janus.start()
            except OSError:
                # Browser legs connect lazily: Janus may come up after the platform.
                logger.warning("Janus is not reachable yet at %s", settings.janus_url)
            self.janus = janus
        self.sounds.music()
        if self.on_start is not None:
            try:
                await self.on_start()
            except Exception:
                logger.exception("calls left open by the previous process could not be closed")
        self._ticker = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ticker
        for call in list(self.calls.values()):
            if call.task is not None:
                call.task.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self.janus is not None:
            await self.janus.stop()
        if self.switch is not None:
            await self.switch.stop()
            self.switch = None

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("voice task failed", exc_info=task.exception())

    def need(self) -> Switch:
        if self.switch is None:
            raise VoiceUnavailable("Voice is not configured on this platform.")
        return self.switch

    # --- registry ---------------------------------------------------------------------------

    def track(self, call: Call, *, ivr: IvrDefinition | None = None) -> LiveCall:
        live = self.calls.get(call.id)
        if live is None:
            live = LiveCall(id=call.id, tenant_id=call.tenant_id, kind=call.kind,
                            language=call.language, contact_id=call.contact_id, ivr=ivr,
                            ivr_id=call.ivr_id)
            self.calls[call.id] = live
        live.contact_id = call.contact_id
        return live

    def add_leg(self, live: LiveCall, leg: CallLeg) -> LiveLeg:
        item = LiveLeg(id=leg.id, tenant_id=leg.tenant_id, call_id=leg.call_id, role=leg.role,
                       kind=leg.kind, user_id=leg.user_id, mode=leg.mode,
                       status=leg.status)
        live.legs[leg.id] = item
        self.legs[leg.id] = item
        return item

    def leg_uri(self, leg_id: uuid.UUID) -> str:
        """The address Janus calls for a browser leg: only the platform can make one."""
        return f"sip:{self.leg_user(leg_id)}@{self.settings.sip_host}:{self.settings.sip_port}"

    def leg_user(self, leg_id: uuid.UUID) -> str:
        mac = hmac.new(self.settings.secret_key.encode(), leg_id.hex.encode(),
                       hashlib.sha256).hexdigest()[:20]
        return f"leg-{leg_id.hex}-{mac}"

    def leg_from_user(self, user: str) -> LiveLeg | None:
        parts = user.split("-")
        if len(parts) != 3 or parts[0] != "leg":
            return None
        try:
            leg_id = uuid.UUID(parts[1])
        except ValueError:
            return None
        if not hmac.compare_digest(self.leg_user(leg_id), user):
            return None
        return self.legs.get(leg_id)

    # --- media: what each party hears -----------------------------------------------------

    def _mix(self, call: LiveCall) -> tuple[set[tuple[str, str]], dict[str, str]]:
        connected = [leg for leg in call.legs.values() if leg.connected and leg.name]
        customers = [leg for leg in connected if leg.role == LegRole.CUSTOMER]
        agents = [leg for leg in connected if leg.role == LegRole.AGENT]
        supervisors = [leg for leg in connected if leg.role == LegRole.SUPERVISOR]
        talkers = customers + agents + [s for s in supervisors if s.mode == "join"]
        links: set[tuple[str, str]] = set()
        music: dict[str, str] = {}
        default_music = str(call.hold_music or self.sounds.music())
        held = call.held
        if not agents:
            for customer in customers:
                music[customer.name] = default_music
        for source in talkers:
            if source.muted:
                continue
            for target in talkers:
                if target is source:
                    continue
                if held and {source.role, target.role} == {LegRole.CUSTOMER, LegRole.AGENT}:
                    continue
                if held and LegRole.CUSTOMER in (source.role, target.role) \
                        and source.role == LegRole.SUPERVISOR:
                    continue
                links.add((source.name, target.name))
        for supervisor in supervisors:
            if supervisor.mode == "join":
                continue
            for source in talkers:
                if not source.muted:
                    links.add((source.name, supervisor.name))
            if supervisor.mode == "whisper" and not supervisor.muted:
                for agent in agents:
                    links.add((supervisor.name, agent.name))
        if held == "agent":
            for customer in customers:
                music[customer.name] = default_music
        elif held == "customer":
            for agent in agents:
                music[agent.name] = default_music
        for name in call.speaking | call.ringback:
            music.pop(name, None)
        for name in call.ringback:
            music[name] = str(self.sounds.tone("ringback"))
        return links, music

    async def remix(self, call: LiveCall) -> None:
        switch = self.need()
        links, music = self._mix(call)
        for source, target in call.links - links:
            with contextlib.suppress(Exception):
                await switch.disconnect(source, target)
        for source, target in links - call.links:
            with contextlib.suppress(Exception):
                await switch.connect(source, target)
        call.links = links
        for name in set(call.music) | set(music):
            if call.music.get(name) != music.get(name):
                with contextlib.suppress(Exception):
                    await switch.music(name, music.get(name))
        call.music = music

    async def play(self, call: LiveCall, leg: LiveLeg, path: Path, *,
                   interrupt_on_digit: bool = False, timeout: float = 120.0) -> str | None:
        """Play a file to one leg and wait for its end (or the leg's end); with
        ``interrupt_on_digit``, a key pressed meanwhile stops it and is given back."""
        if not leg.connected or not leg.name:
            return None
        switch = self.need()
        player = f"p-{uuid.uuid4().hex}"
        done = asyncio.Event()
        call.played[player] = done
        call.speaking.add(leg.name)
        await self.remix(call)
        try:
            await switch.play(leg.name, str(path), player)
            waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(done.wait())]
            if interrupt_on_digit:
                waiters.append(asyncio.ensure_future(call.digits.get()))
            finished, pending = await asyncio.wait(waiters, timeout=timeout,
                                                   return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            digit = None
            for waiter in finished:
                result = waiter.result()
                if isinstance(result, str):
                    digit = result
            if digit is not None:
                with contextlib.suppress(Exception):
                    await switch.stop_playing(player)
            return digit
        finally:
            call.played.pop(player, None)
            call.speaking.discard(leg.name)
            if not call.ended and leg.connected:
                await self.remix(call)

    async def speak(self, call: LiveCall, leg: LiveLeg, text: str, **options: Any) -> str | None:
        path = await self.sounds.speech(text, call.language)
        return await self.play(call, leg, path, **options)

    async def digit(self, call: LiveCall, timeout: float) -> str | None:
        try:
            return await asyncio.wait_for(call.digits.get(), timeout)
        except TimeoutError:
            return None

    # --- legs -------------------------------------------------------------------------------

    async def connect_browser(self, leg: LiveLeg, offer: str) -> str:
        """Bring a browser's WebRTC offer into the switch; the SDP answer for it."""
        if self.janus is None:
            raise VoiceUnavailable("Calls from browsers are not configured on this platform.")
        self.need()
        leg.started = time.monotonic()

        def hung_up(reason: str) -> None:
            # Janus lost the browser; the switch hears the SIP BYE and ends the leg. If
            # the switch never got the call (Janus failed first), end it here.
            if not leg.name and leg.status != LegStatus.ENDED.value:
                self.spawn(self.leg_ended(leg, code=0, reason=f"browser: {reason}"))

        try:
            janus_leg = await self.janus.call(offer=offer, uri=self.leg_uri(leg.id),
                                              name=leg.id.hex, on_hangup=hung_up)
        except (JanusError, OSError, TimeoutError, WebSocketException) as error:
            await self.leg_ended(leg, code=0, reason=f"gateway: {error}")
            raise VoiceUnavailable(f"The call could not be connected: {error}") from error
        leg.janus = janus_leg
        return janus_leg.answer

    async def dial(self, leg: LiveLeg, uri: str, *, ring_seconds: float) -> None:
        leg.name = str(leg.id)
        self.by_name[leg.name] = leg
        leg.ring_deadline = time.monotonic() + ring_seconds
        try:
            await self.need().dial(leg.name, uri)
        except Exception as error:
            await self.leg_ended(leg, code=0, reason=f"dial failed: {error}")

    async def hangup(self, leg: LiveLeg, why: str) -> None:
        leg.why = leg.why or why
        if leg.status == LegStatus.ENDED.value:
            return
        if leg.name and self.switch is not None:
            await self.switch.hangup(leg.name)
        else:
            await self.leg_ended(leg, code=0, reason=why)

    # --- switch events -----------------------------------------------------------------------

    def _on_event(self, event: SwitchEvent) -> None:
        self.spawn(self._handle(event))

    async def _handle(self, event: SwitchEvent) -> None:
        logger.debug("switch event %s %s %s", event.kind, event.leg, event.details)
        if event.kind == "incoming":
            await self._incoming(event)
            return
        leg = self.by_name.get(event.leg)
        if event.kind == "played":
            for each in self.calls.values():
                done = each.played.get(event.details.get("player", ""))
                if done is not None:
                    done.set()
            return
        if leg is None:
            return
        call = self.calls.get(leg.call_id)
        if event.kind == "ended":
            # Stored even when the call was already closed: every leg gets its end.
            await self.leg_ended(leg, code=int(event.details.get("code") or 0),
                                 reason=str(event.details.get("reason") or ""))
            return
        if call is None:
            return
        if event.kind == "dtmf":
            call.digits.put_nowait(event.details["digit"])
        elif event.kind == "ringing":
            await self._save_leg(leg, status=LegStatus.RINGING.value)
        elif event.kind == "answered":
            await self.leg_answered(call, leg, event.details.get("sip_call_id"))

    async def _incoming(self, event: SwitchEvent) -> None:
        switch = self.need()
        user = str(event.details.get("user", ""))
        leg = self.leg_from_user(user)
        if leg is not None:
            if leg.name or leg.status == LegStatus.ENDED.value:
                await switch.answer(event.leg, 403)
                return
            leg.name = event.leg
            self.by_name[leg.name] = leg
            await switch.answer(event.leg, 200)
            return
        if self.on_inbound is None:
            await switch.answer(event.leg, 404)
            return
        await self.on_inbound_call(event.leg, user, str(event.details.get("remote", "")))

    async def on_inbound_call(self, name: str, user: str, remote: str) -> None:
        """Calls to numbers are the service layer's (it knows tenants and IVRs)."""
        placeholder = LiveLeg(id=uuid.uuid4(), tenant_id=uuid.UUID(int=0),
                              call_id=uuid.UUID(int=0), role=LegRole.CUSTOMER,
                              kind=LegKind.PHONE, name=name)
        assert self.on_inbound is not None
        try:
            await self.on_inbound(placeholder, user, remote)
        except Exception:
            logger.exception("an incoming call could not be taken")
            with contextlib.suppress(Exception):
                await self.need().answer(name, 500)

    async def leg_answered(self, call: LiveCall, leg: LiveLeg, sip_call_id: Any) -> None:
        leg.ring_deadline = None
        async with call.lock:
            leg.status = LegStatus.CONNECTED.value
            call.ringback.discard(leg.name)
            await self._save_leg(leg, status=leg.status, answered=True,
                                 sip_call_id=str(sip_call_id) if sip_call_id else None)
            await self.remix(call)
        if self.on_answered is not None:
            await self.on_answered(call, leg)

    on_answered: Callable[[LiveCall, LiveLeg], Awaitable[None]] | None = None
    on_ended: Callable[[LiveCall, LiveLeg, int, str], Awaitable[None]] | None = None

    async def leg_ended(self, leg: LiveLeg, *, code: int, reason: str) -> None:
        if leg.status == LegStatus.ENDED.value:
            return
        was = leg.status
        leg.status = LegStatus.ENDED.value
        leg.ring_deadline = None
        call = self.calls.get(leg.call_id)
        if leg.janus is not None and self.janus is not None:
            self.spawn(self.janus.hangup(leg.janus))
        why = leg.why or _reason(code, reason, answered=was == LegStatus.CONNECTED.value)
        try:
            await self._save_leg(leg, status=LegStatus.ENDED.value, ended=True, why=why,
                                 code=code)
        finally:
            leg.closed.set()
        self.by_name.pop(leg.name, None)
        self.legs.pop(leg.id, None)
        if call is None:
            return
        async with call.lock:
            call.speaking.discard(leg.name)
            call.ringback.discard(leg.name)
            call.music.pop(leg.name, None)
            call.links = {(a, b) for a, b in call.links if leg.name not in (a, b)}
            if not call.ended:
                with contextlib.suppress(Exception):
                    await self.remix(call)
        leg.why = why
        if self.on_ended is not None:
            await self.on_ended(call, leg, code, why)

    # --- database ------------------------------------------------------------------------------

    async def _save_leg(self, leg: LiveLeg, *, status: str, answered: bool = False,
                        ended: bool = False, why: str | None = None, code: int | None = None,
                        sip_call_id: str | None = None) -> None:
        from plateaux.channels.voip.service import record_leg

        async with self.services.unit_of_work(tenant_id=leg.tenant_id) as session:
            row = await session.get(CallLeg, leg.id)
            if row is None or row.tenant_id != leg.tenant_id:
                return
            await record_leg(session, row, status=status, answered=answered, ended=ended,
                             why=why, code=code, sip_call_id=sip_call_id)

    async def recording_start(self, call: LiveCall) -> None:
        talkers = [leg.name for leg in call.legs.values() if leg.connected and leg.name
                   and leg.role in (LegRole.CUSTOMER, LegRole.AGENT)]
        if call.recording is not None:
            for name in talkers:
                await self.need().record_leg(call.recording, name)
            return
        folder = self.settings.data_dir / "voice" / "recordings"
        folder.mkdir(parents=True, exist_ok=True)
        call.recording = f"rec-{call.id.hex}"
        call.recording_path = folder / f"{call.id.hex}.wav"
        await self.need().record(call.recording, talkers, str(call.recording_path))

    async def recording_stop(self, call: LiveCall) -> str | None:
        """Stop and store the call's recording; its storage key."""
        if call.recording is None or call.recording_path is None:
            return None
        name, path = call.recording, call.recording_path
        call.recording = None
        await self.need().stop_recording(name)
        for _ in range(50):  # the switch closes the file on its next turn
            await asyncio.sleep(0.05)
            if path.exists() and path.stat().st_size > 44:
                break
        if not path.exists():
            return None
        data = await asyncio.to_thread(path.read_bytes)
        key = new_key(call.tenant_id, "voice", "recordings")
        await local_storage(self.settings.data_dir).put(key, data)
        path.unlink(missing_ok=True)
        return key

    async def voicemail(self, call: LiveCall, leg: LiveLeg) -> str | None:
        """Record what the caller says until they hang up, press #, or the limit."""
        folder = self.settings.data_dir / "voice" / "recordings"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"vm-{call.id.hex}.wav"
        name = f"vm-{call.id.hex}"
        await self.need().record(name, [leg.name], str(path))
        deadline = time.monotonic() + VOICEMAIL_SECONDS
        while leg.connected and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(call.digits.get(), 0.5) == "#":
                    break
        await self.need().stop_recording(name)
        for _ in range(50):
            await asyncio.sleep(0.05)
            if path.exists() and path.stat().st_size > 44:
                break
        if not path.exists():
            return None
        data = await asyncio.to_thread(path.read_bytes)
        path.unlink(missing_ok=True)
        if len(data) <= 44:
            return None
        key = new_key(call.tenant_id, "voice", "voicemail")
        await local_storage(self.settings.data_dir).put(key, data)
        return key

    async def stats(self, leg: LiveLeg) -> LegStats | None:
        if not leg.name or self.switch is None:
            return None
        return await self.switch.stats(leg.name)

    # --- routing ------------------------------------------------------------------------------

    async def routing_call(self, action: str, call: LiveCall, **kwargs: Any) -> bool:
        """A routing action on the call's contact; False when routing refused it (the
        contact moved on meanwhile: the steward tidies what is left)."""
        routing = self.services.routing
        if routing is None or call.contact_id is None:
            return False
        try:
            await getattr(routing, action)(call.tenant_id, call.contact_id, **kwargs)
        except (RoutingError, RoutingConflict) as error:
            logger.info("routing refused %s for a call: %s", action, error)
            return False
        return True

    async def contact_status(self, call: LiveCall) -> tuple[str | None, str | None,
                                                             tuple[int, float | None] | None]:
        """(status, agent id, (position, estimated wait)) of the call's contact now."""
        return await self.routed(call.tenant_id, call.contact_id)

    async def routed(self, tenant_id: uuid.UUID, contact_id: uuid.UUID | None,
                     ) -> tuple[str | None, str | None, tuple[int, float | None] | None]:
        routing = self.services.routing
        if routing is None or contact_id is None:
            return None, None, None
        router = await routing.router(tenant_id)
        live = router.snapshot.contacts.get(str(contact_id))
        if live is None:
            return None, None, None
        place = router.position(str(contact_id)) \
            if live.status == ContactStatus.QUEUED else None
        return live.status.value, live.agent_id, place

    # --- time -------------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                await self._tick()
                if self.on_tick is not None:
                    await self.on_tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("voice timers failed")

    async def _tick(self) -> None:
        now = time.monotonic()
        for leg in list(self.legs.values()):
            if leg.ring_deadline is not None and now >= leg.ring_deadline \
                    and leg.status in (LegStatus.DIALING.value, LegStatus.RINGING.value):
                leg.ring_deadline = None
                await self.hangup(leg, "no_answer")
            elif leg.kind == LegKind.BROWSER and not leg.name and \
                    leg.status == LegStatus.DIALING.value and now - leg.started > MEDIA_TIMEOUT:
                await self.leg_ended(leg, code=0, reason="media never connected")
            elif leg.kind == LegKind.BROWSER and leg.connected and leg.name:
                await self._watch_media(leg, now)

    async def _watch_media(self, leg: LiveLeg, now: float) -> None:
        stats = await self.stats(leg)
        if stats is None:
            return
        if stats.rx_packets != leg.rx_packets:
            leg.rx_packets, leg.rx_since = stats.rx_packets, now
        elif now - leg.rx_since > SILENCE_TIMEOUT:
            logger.info("a browser leg sent no audio for %.0f s: ending it", SILENCE_TIMEOUT)
            await self.hangup(leg, "browser_lost")


def _reason(code: int, reason: str, *, answered: bool) -> str:
    if answered:
        return "hangup"
    if code == 486 or code == 600:
        return "busy"
    if code in (408, 480, 487):
        return "no_answer"
    if code == 603:
        return "declined"
    return "failed" if code else (reason[:40] or "failed")


def after(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


def epoch_now() -> datetime:
    return datetime.now(UTC)


__all__ = ["CallKind", "CallStatus", "LiveCall", "LiveLeg", "VoiceRuntime",
           "VoiceUnavailable"]
