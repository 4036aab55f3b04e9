"""Voice benchmark: how many bridged calls one switch process carries with every RTP stream
flowing, and how long the platform takes from an agent's answer to both legs connected.

Capacity: the switch (``channels/voip/switch.py``, pjsua2 in a thread of its own) runs in
this process and dials two telephones per call (two sipp processes answering every call
and echoing the audio they receive), then bridges each pair in its conference bridge. At
each level (``--levels``) the calls are placed, held for ``--seconds`` (10), and every
leg's receive statistics (from pjsip's RTCP counters) are read at the start and end of the
window: packets received, lost, and the interarrival jitter. A level passes when every leg
connected, fewer than 1 % of the packets were lost and the 95th percentile of the legs'
mean jitter stays under 30 ms. The process's CPU share is reported per level. Each call is
two legs (two RTP streams each way through the bridge), so 50 calls move 10,000 packets a
second.

Answer to connected: the platform in its own process (SQLite, no Redis), one agent working
through the API with calls ringing at a SIP address (a sipp phone), callbacks to a number
on the trunk (another sipp phone). ``--answers`` times (10) a callback is asked, routed,
accepted, and the agent answers (``POST /voice/contacts/{id}/answer``): the time is from
that request to the call reported connected (agent's leg answered, the customer's number
dialled, answered, bridged), by polling every 20 ms. The phones answer 200 ms after
ringing (their scenario), which is part of both legs' time.

Needs Debian's sip-tester (sipp) and espeak-ng. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder comes first on the path, where bench/email.py would shadow
# the standard library's email package: the project's root instead.
sys.path[:] = [str(ROOT)] + [p for p in sys.path
                             if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, round(share * (len(ordered) - 1)))
    return ordered[index]


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# --- capacity ---------------------------------------------------------------------------------


async def capacity(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from plateaux.channels.voip.switch import Switch, SwitchConfig, SwitchEvent
    from tests.support.servers import free_port
    from tests.support.voice_servers import phone, port_range

    answered: dict[str, asyncio.Future[bool]] = {}

    def on_event(event: SwitchEvent) -> None:
        future = answered.get(event.leg)
        if future is None or future.done():
            return
        if event.kind == "answered":
            future.set_result(True)
        elif event.kind == "ended":
            future.set_result(False)

    top = max(args.levels)
    switch = Switch(SwitchConfig(host="127.0.0.1", port=free_port(),
                                 rtp_port=port_range(1000), rtp_port_range=min(
                                     60000 - 21000, top * 2 * 2 + 100), max_calls=top * 2 + 16,
                                 log_level=1),
                    on_event, new_leg=lambda: uuid.uuid4().hex)
    await switch.start()
    results: list[dict[str, Any]] = []
    try:
        for level in args.levels:
            a_port, b_port = free_port(), free_port()
            with phone(folder, a_port, "answer", calls=level), \
                    phone(folder, b_port, "answer", calls=level):
                result = await _level(switch, answered, level, a_port, b_port, args.seconds)
            results.append(result)
            note(f"  {level} calls: {json.dumps(result)}")
            if not result["sustained"]:
                break
    finally:
        await switch.stop()
    passed = [r["calls"] for r in results if r["sustained"]]
    return {"levels": results, "sustained_calls": max(passed) if passed else 0}


async def _level(switch: Any, answered: dict[str, asyncio.Future[bool]], level: int,
                 a_port: int, b_port: int, seconds: float) -> dict[str, Any]:
    from plateaux.channels.voip.switch import SwitchError

    loop = asyncio.get_running_loop()
    legs: list[str] = []
    refused: list[str] = []
    for index in range(level):
        for side, port in (("a", a_port), ("b", b_port)):
            leg = f"{side}{index}-{uuid.uuid4().hex[:6]}"
            answered[leg] = loop.create_future()
            legs.append(leg)
            try:
                await switch.dial(leg, f"sip:{leg}@127.0.0.1:{port}")
            except SwitchError as error:
                # pjsua's call table is full: the leg is counted as not connected.
                answered[leg].set_result(False)
                refused.append(str(error)[:200])
    outcomes = await asyncio.gather(*(asyncio.wait_for(answered[leg], 30) for leg in legs),
                                    return_exceptions=True)
    connected = [leg for leg, ok in zip(legs, outcomes, strict=True) if ok is True]
    for index in range(0, len(legs), 2):
        a, b = legs[index], legs[index + 1]
        if a in connected and b in connected:
            await switch.connect(a, b)
            await switch.connect(b, a)
    await asyncio.sleep(1.0)  # streams settle
    first = {leg: await switch.stats(leg) for leg in connected}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    last = {leg: await switch.stats(leg) for leg in connected}
    received = lost = 0
    jitters: list[float] = []
    for leg in connected:
        before, after = first[leg], last[leg]
        if before is None or after is None:
            continue
        received += after.rx_packets - before.rx_packets
        lost += max(0, after.rx_lost - before.rx_lost)
        jitters.append(after.jitter_ms)
    for leg in legs:
        with contextlib.suppress(Exception):
            await switch.hangup(leg)
    await asyncio.sleep(1.5)
    loss = lost / (received + lost) if received + lost else 1.0
    p95 = percentile(jitters, 0.95)
    expected = len(connected) * 50 * seconds
    return {"calls": level, "legs_connected": len(connected), "legs": len(legs),
            "packets_received": received, "packets_expected": int(expected),
            "loss_percent": round(loss * 100, 3),
            "jitter_ms_mean": round(statistics.fmean(jitters), 2) if jitters else None,
            "jitter_ms_p95": round(p95, 2), "switch_process_cpu_share": round(cpu, 3),
            "sustained": len(connected) == len(legs) and loss < 0.01 and p95 < 30
            and received >= 0.9 * expected,
            "dial_refusals": len(refused), "first_refusal": refused[0] if refused else None}


# --- answer to connected ---------------------------------------------------------------------


async def answer_times(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    import httpx

    from plateaux.platform.app import build_services
    from tests.channels.voip.voice_world import api_agent, visitor_of, voice_world
    from tests.support.database import create_test_database
    from tests.support.factories import TenantFactory
    from tests.support.servers import LiveServer, free_port, own_address
    from tests.support.settings import SECRET, make_settings
    from tests.support.voice_servers import phone, port_range

    database = await asyncio.to_thread(create_test_database, "sqlite", folder / "db")
    sip_port, trunk_port, desk_port = free_port(), free_port(), free_port()
    env = {"PLATEAUX_SIP_PORT": str(sip_port), "PLATEAUX_SIP_RTP_PORT": str(port_range(1000)),
           "PLATEAUX_SIP_RTP_PORT_RANGE": "998", "PLATEAUX_SIP_TRUNK": f"127.0.0.1:{trunk_port}",
           "PLATEAUX_SIP_ALLOW_PRIVATE": "true"}
    (folder / "platform").mkdir()
    times: list[float] = []
    with LiveServer.start(test_database=database, data_dir=folder / "platform",
                          secret_key=SECRET, extra_env=env) as server:
        services = build_services(make_settings(database, folder / "local"))
        try:
            async with httpx.AsyncClient(base_url=server.url, headers=own_address(),
                                         timeout=30) as api:
                world = await voice_world(api, TenantFactory(services))
                with phone(folder, desk_port, "answer", calls=args.answers), \
                        phone(folder, trunk_port, "answer", calls=args.answers):
                    async with api_agent(world, server.url, world.agents[0]) as agent:
                        await agent.reach("sip", f"sip:agent@127.0.0.1:{desk_port}")
                        key = world.widget["public_key"]
                        for index in range(args.answers):
                            visitor = await visitor_of(world)
                            asked = await api.post(
                                f"/embed/v1/sites/{key}/callbacks",
                                headers={**visitor, **own_address()},
                                json={"number": f"+3361234{index:04d}"})
                            asked.raise_for_status()
                            contact_id = await agent.accept()
                            began = time.perf_counter()
                            await agent.answer(contact_id)
                            call_id = None
                            while time.perf_counter() - began < 30:
                                seen = (await api.get(
                                    f"/api/v1/voice/contacts/{contact_id}/call",
                                    headers=agent.headers)).json()
                                call_id = seen["id"]
                                if seen["status"] == "connected":
                                    break
                                await asyncio.sleep(0.02)
                            times.append(time.perf_counter() - began)
                            await api.post(f"/api/v1/voice/calls/{call_id}/hangup",
                                           headers=agent.headers)
                            await api.post(f"/api/v1/contacts/{contact_id}/complete",
                                           headers=agent.headers, json={})
                            await asyncio.sleep(0.3)
        finally:
            await services.db.dispose()
            database.drop()
    millis = [t * 1000 for t in times]
    return {"answers": len(millis), "ms_p50": round(percentile(millis, 0.5), 1),
            "ms_p95": round(percentile(millis, 0.95), 1), "ms_max": round(max(millis), 1)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    with tempfile.TemporaryDirectory(prefix="plateaux-voice-bench-") as tmp:
        folder = Path(tmp)
        note("# voice: bridged calls in one switch process")
        result["capacity"] = await capacity(args, folder / "capacity")
        note("# voice: from the agent's answer to both legs connected")
        result["answer_to_connected"] = await answer_times(args, folder / "answers")
    return result


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=lambda v: [int(x) for x in v.split(",")],
                        default=[1, 2, 4, 8, 16, 32, 64, 128])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--answers", type=int, default=10)
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse())), indent=2))
