"""The platform's own switch: pjsip (PyPI's ``pjsua2-python``) running in a thread of its
own, answering and placing SIP calls and connecting their audio in pjsip's conference
bridge (bridges, music, prompts, recordings, DTMF as RFC 4733 events).

pjsua2 is not thread safe from Python: every call into it happens on the switch thread,
which runs pjsip's event loop and the commands the asyncio side queues
(:meth:`Switch.run`). pjsip's callbacks run there too and are turned into plain
:class:`SwitchEvent` values handed to the asyncio loop, so no pjsip object ever leaves the
thread (a pjsip object destroyed by the garbage collector on another thread crashes the
process). Legs are named by the caller's own ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pjsua2 as pj

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Codecs the switch offers and accepts, best first: wideband for browsers (G.722), G.711
# for telephone networks. Speex, iLBC and GSM are old and cost CPU for nothing here.
CODEC_PRIORITY = {"G722/16000/1": 250, "PCMU/8000/1": 240, "PCMA/8000/1": 230}
_REQUEST_URI = re.compile(r"^INVITE\s+sips?:([^@;>\s]+)@", re.IGNORECASE)


class SwitchError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class SwitchEvent:
    """``kind``: incoming (``user`` dialled, ``remote`` caller), ringing, answered, ended
    (``code``, ``reason``), dtmf (``digit``), played (a prompt ``player`` finished)."""

    kind: str
    leg: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LegStats:
    rx_packets: int
    tx_packets: int
    rx_lost: int
    jitter_ms: float
    codec: str


@dataclass(frozen=True, slots=True)
class SwitchConfig:
    host: str = "127.0.0.1"
    port: int = 5060
    rtp_port: int = 40000
    rtp_port_range: int = 2000
    max_calls: int = 512
    user_agent: str = "Plateaux"
    log_level: int = 2


class _Log(pj.LogWriter):
    def write(self, entry: Any) -> None:
        logger.debug("pjsip: %s", str(entry.msg).rstrip())


class _Call(pj.Call):
    def __init__(self, switch: Switch, leg: str, account: pj.Account,
                 call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.switch = switch
        self.leg = leg
        self.audio: pj.AudioMedia | None = None
        self.media_index = -1
        self.answered = False
        self.ended = False

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_EARLY and info.lastStatusCode in (180, 183):
            self.switch._emit("ringing", self.leg, code=info.lastStatusCode)
        elif info.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.answered:
            self.answered = True
            self.switch._emit("answered", self.leg, sip_call_id=info.callIdString)
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.ended = True
            self.audio = None
            self.switch._ended(self, info.lastStatusCode, str(info.lastReason))

    def onCallMediaState(self, prm: Any) -> None:
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and \
                    media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.audio = self.getAudioMedia(index)
                self.media_index = index
                self.switch._media_ready(self.leg)
                return
        self.audio = None

    def onDtmfDigit(self, prm: Any) -> None:
        self.switch._emit("dtmf", self.leg, digit=str(prm.digit))


class _Player(pj.AudioMediaPlayer):
    def __init__(self, switch: Switch, name: str) -> None:
        super().__init__()
        self.switch = switch
        self.name = name
        self.leg = ""
        self.done = False
        self.looping = False

    def onEof2(self) -> None:
        if self.looping:
            return
        # Not destroyed here (pjsip is inside the player): the loop removes it next turn.
        self.done = True
        self.switch._emit("played", self.leg, player=self.name)


class _Account(pj.Account):
    def __init__(self, switch: Switch) -> None:
        super().__init__()
        self.switch = switch

    def onIncomingCall(self, prm: Any) -> None:
        self.switch._incoming(self, prm)


class Switch:
    """The switch thread and the commands it takes. Start it once per process."""

    def __init__(self, config: SwitchConfig, on_event: Callable[[SwitchEvent], None],
                 *, new_leg: Callable[[], str]) -> None:
        self.config = config
        self.on_event = on_event
        self.new_leg = new_leg
        self._commands: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.Future[Any]]] = \
            queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._stop = False
        # Owned by the switch thread only.
        self._calls: dict[str, _Call] = {}
        self._links: set[tuple[str, str]] = set()  # (from leg, to leg)
        self._players: dict[str, _Player] = {}
        self._music: dict[str, _Player] = {}  # a looping player per file, shared
        self._music_of: dict[str, str] = {}  # leg -> music file it hears
        self._recorders: dict[str, tuple[pj.AudioMediaRecorder, set[str]]] = {}
        self._dead: list[Any] = []
        self._endpoint: pj.Endpoint | None = None
        self._account: _Account | None = None
        self._log: _Log | None = None
        self.address = f"{config.host}:{config.port}"

    # --- life cycle (asyncio side) -----------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._main, name="voice-switch", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._ready.wait, 15)
        if self._failed is not None:
            raise SwitchError(f"the voice switch did not start: {self._failed}")
        if not self._ready.is_set():
            raise SwitchError("the voice switch did not start in time")

    async def stop(self) -> None:
        self._stop = True
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 15)

    async def run(self, command: Callable[[], T]) -> T:
        """Run ``command`` on the switch thread and give its result."""
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            raise SwitchError("the voice switch is not running")
        future: asyncio.Future[T] = self._loop.create_future()
        self._commands.put((command, future))
        return await future

    # --- commands --------------------------------------------------------------------------

    async def answer(self, leg: str, code: int = 200) -> None:
        def command() -> None:
            call = self._call(leg)
            param = pj.CallOpParam()
            param.statusCode = code
            call.answer(param)

        await self.run(command)

    async def dial(self, leg: str, uri: str, *, headers: dict[str, str] | None = None) -> None:
        """Place a call to ``uri``; its progress arrives as events of ``leg``."""

        def command() -> None:
            if self._account is None:
                raise SwitchError("no account")
            call = _Call(self, leg, self._account)
            param = pj.CallOpParam(True)
            param.opt.audioCount = 1
            param.opt.videoCount = 0
            for name, value in (headers or {}).items():
                header = pj.SipHeader()
                header.hName = name
                header.hValue = value
                param.txOption.headers.append(header)
            self._calls[leg] = call
            try:
                call.makeCall(uri, param)
            except pj.Error as error:
                self._calls.pop(leg, None)
                raise SwitchError(error.info()) from None

        await self.run(command)

    async def hangup(self, leg: str, code: int = 0, reason: str = "") -> None:
        def command() -> None:
            call = self._calls.get(leg)
            if call is None or call.ended:
                return
            param = pj.CallOpParam()
            if code:
                param.statusCode = code
            if reason:
                param.reason = reason
            with contextlib.suppress(pj.Error):
                call.hangup(param)

        await self.run(command)

    async def connect(self, source: str, target: str) -> None:
        """``target`` hears ``source`` (one direction; call twice for a conversation)."""

        def command() -> None:
            self._links.add((source, target))
            self._apply(source, target, True)

        await self.run(command)

    async def disconnect(self, source: str, target: str) -> None:
        def command() -> None:
            self._links.discard((source, target))
            self._apply(source, target, False)

        await self.run(command)

    async def play(self, leg: str, path: str, name: str) -> None:
        """Play a WAV file to one leg; a ``played`` event names ``name`` when it ends."""

        def command() -> None:
            call = self._call(leg)
            player = _Player(self, name)
            player.leg = leg
            player.createPlayer(path, pj.PJMEDIA_FILE_NO_LOOP)
            self._players[name] = player
            if call.audio is not None:
                player.startTransmit(call.audio)

        await self.run(command)

    async def stop_playing(self, name: str) -> None:
        def command() -> None:
            player = self._players.pop(name, None)
            if player is not None:
                self._drop_player(player)

        await self.run(command)

    async def music(self, leg: str, path: str | None) -> None:
        """Loop ``path`` to the leg (one shared player per file); None stops it."""

        def command() -> None:
            current = self._music_of.pop(leg, None)
            call = self._calls.get(leg)
            if current is not None and call is not None and call.audio is not None:
                with contextlib.suppress(pj.Error):
                    self._music[current].stopTransmit(call.audio)
            if path is None:
                return
            player = self._music.get(path)
            if player is None:
                player = _Player(self, f"music:{path}")
                player.looping = True
                player.createPlayer(path, 0)
                self._music[path] = player
            self._music_of[leg] = path
            if call is not None and call.audio is not None:
                player.startTransmit(call.audio)

        await self.run(command)

    async def record(self, name: str, legs: list[str], path: str) -> None:
        """Record what ``legs`` say, mixed, to a WAV file until :meth:`stop_recording`."""

        def command() -> None:
            recorder = pj.AudioMediaRecorder()
            recorder.createRecorder(path)
            self._recorders[name] = (recorder, set(legs))
            for leg in legs:
                call = self._calls.get(leg)
                if call is not None and call.audio is not None:
                    call.audio.startTransmit(recorder)

        await self.run(command)

    async def record_leg(self, name: str, leg: str) -> None:
        """Add a leg to a running recording (an agent who joins a recorded call)."""

        def command() -> None:
            found = self._recorders.get(name)
            call = self._calls.get(leg)
            if found is None:
                return
            found[1].add(leg)
            if call is not None and call.audio is not None:
                call.audio.startTransmit(found[0])

        await self.run(command)

    async def stop_recording(self, name: str) -> bool:
        def command() -> bool:
            found = self._recorders.pop(name, None)
            if found is None:
                return False
            self._dead.append(found[0])  # destroyed next turn: the file is closed then
            return True

        return await self.run(command)

    async def stats(self, leg: str) -> LegStats | None:
        def command() -> LegStats | None:
            call = self._calls.get(leg)
            if call is None or call.media_index < 0 or call.ended:
                return None
            try:
                stat = call.getStreamStat(call.media_index).rtcp
                info = call.getStreamInfo(call.media_index)
            except pj.Error:
                return None
            return LegStats(rx_packets=stat.rxStat.pkt, tx_packets=stat.txStat.pkt,
                            rx_lost=stat.rxStat.loss,
                            jitter_ms=stat.rxStat.jitterUsec.mean / 1000.0,
                            codec=str(info.codecName))

        return await self.run(command)

    async def legs(self) -> list[str]:
        return await self.run(lambda: [leg for leg, c in self._calls.items() if not c.ended])

    # --- the switch thread ------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._open()
        except BaseException as error:  # reported by start()
            self._failed = error
            self._ready.set()
            return
        self._ready.set()
        endpoint = self._endpoint
        assert endpoint is not None
        while not self._stop:
            endpoint.libHandleEvents(5)
            self._drain()
            self._tidy()
        self._close()

    def _open(self) -> None:
        endpoint = pj.Endpoint()
        endpoint.libCreate()
        config = pj.EpConfig()
        config.uaConfig.threadCnt = 0
        config.uaConfig.mainThreadOnly = True
        config.uaConfig.maxCalls = self.config.max_calls
        config.uaConfig.userAgent = self.config.user_agent
        config.medConfig.maxMediaPorts = self.config.max_calls * 2 + 64
        config.medConfig.noVad = True  # silence detection would starve the music
        self._log = _Log()
        config.logConfig.writer = self._log
        config.logConfig.level = self.config.log_level
        config.logConfig.consoleLevel = 0
        config.logConfig.decor = 0
        endpoint.libInit(config)
        transport = pj.TransportConfig()
        transport.port = self.config.port
        transport.boundAddress = self.config.host
        endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        endpoint.libStart()
        endpoint.audDevManager().setNullDev()
        for codec in endpoint.codecEnum2():
            endpoint.codecSetPriority(codec.codecId, CODEC_PRIORITY.get(codec.codecId, 0))
        account_config = pj.AccountConfig()
        account_config.idUri = f"sip:switch@{self.config.host}:{self.config.port}"
        media = account_config.mediaConfig.transportConfig
        media.boundAddress = self.config.host
        media.port = self.config.rtp_port
        media.portRange = self.config.rtp_port_range
        account = _Account(self)
        account.create(account_config)
        self._endpoint, self._account = endpoint, account

    def _close(self) -> None:
        endpoint = self._endpoint
        if endpoint is None:
            return
        with contextlib.suppress(pj.Error):
            endpoint.hangupAllCalls()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(not c.ended for c in self._calls.values()):
            endpoint.libHandleEvents(10)
        self._players.clear()
        self._music.clear()
        self._recorders.clear()
        self._calls.clear()
        self._dead.clear()
        self._account = None
        with contextlib.suppress(pj.Error):
            endpoint.libDestroy()
        self._endpoint = None

    def _drain(self) -> None:
        while True:
            try:
                command, future = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                result = command()
            except pj.Error as error:
                self._settle(future, None, SwitchError(error.info()))
            except Exception as error:
                self._settle(future, None, error)
            else:
                self._settle(future, result, None)

    def _settle(self, future: asyncio.Future[Any], result: Any,
                error: BaseException | None) -> None:
        def settle() -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        assert self._loop is not None
        self._loop.call_soon_threadsafe(settle)

    def _tidy(self) -> None:
        for name, player in list(self._players.items()):
            if player.done:
                del self._players[name]
                self._drop_player(player)
        for leg, call in list(self._calls.items()):
            if call.ended:
                del self._calls[leg]
                self._dead.append(call)
        if self._dead:
            self._dead.clear()

    def _drop_player(self, player: _Player) -> None:
        call = self._calls.get(player.leg)
        if call is not None and call.audio is not None:
            with contextlib.suppress(pj.Error):
                player.stopTransmit(call.audio)
        self._dead.append(player)

    def _call(self, leg: str) -> _Call:
        call = self._calls.get(leg)
        if call is None or call.ended:
            raise SwitchError(f"no live call for leg {leg}")
        return call

    def _apply(self, source: str, target: str, on: bool) -> None:
        a, b = self._calls.get(source), self._calls.get(target)
        if a is None or b is None or a.audio is None or b.audio is None:
            return
        with contextlib.suppress(pj.Error):
            if on:
                a.audio.startTransmit(b.audio)
            else:
                a.audio.stopTransmit(b.audio)

    def _media_ready(self, leg: str) -> None:
        """A leg's audio (re)appeared: what it was linked to is linked again."""
        for source, target in self._links:
            if leg in (source, target):
                self._apply(source, target, True)
        call = self._calls[leg]
        music = self._music_of.get(leg)
        if music is not None and call.audio is not None:
            self._music[music].startTransmit(call.audio)
        for player in self._players.values():
            if player.leg == leg and call.audio is not None:
                player.startTransmit(call.audio)
        for recorder, legs in self._recorders.values():
            if leg in legs and call.audio is not None:
                call.audio.startTransmit(recorder)

    def _incoming(self, account: _Account, prm: Any) -> None:
        leg = self.new_leg()
        call = _Call(self, leg, account, prm.callId)
        self._calls[leg] = call
        message = str(prm.rdata.wholeMsg)
        match = _REQUEST_URI.match(message)
        info = call.getInfo()
        self._emit("incoming", leg, user=match.group(1) if match else "",
                   remote=str(info.remoteUri), sip_call_id=str(info.callIdString))

    def _ended(self, call: _Call, code: int, reason: str) -> None:
        self._links = {(a, b) for a, b in self._links if call.leg not in (a, b)}
        self._music_of.pop(call.leg, None)
        for name, player in list(self._players.items()):
            if player.leg == call.leg:
                del self._players[name]
                self._dead.append(player)
        self._emit("ended", call.leg, code=code, reason=reason)

    def _emit(self, kind: str, leg: str, **details: Any) -> None:
        event = SwitchEvent(kind=kind, leg=leg, details=details)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.on_event, event)
