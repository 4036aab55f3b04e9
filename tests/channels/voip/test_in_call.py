"""What happens during a call: a supervisor listens, whispers to the agent and joins;
the agent holds and mutes; the tenant records its calls (after the announcement) and the
recording is kept; the IVR takes a voicemail (delivered as a contact with the audio) and
offers a callback. sipp plays every telephone."""

from __future__ import annotations

import asyncio
import io
import uuid
import wave
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from plateaux.channels.voip.models import Call
from plateaux.platform.services import Services
from plateaux.tenants.models import Role
from tests.channels.voip.conftest import VoicePlatform
from tests.channels.voip.test_phone_calls import _billed, _callback
from tests.channels.voip.voice_world import API, VoiceWorld, api_agent, voice_world, wait_call
from tests.support.factories import TenantFactory
from tests.support.servers import free_port, own_address
from tests.support.voice_servers import caller, phone
from tests.support.waiting import until

# Media and call flows through SIP and RTP: the database backend does not change them.
pytestmark = pytest.mark.backend_independent


def _seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as audio:
        return audio.getnframes() / audio.getframerate()


async def _legs(api: httpx.AsyncClient, headers: dict[str, str], call_id: str,
                role: str) -> list[dict[str, Any]]:
    call = (await api.get(f"{API}/voice/calls/{call_id}", headers=headers)).json()
    return [leg for leg in call["legs"] if leg["role"] == role]


async def test_a_supervisor_listens_whispers_and_joins_a_recorded_call_held_and_muted(
        voice_platform: VoicePlatform, tenants: TenantFactory, services: Services,
        tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=voice_platform.url, headers=own_address(),
                                 timeout=30) as api:
        world = await voice_world(api, tenants, settings={
            "recording_enabled": True,
            "recording_announcement": {"fr": "Cet appel est enregistré pour la qualité."}})
        boss = await tenants.add_user(world.world, role=Role.SUPERVISOR, name="Sue Pervisor")
        boss_h = await world.headers_of(boss)
        desk_port, boss_port = free_port(), free_port()
        with phone(tmp_path, voice_platform.trunk_port, "answer"), \
                phone(tmp_path, desk_port, "answer"), phone(tmp_path, boss_port, "answer"):
            async with api_agent(world, voice_platform.url, world.agents[0]) as agent:
                await agent.reach("sip", f"sip:agent@127.0.0.1:{desk_port}")
                await _callback(world)
                contact_id = await agent.accept()
                await agent.answer(contact_id)
                call = await wait_call(world, agent.headers, contact_id, status="connected",
                                       timeout=30)
                call_id = call["id"]
                live = (await api.get(f"{API}/voice/calls", headers=boss_h)).json()
                assert call_id in [c["id"] for c in live]
                assert (await api.get(f"{API}/voice/calls", headers=agent.headers)
                        ).status_code == 403
                # The supervisor listens from their own phone.
                saved = await api.put(f"{API}/voice/me/reach", headers=boss_h, json={
                    "mode": "sip", "address": f"sip:boss@127.0.0.1:{boss_port}"})
                assert saved.status_code == 200, saved.text
                denied = await api.post(f"{API}/voice/calls/{call_id}/supervise",
                                        headers=agent.headers, json={"mode": "listen"})
                assert denied.status_code == 403
                listening = await api.post(f"{API}/voice/calls/{call_id}/supervise",
                                           headers=boss_h, json={"mode": "listen"})
                assert listening.status_code == 200, listening.text

                async def supervisor_connected() -> bool:
                    legs = await _legs(api, boss_h, call_id, "supervisor")
                    return bool(legs and legs[0]["status"] == "connected")

                await until(supervisor_connected, timeout=10, what="the supervisor's phone")
                for mode in ("whisper", "join", "listen"):
                    changed = await api.post(f"{API}/voice/calls/{call_id}/mode",
                                             headers=boss_h, json={"mode": mode})
                    assert changed.status_code == 200, changed.text
                    assert [leg["mode"] for leg in changed.json()["legs"]
                            if leg["role"] == "supervisor"] == [mode]
                stats = (await api.get(f"{API}/voice/calls/{call_id}/stats",
                                       headers=boss_h)).json()
                assert {s["role"] for s in stats} == {"customer", "agent", "supervisor"}
                # Hold and mute, by the agent.
                held = await api.post(f"{API}/voice/calls/{call_id}/hold",
                                      headers=agent.headers, json={"on": True})
                assert held.status_code == 200 and held.json()["on_hold"], held.text
                resumed = await api.post(f"{API}/voice/calls/{call_id}/hold",
                                         headers=agent.headers, json={"on": False})
                assert resumed.json()["on_hold"] is False
                muted = await api.post(f"{API}/voice/calls/{call_id}/mute",
                                       headers=agent.headers, json={"on": True})
                assert muted.status_code == 200 and muted.json()["muted"], muted.text
                await api.post(f"{API}/voice/calls/{call_id}/mute", headers=agent.headers,
                               json={"on": False})
                # A few seconds of conversation on the recording, whatever the load.
                await asyncio.sleep(2)
                # The supervisor leaves; the agent ends the call.
                left = await api.post(f"{API}/voice/calls/{call_id}/hangup", headers=boss_h)
                assert left.status_code == 200 and left.json()["status"] == "connected"
                ended = await api.post(f"{API}/voice/calls/{call_id}/hangup",
                                       headers=agent.headers)
                assert ended.status_code == 200, ended.text
                done = await wait_call(world, agent.headers, contact_id, status="ended")
        assert done["has_recording"]
        recording = await api.get(f"{API}/voice/calls/{call_id}/recording",
                                  headers=agent.headers)
        assert recording.status_code == 200
        assert recording.headers["content-type"] == "audio/wav"
        assert _seconds(recording.content) > 1.0
        roles = {leg["role"]: leg["direction"] for leg in done["legs"]}
        assert roles == {"customer": "outbound", "agent": "outbound",
                         "supervisor": "outbound"}
        assert await _billed(services, world, {leg["id"] for leg in done["legs"]})
        # Another tenant's agent cannot fetch it.
        other = await voice_world(api, tenants)
        assert (await api.get(f"{API}/voice/calls/{call_id}/recording",
                              headers=other.admin)).status_code == 404


async def _ivr_number(api: httpx.AsyncClient, world: VoiceWorld) -> str:
    number = f"+3318{uuid.uuid4().int % 10**7:07d}"
    ivr = await api.post(f"{API}/voice/ivrs", headers=world.admin, json={
        "name": "Accueil", "definition": {
            "languages": ["fr"], "queue_id": world.queue_id, "greeting": {"fr": "Bonjour."},
            "menu": {"fr": "Message, tapez 3. Rappel, tapez 4."},
            "options": [{"digit": "3", "label": "Message", "action": "voicemail"},
                        {"digit": "4", "label": "Rappel", "action": "callback"}]}})
    assert ivr.status_code == 201, ivr.text
    added = await api.post(f"{API}/voice/numbers", headers=world.admin,
                           json={"e164": number, "ivr_id": ivr.json()["id"]})
    assert added.status_code == 201, added.text
    return number


async def test_the_ivr_takes_a_voicemail_delivered_as_a_contact_with_its_audio(
        voice_platform: VoicePlatform, tenants: TenantFactory, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=voice_platform.url, headers=own_address(),
                                 timeout=30) as api:
        world = await voice_world(api, tenants)
        number = await _ivr_number(api, world)
        async with api_agent(world, voice_platform.url, world.agents[0]) as agent:
            with caller(tmp_path, target=voice_platform.switch, number=number,
                        caller_number="+33155550000", keys=[(2.0, "3")],
                        talk_seconds=15) as dialling:
                contact_id = await agent.accept(timeout=60)
                assert dialling.wait(timeout=60) == 0, dialling.log.read_text()
            contact = (await api.get(f"{API}/contacts/{contact_id}", headers=agent.headers)
                       ).json()
            assert contact["channel"] == "form"
            assert contact["attributes"]["phone"] == "+33155550000"
            call_id = contact["attributes"]["voicemail_call_id"]
            call = (await api.get(f"{API}/voice/contacts/{contact_id}/call",
                                  headers=agent.headers)).json()
            assert call["id"] == call_id and call["has_voicemail"]
            assert call["outcome"] == "voicemail"
            audio = await api.get(f"{API}/voice/calls/{call_id}/voicemail",
                                  headers=agent.headers)
            assert audio.status_code == 200, audio.text
            assert _seconds(audio.content) > 1.0


async def test_the_ivr_takes_a_callback_request_for_the_callers_number(
        voice_platform: VoicePlatform, tenants: TenantFactory, services: Services,
        tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=voice_platform.url, headers=own_address(),
                                 timeout=30) as api:
        world = await voice_world(api, tenants)
        number = await _ivr_number(api, world)
        with caller(tmp_path, target=voice_platform.switch, number=number,
                    caller_number="+33612345670", keys=[(2.0, "4")],
                    talk_seconds=6) as dialling:

            async def asked() -> list[Call]:
                async with services.unit_of_work(tenant_id=world.world.tenant.id) as session:
                    rows = (await session.scalars(select(Call).where(
                        Call.tenant_id == world.world.tenant.id,
                        Call.kind == "callback"))).all()
                return list(rows)

            callbacks = await until(asked, timeout=40, what="the callback request")
            dialling.wait(timeout=60)
        assert callbacks[0].customer_number == "+33612345670"
        assert callbacks[0].status == "waiting" and callbacks[0].contact_id is not None
