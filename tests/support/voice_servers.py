"""The media servers voice tests need, started as the suite's own processes on loopback:
Janus (WebRTC gateway), coturn (STUN/TURN) and sipp (telephones and callers).

Janus never gathers ICE candidates on a loopback interface (its ice.c skips
IFF_LOOPBACK), so the suite gives it 127.0.0.2 on a veth interface of its own
(``plxv0``); that address is still the loopback network. coturn relays from the same
address (libnice on it does not answer a relay on 127.0.0.1).
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port, media_priority

MEDIA_ADDRESS = "127.0.0.2"
INTERFACE = "plxv0"
JANUS_LIBS = Path("/usr/lib/x86_64-linux-gnu/janus")
SIPP_SCENARIOS = Path(__file__).parent / "sipp"
# Ranges this process took, each held by a lock file until the process ends: parallel
# test processes (pytest-xdist workers, two runs) never share a media port range.
_held_ranges: dict[int, int] = {}
_RANGE_LOCKS = Path(tempfile.gettempdir()) / "plateaux-test-port-ranges"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False)


def ensure_media_address() -> None:
    """127.0.0.2 on an interface Janus does not skip (created once, as root)."""
    shown = _run("ip", "-o", "-4", "addr", "show")
    if f"inet {MEDIA_ADDRESS}/" in shown.stdout and INTERFACE in shown.stdout:
        return
    steps = [("ip", "link", "add", INTERFACE, "type", "veth", "peer", "name", "plxv1"),
             ("ip", "addr", "add", f"{MEDIA_ADDRESS}/32", "dev", INTERFACE),
             ("ip", "link", "set", INTERFACE, "up"), ("ip", "link", "set", "plxv1", "up")]
    for step in steps:
        result = _run(*step)
        if result.returncode != 0 and "File exists" not in result.stderr:
            raise RuntimeError(f"{' '.join(step)} failed: {result.stderr.strip()} "
                               "(scripts/ensure-test-services sets this up as root)")


def port_range(size: int) -> int:
    """The first port of ``size`` free UDP ports no other test process uses (size ≤ 1000)."""
    _RANGE_LOCKS.mkdir(exist_ok=True)
    for start in range(20000, 60000, 1000):
        if start in _held_ranges:
            continue
        lock = os.open(_RANGE_LOCKS / f"{start}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            continue
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind(("127.0.0.1", start))
        except OSError:
            os.close(lock)
            continue
        finally:
            probe.close()
        _held_ranges[start] = lock
        return start
    raise RuntimeError("no free port range")


def _wait_tcp(port: int, process: subprocess.Popen[bytes], log: Path, what: str,
              timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log.read_text(errors='replace')[-3000:]}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@dataclass
class Janus:
    url: str


@contextmanager
def janus(folder: Path) -> Iterator[Janus]:
    if shutil.which("janus") is None:
        raise RuntimeError("Debian's janus is required (scripts/ensure-test-services)")
    ensure_media_address()
    folder.mkdir(parents=True, exist_ok=True)
    ws_port = free_port()
    ice = port_range(1000)
    sip_rtp = port_range(1000)
    disabled_plugins = ",".join(
        p.name for p in (JANUS_LIBS / "plugins").glob("libjanus_*.so")
        if p.name != "libjanus_sip.so")
    disabled_transports = ",".join(
        p.name for p in (JANUS_LIBS / "transports").glob("libjanus_*.so")
        if p.name != "libjanus_websockets.so")
    (folder / "janus.jcfg").write_text(f"""
general: {{
  configs_folder = "{folder}"
  plugins_folder = "{JANUS_LIBS}/plugins"
  transports_folder = "{JANUS_LIBS}/transports"
  events_folder = "{JANUS_LIBS}/events"
  loggers_folder = "{JANUS_LIBS}/loggers"
  debug_level = 3
  session_timeout = 60
}}
certificates: {{}}
media: {{ rtp_port_range = "{ice}-{ice + 999}" }}
nat: {{ ice_enforce_list = "{MEDIA_ADDRESS}" ignore_mdns = true }}
plugins: {{ disable = "{disabled_plugins}" }}
transports: {{ disable = "{disabled_transports}" }}
events: {{ broadcast = false }}
loggers: {{ disable = "libjanus_jsonlog.so" }}
""")
    (folder / "janus.transport.websockets.jcfg").write_text(f"""
general: {{ json = "compact" ws = true ws_port = {ws_port} ws_ip = "127.0.0.1" wss = false }}
admin: {{ admin_ws = false admin_wss = false }}
""")
    (folder / "janus.plugin.sip.jcfg").write_text(f"""
general: {{ local_ip = "127.0.0.1" local_media_ip = "127.0.0.1" sdp_ip = "127.0.0.1"
  keepalive_interval = 0 behind_nat = false register_ttl = 3600
  rtp_port_range = "{sip_rtp}-{sip_rtp + 999}" }}
""")
    log = folder / "janus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(["janus", "-F", str(folder), "-C", str(folder / "janus.jcfg"),
                                    "-o"], stdout=out, stderr=subprocess.STDOUT,
                                   preexec_fn=media_priority)
        try:
            _wait_tcp(ws_port, process, log, "janus")
            yield Janus(url=f"ws://127.0.0.1:{ws_port}")
        finally:
            _stop(process)


@dataclass
class Turn:
    url: str
    secret: str


@contextmanager
def coturn(folder: Path, secret: str = "test-turn-secret") -> Iterator[Turn]:
    if shutil.which("turnserver") is None:
        raise RuntimeError("Debian's coturn is required (scripts/ensure-test-services)")
    ensure_media_address()
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    relay = port_range(1000)
    empty = folder / "turnserver.conf"
    empty.write_text("")
    log = folder / "turn.log"
    with log.open("wb") as out:
        process = subprocess.Popen([
            "turnserver", "-c", str(empty), "-n", "--listening-ip=127.0.0.1",
            f"--relay-ip={MEDIA_ADDRESS}", f"--listening-port={port}",
            f"--min-port={relay}", f"--max-port={relay + 999}", "--use-auth-secret",
            f"--static-auth-secret={secret}", "--realm=plateaux.test",
            "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli",
            f"--userdb={folder / 'turndb'}", f"--pidfile={folder / 'turn.pid'}",
            "--log-file=stdout", "--simple-log"], stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=media_priority)
        try:
            _wait_tcp(port, process, log, "coturn")
            yield Turn(url=f"turn:127.0.0.1:{port}?transport=udp", secret=secret)
        finally:
            _stop(process)


@dataclass
class Phone:
    """A sipp telephone answering (and echoing audio), busy, or never answering."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout=timeout)


@contextmanager
def phone(folder: Path, port: int, behaviour: str = "answer", *,
          calls: int = 1) -> Iterator[Phone]:
    """``behaviour``: answer (echoes the audio it receives), busy, no_answer."""
    if shutil.which("sipp") is None:
        raise RuntimeError("Debian's sip-tester (sipp) is required")
    folder.mkdir(parents=True, exist_ok=True)
    scenario = SIPP_SCENARIOS / f"uas_{behaviour}.xml"
    log = folder / f"sipp-{behaviour}-{port}.log"
    media = port_range(1000)
    with log.open("wb") as out:
        process = subprocess.Popen([
            "sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port),
            "-mi", "127.0.0.1", "-mp", str(media), "-rtp_echo", "-m", str(calls),
            "-nostdin", "-trace_err", "-error_file", str(folder / f"sipp-{port}.err"),
            "-timeout", "120s"], stdout=out, stderr=subprocess.STDOUT, cwd=folder,
            preexec_fn=media_priority)
        time.sleep(0.3)
        try:
            yield Phone(process=process, port=port, log=log)
        finally:
            if process.poll() is None:
                _stop(process)


CALLER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="caller with keys">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
{steps}
  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"""

class RtpRecorder:
    """RTP streams as pcap files for sipp's ``play_pcap_audio``: one source (SSRC) whose
    sequence numbers and timestamps go on across files, so the far end takes every file as
    the continuation of the same stream. Keys are RFC 4733 events (payload type 101),
    speech is a PCMA tone (payload type 8), 20 ms a packet."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seq = 1000
        self.ts = 160_000
        self.ssrc = 0x504C5856
        self.count = 0

    def _file(self, packets: list[bytes]) -> Path:
        self.count += 1
        path = self.folder / f"rtp-{self.count}.pcap"
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
        for index, rtp in enumerate(packets):
            udp = struct.pack("!HHHH", 40000, 40002, 8 + len(rtp), 0) + rtp
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                             bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
            frame = b"\0" * 12 + b"\x08\x00" + ip
            micros = index * 20000
            out.append(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000,
                                   len(frame), len(frame)) + frame)
        path.write_bytes(b"".join(out))
        return path

    def _rtp(self, payload_type: int, payload: bytes, *, marker: bool = False,
             timestamp: int | None = None) -> bytes:
        header = struct.pack("!BBHII", 0x80, payload_type | (0x80 if marker else 0),
                             self.seq & 0xFFFF, (self.ts if timestamp is None else timestamp)
                             & 0xFFFFFFFF, self.ssrc)
        self.seq += 1
        return header + payload

    def key(self, key: str) -> Path:
        event = "0123456789*#".index(key)
        start = self.ts
        packets = []
        for step in range(1, 8):  # 140 ms of tone, then the end three times
            packets.append(self._rtp(101, struct.pack("!BBH", event, 10, step * 160),
                                     marker=step == 1, timestamp=start))
        for _ in range(3):
            packets.append(self._rtp(101, struct.pack("!BBH", event, 0x80 | 10, 7 * 160),
                                     timestamp=start))
        self.ts += 10 * 160
        return self._file(packets)

    def speech(self, seconds: float) -> Path:
        packets = []
        for index in range(int(seconds * 50)):
            samples = bytes(_alaw(int(6000 * math.sin(2 * math.pi * 440 * (index * 160 + i)
                                                        / 8000))) for i in range(160))
            packets.append(self._rtp(8, samples))
            self.ts += 160
        return self._file(packets)


def _alaw(sample: int) -> int:
    """One 16-bit sample in G.711 A-law (the textbook encoder)."""
    sign = 0x00 if sample >= 0 else 0x80
    sample = min(abs(sample), 32635)
    if sample >= 256:
        exponent = int(math.log2(sample >> 7)) if sample >> 7 else 0
        exponent = min(exponent, 7)
        mantissa = (sample >> (exponent + 3)) & 0x0F
        value = (exponent << 4) | mantissa
    else:
        value = sample >> 4
    return (value | sign) ^ 0x55


KEY_MILLISECONDS = 400


def caller_scenario(folder: Path, *, caller: str, keys: list[tuple[float, str]],
                    talk_seconds: float) -> str:
    """A caller who waits, presses ``keys`` (pause in seconds before each), talks for
    ``talk_seconds`` and hangs up."""
    stream = RtpRecorder(folder)
    steps = []
    for pause, key in keys:
        steps.append(f'  <pause milliseconds="{int(pause * 1000)}"/>')
        steps.append(f'  <nop><action><exec play_pcap_audio="{stream.key(key)}"/>'
                     f'</action></nop>')
        # The key's 200 ms (tone, then its end three times) go out before the next file
        # starts: a file played at once after it raced it on the same stream, and a busy
        # machine then lost the key.
        steps.append(f'  <pause milliseconds="{KEY_MILLISECONDS}"/>')
    if talk_seconds > 0:
        steps.append(f'  <nop><action><exec play_pcap_audio="{stream.speech(talk_seconds)}"/>'
                     f'</action></nop>')
        steps.append(f'  <pause milliseconds="{int(talk_seconds * 1000)}"/>')
    return CALLER.format(caller=caller, steps="\n".join(steps))


@contextmanager
def caller(folder: Path, *, target: str, number: str, caller_number: str,
           keys: list[tuple[float, str]], talk_seconds: float) -> Iterator[Phone]:
    """A sipp caller dialling ``number`` at ``target`` (host:port of the switch)."""
    folder.mkdir(parents=True, exist_ok=True)
    scenario = folder / f"caller-{number.strip('+')}.xml"
    scenario.write_text(caller_scenario(folder, caller=caller_number, keys=keys,
                                        talk_seconds=talk_seconds))
    port = free_port()
    media = port_range(1000)
    log = folder / f"sipp-caller-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([
            "sipp", target, "-sf", str(scenario), "-s", number, "-i", "127.0.0.1",
            "-p", str(port), "-mi", "127.0.0.1", "-mp", str(media), "-m", "1", "-nostdin",
            "-trace_err", "-error_file", str(folder / f"sipp-caller-{port}.err"),
            "-timeout", "180s"], stdout=out, stderr=subprocess.STDOUT, cwd=folder,
            preexec_fn=media_priority)
        try:
            yield Phone(process=process, port=port, log=log)
        finally:
            if process.poll() is None:
                _stop(process)
