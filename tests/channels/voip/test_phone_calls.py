"""Telephone calls through the switch, with sipp as the telephone network: callbacks that
are busy or never answered (retried by the tenant's policy, then an outcome on the
contact), an inbound call to a tenant's number through its IVR by DTMF to an agent, and
blind and warm transfers of one contact. Agents answer at a SIP address of their own
(another sipp phone), set through the API as they would in the console."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from plateaux.billing.models import UsageRecord
from plateaux.platform.services import Services
from plateaux.routing.models import Contact
from tests.channels.voip.conftest import VoicePlatform
from tests.channels.voip.voice_world import (
    API,
    VoiceWorld,
    api_agent,
    visitor_of,
    voice_world,
    wait_call,
)
from tests.support.factories import TenantFactory
from tests.support.servers import free_port, own_address
from tests.support.voice_servers import caller, phone
from tests.support.waiting import until

# Media and call flows through SIP and RTP: the database backend does not change them.
pytestmark = pytest.mark.backend_independent

CUSTOMER = "+33612345678"


def _client(voice_platform: VoicePlatform) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=voice_platform.url, headers=own_address(), timeout=30)


async def _callback(world: VoiceWorld) -> dict[str, Any]:
    key = world.widget["public_key"]
    asked = await world.api.post(f"/embed/v1/sites/{key}/callbacks", headers=await visitor_of(
        world), json={"number": "06 12 34 56 78", "when": "asap", "name": "Claire"})
    assert asked.status_code == 201, asked.text
    found: dict[str, Any] = asked.json()
    return found


async def _contact(services: Services, world: VoiceWorld, contact_id: str) -> Contact:
    async with services.unit_of_work(tenant_id=world.world.tenant.id) as session:
        row = await session.get(Contact, uuid.UUID(contact_id))
        assert row is not None
        return row


async def _final_contact(services: Services, world: VoiceWorld, contact_id: str,
                         status: str) -> Contact:
    async def check() -> Contact | None:
        row = await _contact(services, world, contact_id)
        return row if row.status == status else None

    found: Contact = await until(check, timeout=15, what=f"the contact to be {status}")
    return found


@pytest.mark.parametrize("behaviour", ["busy", "no_answer"])
async def test_a_callback_nobody_answers_is_retried_then_ends_with_its_outcome(
        behaviour: str, voice_platform: VoicePlatform, tenants: TenantFactory,
        services: Services, tmp_path: Path) -> None:
    async with _client(voice_platform) as api:
        world = await voice_world(api, tenants, settings={
            "callback_max_attempts": 2, "callback_retry_seconds": 1,
            "callback_ring_seconds": 5})
        desk_port = free_port()
        with phone(tmp_path, desk_port, "answer", calls=2), \
                phone(tmp_path, voice_platform.trunk_port, behaviour, calls=2):
            async with api_agent(world, voice_platform.url, world.agents[0]) as agent:
                await agent.reach("sip", f"sip:agent@127.0.0.1:{desk_port}")
                asked = await _callback(world)
                assert asked["kind"] == "callback" and asked["status"] == "waiting"
                assert asked["position"] in (None, 1)
                contact_id = await agent.accept()
                answered = await agent.answer(contact_id)
                assert answered["sdp"] is None  # the agent's own phone rings
                # First attempt fails: the agent is released, the same contact waits again.
                second = await agent.accept(timeout=30)
                assert second == contact_id
                await agent.answer(contact_id)
                call = await wait_call(world, agent.headers, contact_id, status="ended",
                                       timeout=40)
        assert call["outcome"] == behaviour
        assert call["attempts"] == 2
        customers = [leg for leg in call["legs"] if leg["role"] == "customer"]
        assert len(customers) == 2
        for leg in customers:
            assert leg["answered_at"] is None and leg["ended_at"]
            assert leg["end_reason"] == behaviour
            assert leg["address"] == CUSTOMER and leg["direction"] == "outbound"
        if behaviour == "busy":
            assert {leg["sip_status"] for leg in customers} == {486}
        contact = await _final_contact(services, world, contact_id, "completed")

        async def outcome() -> bool:
            return (await _contact(services, world, contact_id)).outcome == behaviour

        assert await until(outcome, timeout=10, what="the contact's outcome"), contact


async def test_an_inbound_call_goes_through_the_ivr_by_dtmf_and_reaches_an_agent(
        voice_platform: VoicePlatform, tenants: TenantFactory, services: Services,
        tmp_path: Path) -> None:
    number = f"+3319{uuid.uuid4().int % 10**7:07d}"
    async with _client(voice_platform) as api:
        world = await voice_world(api, tenants)
        ivr = await api.post(f"{API}/voice/ivrs", headers=world.admin, json={
            "name": "Accueil", "definition": {
                "languages": ["fr", "en"], "queue_id": world.queue_id,
                "greeting": {"fr": "Bonjour.", "en": "Hello."},
                "menu": {"fr": "Ventes, tapez 1. Support, tapez 2.",
                         "en": "Sales, press 1. Support, press 2."},
                "options": [
                    {"digit": "1", "label": "Sales", "attributes": {"topic": "sales"}},
                    {"digit": "2", "label": "Support", "attributes": {"topic": "support"}}],
                "timeout_seconds": 8}})
        assert ivr.status_code == 201, ivr.text
        added = await api.post(f"{API}/voice/numbers", headers=world.admin,
                               json={"e164": number, "label": "Main", "ivr_id": ivr.json()["id"]})
        assert added.status_code == 201, added.text
        desk_port = free_port()
        with phone(tmp_path, desk_port, "answer"):
            async with api_agent(world, voice_platform.url, world.agents[0]) as agent:
                await agent.reach("sip", f"sip:agent@127.0.0.1:{desk_port}")
                # English (2) in the language choice, then Sales (1) in the menu.
                with caller(tmp_path, target=voice_platform.switch, number=number,
                            caller_number="+33155551234", keys=[(1.5, "2"), (2.5, "1")],
                            talk_seconds=8) as dialling:
                    contact_id = await agent.accept(timeout=40)
                    answered = await agent.answer(contact_id)
                    call = await wait_call(world, agent.headers, contact_id,
                                           status="connected")
                    stats = await until(lambda: _flowing(api, agent.headers, call["id"]),
                                        timeout=10, what="audio both ways on both legs")
                    assert {s["role"] for s in stats} == {"customer", "agent"}
                    assert dialling.wait(timeout=60) == 0, dialling.log.read_text()
                ended = await wait_call(world, agent.headers, contact_id, status="ended")
        attributes = answered["call"]["attributes"]
        assert attributes["language"] == "en"
        assert attributes["topic"] == "sales" and attributes["ivr_choice"] == "Sales"
        assert attributes["phone"] == "+33155551234"
        assert attributes["dialed_number"] == number
        assert ended["kind"] == "inbound" and ended["dialed_number"] == number
        directions = {leg["role"]: leg["direction"] for leg in ended["legs"]}
        assert directions == {"customer": "inbound", "agent": "outbound"}
        assert all(leg["answered_at"] and leg["ended_at"] for leg in ended["legs"])
        contact = await _final_contact(services, world, contact_id, "wrap_up")
        assert contact.channel == "phone"
        assert await _billed(services, world, {leg["id"] for leg in ended["legs"]})


async def _flowing(api: httpx.AsyncClient, headers: dict[str, str],
                   call_id: str) -> list[dict[str, Any]] | None:
    stats = (await api.get(f"{API}/voice/calls/{call_id}/stats", headers=headers)).json()
    if len(stats) == 2 and all(s["rx_packets"] > 50 and s["tx_packets"] > 50 for s in stats):
        found: list[dict[str, Any]] = stats
        return found
    return None


async def _billed(services: Services, world: VoiceWorld, legs: set[str]) -> bool:
    async def check() -> bool:
        async with services.unit_of_work(tenant_id=world.world.tenant.id) as session:
            keys = set((await session.scalars(select(UsageRecord.key).where(
                UsageRecord.tenant_id == world.world.tenant.id))).all())
        return {f"voice:{leg}" for leg in legs} <= keys

    return bool(await until(check, timeout=10, what="every leg on the usage ledger"))


@pytest.mark.parametrize("mode", ["blind", "warm"])
async def test_a_call_transferred_to_another_agent_stays_one_contact(
        mode: str, voice_platform: VoicePlatform, tenants: TenantFactory,
        services: Services, tmp_path: Path) -> None:
    async with _client(voice_platform) as api:
        world = await voice_world(api, tenants, agents=2)
        first_port, second_port = free_port(), free_port()
        with phone(tmp_path, first_port, "answer"), phone(tmp_path, second_port, "answer"), \
                phone(tmp_path, voice_platform.trunk_port, "answer"):
            async with api_agent(world, voice_platform.url, world.agents[0]) as first, \
                    api_agent(world, voice_platform.url, world.agents[1]) as second:
                await first.reach("sip", f"sip:first@127.0.0.1:{first_port}")
                await second.reach("sip", f"sip:second@127.0.0.1:{second_port}")
                await _callback(world)
                taker, other = first, second
                contact_id = await _take(first, second)
                if contact_id[1] is second:
                    taker, other = second, first
                contact = contact_id[0]
                await taker.answer(contact)
                call = await wait_call(world, taker.headers, contact, status="connected",
                                       timeout=30)
                moved = await api.post(f"{API}/voice/calls/{call['id']}/transfer",
                                       headers=taker.headers,
                                       json={"agent_id": str(other.user.id), "mode": mode})
                assert moved.status_code == 200, moved.text
                assert await other.accept() == contact
                await other.answer(contact)
                joined = await wait_call(world, other.headers, contact, status="connected")
                agents = [leg for leg in joined["legs"] if leg["role"] == "agent"]
                assert len(agents) == 2
                live = [leg for leg in agents if leg["ended_at"] is None]
                if mode == "blind":
                    assert [leg["user_id"] for leg in live] == [str(other.user.id)]
                    gone = next(leg for leg in agents if leg["ended_at"])
                    assert gone["end_reason"] == "transferred"
                else:
                    # Warm: the first agent is still on (all three talk) until they leave.
                    assert len(live) == 2
                    left = await api.post(f"{API}/voice/calls/{call['id']}/hangup",
                                          headers=taker.headers)
                    assert left.status_code == 200, left.text
                    after = await until(lambda: _one_agent_left(api, other.headers,
                                                                call["id"]),
                                        timeout=10, what="the first agent to leave")
                    assert after["status"] == "connected"
                hung = await api.post(f"{API}/voice/calls/{call['id']}/hangup",
                                      headers=other.headers)
                assert hung.status_code == 200, hung.text
                ended = await wait_call(world, other.headers, contact, status="ended")
        assert ended["outcome"] == "completed"
        row = await _contact(services, world, contact)
        assert row.transfers >= 1
        async with services.unit_of_work(tenant_id=world.world.tenant.id) as session:
            count = len((await session.scalars(select(Contact.id).where(
                Contact.tenant_id == world.world.tenant.id))).all())
        assert count == 1  # one contact throughout


async def _take(first: Any, second: Any) -> tuple[str, Any]:
    """Whichever agent the routing engine offers the contact to accepts it."""
    import asyncio

    waiters = {asyncio.ensure_future(first.offers.get()): first,
               asyncio.ensure_future(second.offers.get()): second}
    done, pending = await asyncio.wait(waiters, timeout=20,
                                       return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()
    assert done, "no agent was offered the callback"
    waiter = done.pop()
    agent = waiters[waiter]
    contact_id = str(waiter.result()["contact_id"])
    accepted = await agent.world.api.post(f"{API}/contacts/{contact_id}/accept",
                                          headers=agent.headers)
    assert accepted.status_code == 200, accepted.text
    return contact_id, agent


async def _one_agent_left(api: httpx.AsyncClient, headers: dict[str, str],
                          call_id: str) -> dict[str, Any] | None:
    call = (await api.get(f"{API}/voice/calls/{call_id}", headers=headers)).json()
    live = [leg for leg in call["legs"] if leg["role"] == "agent" and not leg["ended_at"]]
    return call if len(live) == 1 else None
