"""The voice API's rules: what a platform without voice answers, callback numbers
(countries, premium and short numbers, rate limits, slots within the opening hours),
where agents' calls ring, voice settings, numbers unique on the platform, IVR menus and
their recordings, and the admin console's Voice section."""

from __future__ import annotations

import io
import json
import uuid
import wave
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import select

from plateaux.channels.voip.models import Call
from plateaux.crm.models import Identity
from plateaux.platform.services import Services
from plateaux.routing.models import Contact
from plateaux.tenants.models import Role
from tests.channels.voip.conftest import VoicePlatform
from tests.channels.voip.voice_world import API, visitor_of, voice_world
from tests.embed.embed_helpers import problem
from tests.support.console_pages import csrf_from, sign_in
from tests.support.factories import PASSWORD, TenantFactory, bearer
from tests.support.servers import own_address
from tests.support.waiting import until


def wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(b"\0\1" * int(rate * seconds))
    return out.getvalue()


# --- a platform where voice is not configured (the in-process default) ----------------------


async def test_without_voice_configured_nothing_is_offered_and_nothing_breaks(
        client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await voice_world(client, tenants)
    key = world.widget["public_key"]
    offer = (await client.get(f"/embed/v1/sites/{key}/voice")).json()
    assert offer["call"] is False and offer["callback"] is False
    visitor = await visitor_of(world)
    problem(await client.post(f"/embed/v1/sites/{key}/calls", headers=visitor, json={}), 503)
    problem(await client.post(f"/embed/v1/sites/{key}/callbacks", headers=visitor,
                              json={"number": "+33612345678"}), 503)
    status = (await client.get(f"{API}/voice/status", headers=world.admin)).json()
    assert status == {"configured": False, "browser_calls": False, "callbacks": False,
                      "ice_servers": [], "ice_transport_policy": "all"}
    settings = (await client.get(f"{API}/voice/settings", headers=world.admin)).json()
    assert settings["configured"] is False


# --- administration -----------------------------------------------------------------------


async def test_voice_settings_numbers_and_ivr_menus(client: httpx.AsyncClient,
                                                    tenants: TenantFactory) -> None:
    world = await voice_world(client, tenants)
    admin = world.admin
    saved = await client.put(f"{API}/voice/settings", headers=admin, json={
        "callback_countries": ["fr", "BE"], "recording_enabled": True,
        "recording_announcement": {"fr": "Cet appel est enregistré."},
        "video_widgets": [world.widget["id"]]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["callback_countries"] == ["FR", "BE"]
    assert saved.json()["video_widgets"] == [world.widget["id"]]
    problem(await client.put(f"{API}/voice/settings", headers=admin,
                             json={"callback_countries": ["XX"]}), 422)
    problem(await client.put(f"{API}/voice/settings", headers=admin,
                             json={"video_widgets": [str(uuid.uuid4())]}), 422)
    # Hold music: a WAV file, nothing else.
    problem(await client.put(f"{API}/voice/settings/hold-music", headers=admin,
                             files={"file": ("music.mp3", b"ID3 not a wav", "audio/mpeg")}), 422)
    music = await client.put(f"{API}/voice/settings/hold-music", headers=admin,
                             files={"file": ("music.wav", wav(), "audio/wav")})
    assert music.status_code == 200 and music.json()["has_hold_music"], music.text

    other = await tenants.create()
    other_admin = await bearer(client, other)
    other_queue = (await client.post(f"{API}/routing/queues", headers=other_admin,
                                     json={"name": "Theirs"})).json()["id"]
    definition = {"languages": ["fr", "en"], "queue_id": world.queue_id,
                  "options": [{"digit": "1", "label": "Sales"}]}
    ivr = await client.post(f"{API}/voice/ivrs", headers=admin,
                            json={"name": "Main", "definition": definition})
    assert ivr.status_code == 201, ivr.text
    ivr_id = ivr.json()["id"]
    problem(await client.post(f"{API}/voice/ivrs", headers=admin,
                              json={"name": "Main", "definition": definition}), 409)
    problem(await client.post(f"{API}/voice/ivrs", headers=admin, json={
        "name": "Theirs", "definition": {**definition, "queue_id": other_queue}}), 422)
    problem(await client.post(f"{API}/voice/ivrs", headers=admin, json={
        "name": "Twice", "definition": {**definition, "options": [
            {"digit": "1", "label": "A"}, {"digit": "1", "label": "B"}]}}), 422)
    problem(await client.post(f"{API}/voice/ivrs", headers=admin, json={
        "name": "Nowhere", "definition": {"languages": ["fr"]}}), 422)
    problem(await client.post(f"{API}/voice/ivrs", headers=admin, json={
        "name": "Klingon", "definition": {**definition, "languages": ["tl"]}}), 422)
    # Recordings replace spoken texts.
    prompt = await client.put(f"{API}/voice/ivrs/{ivr_id}/prompts/greeting/fr", headers=admin,
                              files={"file": ("bonjour.wav", wav(), "audio/wav")})
    assert prompt.status_code == 200, prompt.text
    assert [(p["slot"], p["language"]) for p in prompt.json()["prompts"]] == [("greeting", "fr")]
    problem(await client.put(f"{API}/voice/ivrs/{ivr_id}/prompts/sermon/fr", headers=admin,
                             files={"file": ("x.wav", wav(), "audio/wav")}), 422)
    problem(await client.put(f"{API}/voice/ivrs/{ivr_id}/prompts/menu/fr", headers=admin,
                             files={"file": ("x.txt", b"text", "text/plain")}), 422)
    # Numbers belong to one tenant on the whole platform.
    e164 = f"+3319{uuid.uuid4().int % 10**7:07d}"
    added = await client.post(f"{API}/voice/numbers", headers=admin,
                              json={"e164": e164.replace("+33", "0033 "), "ivr_id": ivr_id})
    assert added.status_code == 201, added.text
    assert added.json()["e164"] == e164
    problem(await client.post(f"{API}/voice/numbers", headers=other_admin,
                              json={"e164": e164}), 409)
    problem(await client.post(f"{API}/voice/numbers", headers=admin,
                              json={"e164": "+33 12"}), 422)
    problem(await client.post(f"{API}/voice/numbers", headers=other_admin,
                              json={"e164": "+33198765432", "ivr_id": ivr_id}), 422)
    agent = await tenants.add_user(world.world, role=Role.AGENT)
    agent_h = await bearer(client, world.world, email=agent.email)
    problem(await client.post(f"{API}/voice/numbers", headers=agent_h,
                              json={"e164": "+33198765433"}), 403)


async def test_agents_set_where_their_calls_ring(client: httpx.AsyncClient,
                                                 tenants: TenantFactory) -> None:
    world = await voice_world(client, tenants)
    agent_h = await bearer(client, world.world, email=world.agents[0].email)
    first = (await client.get(f"{API}/voice/me/reach", headers=agent_h)).json()
    assert first["mode"] == "browser"
    phone = await client.put(f"{API}/voice/me/reach", headers=agent_h,
                             json={"mode": "phone", "address": "06 12 34 56 78"})
    assert phone.status_code == 422  # a national number needs its country code here
    phone = await client.put(f"{API}/voice/me/reach", headers=agent_h,
                             json={"mode": "phone", "address": "+33 6 12 34 56 78"})
    assert phone.status_code == 200, phone.text
    assert phone.json()["address"] == "+33612345678"
    problem(await client.put(f"{API}/voice/me/reach", headers=agent_h,
                             json={"mode": "phone", "address": "+33 899 12 34 56"}), 422)
    # A SIP address on a private network is refused (the platform must not call into it).
    problem(await client.put(f"{API}/voice/me/reach", headers=agent_h,
                             json={"mode": "sip", "address": "sip:me@10.1.2.3"}), 422)
    problem(await client.put(f"{API}/voice/me/reach", headers=agent_h,
                             json={"mode": "sip", "address": "not an address"}), 422)
    # Host names no resolver can take (IDNA refuses them) are refused the same way.
    for host in ("\x90pbx.example.com", "a" * 64 + ".example.com"):
        problem(await client.put(f"{API}/voice/me/reach", headers=agent_h,
                                 json={"mode": "sip", "address": f"sip:me@{host}"}), 422)
    back = await client.put(f"{API}/voice/me/reach", headers=agent_h,
                            json={"mode": "browser", "address": "ignored"})
    assert back.json() == {**back.json(), "mode": "browser", "address": ""}


async def test_the_admin_console_voice_section(client: httpx.AsyncClient,
                                               tenants: TenantFactory) -> None:
    world = await voice_world(client, tenants)
    signed = await sign_in(client, world.slug, world.world.admin.email, PASSWORD)
    assert signed.status_code == 303, signed.text
    shown = await client.get(f"/t/{world.slug}/admin/voice")
    assert shown.status_code == 200, shown.text
    assert "not configured" in shown.text
    csrf = csrf_from(shown.text)
    added = await client.post(f"/t/{world.slug}/admin/voice/numbers", data={
        "csrf_token": csrf, "e164": f"+3319{uuid.uuid4().int % 10**7:07d}", "label": "Main"},
        follow_redirects=True)
    assert added.status_code == 200 and "added" in added.text, added.text
    bad = await client.post(f"/t/{world.slug}/admin/voice/ivrs", data={
        "csrf_token": csrf, "name": "Broken", "definition": "{not json"})
    assert bad.status_code == 422 and "not valid JSON" in bad.text
    ivr = await client.post(f"/t/{world.slug}/admin/voice/ivrs", data={
        "csrf_token": csrf, "name": "Accueil",
        "definition": json.dumps({"languages": ["fr"], "queue_id": world.queue_id})},
        follow_redirects=True)
    assert ivr.status_code == 200 and "Accueil" in ivr.text, ivr.text
    saved = await client.post(f"/t/{world.slug}/admin/voice/settings", data={
        "csrf_token": csrf, "callback_countries": "FR, BE", "recording_enabled": "on",
        "callback_max_attempts": "2"}, follow_redirects=True)
    assert saved.status_code == 200 and "Voice settings saved" in saved.text


# --- callbacks on the voice platform --------------------------------------------------------


async def test_callback_numbers_are_checked_normalised_and_rate_limited(
        voice_platform: VoicePlatform, tenants: TenantFactory, services: Services) -> None:
    async with httpx.AsyncClient(base_url=voice_platform.url, headers=own_address(),
                                 timeout=30) as api:
        world = await voice_world(api, tenants, settings={"callback_countries": ["FR"]})
        key = world.widget["public_key"]
        visitor = await visitor_of(world)

        address = own_address()

        async def ask(number: str, when: str = "asap", *, fresh: bool = False
                      ) -> httpx.Response:
            # Refused attempts count too (nobody probes numbers for free): each refusal
            # here comes from an address of its own.
            return await api.post(f"/embed/v1/sites/{key}/callbacks",
                                  headers={**visitor, **(own_address() if fresh else address)},
                                  json={"number": number, "when": when})

        assert problem(await ask("+33 899 12 34 56", fresh=True), 422)["field"] == "number"
        problem(await ask("3654", fresh=True), 422)  # a short number
        problem(await ask("+44 20 7946 0958", fresh=True), 422)  # a country not allowed
        problem(await ask("hello", fresh=True), 422)
        past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        problem(await ask("+33612345678", past, fresh=True), 422)
        asked = await ask("06 12 34 56 78")
        assert asked.status_code == 201, asked.text
        assert asked.json()["status"] == "waiting" and asked.json()["position"] == 1
        # The number to call back names a person in the CRM (the console pops them).
        async with services.unit_of_work(tenant_id=world.world.tenant.id) as session:
            call = await session.get(Call, uuid.UUID(asked.json()["id"]))
            assert call is not None and call.contact_id is not None
            contact = await session.get(Contact, call.contact_id)
            assert contact is not None and contact.person_id is not None
            numbers = (await session.scalars(select(Identity.value).where(
                Identity.person_id == contact.person_id, Identity.kind == "phone"))).all()
            assert list(numbers) == ["+33612345678"]
        # Three a day to one number, five an hour from one address.
        assert (await ask("+33 6 12 34 56 78")).status_code == 201
        assert (await ask("+33612345678")).status_code == 201
        problem(await ask("+33612345678"), 429)
        assert (await ask("+33612345679")).status_code == 201
        problem(await ask("+33612345670"), 429)


async def test_a_callback_for_a_later_slot_is_routed_when_its_time_comes(
        voice_platform: VoicePlatform, tenants: TenantFactory, services: Services) -> None:
    async with httpx.AsyncClient(base_url=voice_platform.url, headers=own_address(),
                                 timeout=30) as api:
        world = await voice_world(api, tenants)
        key = world.widget["public_key"]
        visitor = await visitor_of(world)
        slot = datetime.now(UTC) + timedelta(seconds=3)
        asked = await api.post(f"/embed/v1/sites/{key}/callbacks", headers=visitor,
                               json={"number": "+33612345678", "when": slot.isoformat()})
        assert asked.status_code == 201, asked.text
        assert asked.json()["status"] == "scheduled"
        call_id = asked.json()["id"]

        async def routed() -> bool:
            seen = await api.get(f"/embed/v1/sites/{key}/calls/{call_id}", headers=visitor)
            return bool(seen.json()["status"] == "waiting" and seen.json()["position"] == 1)

        assert await until(routed, timeout=20, every=0.5, what="the callback to be routed")
        # The visitor can still withdraw it.
        cancelled = await api.post(f"/embed/v1/sites/{key}/calls/{call_id}/hangup",
                                   headers=visitor)
        assert cancelled.status_code == 204
        seen = (await api.get(f"/embed/v1/sites/{key}/calls/{call_id}", headers=visitor)).json()
        assert seen["status"] == "ended" and seen["outcome"] == "cancelled"


async def test_a_slot_outside_the_opening_hours_is_refused(
        voice_platform: VoicePlatform, tenants: TenantFactory) -> None:
    async with httpx.AsyncClient(base_url=voice_platform.url, headers=own_address(),
                                 timeout=30) as api:
        world = await voice_world(api, tenants)
        opened = await api.put(f"{API}/business-hours", headers=world.admin, json={"intervals": [
            {"weekday": day, "opens": "09:00", "closes": "18:00"} for day in range(5)]})
        assert opened.status_code == 200, opened.text
        # 03:00 in the tenant's zone on the next Monday: closed.
        now = datetime.now(UTC)
        monday = (now + timedelta(days=7 - now.weekday())).replace(hour=2, minute=0, second=0,
                                                                  microsecond=0)
        refused = await api.post(
            f"/embed/v1/sites/{world.widget['public_key']}/callbacks",
            headers=await visitor_of(world),
            json={"number": "+33612345678", "when": monday.isoformat()})
        assert problem(refused, 422)["field"] == "when"


async def test_calls_left_open_by_a_stopped_process_are_closed_when_the_switch_starts(
        client: httpx.AsyncClient, tenants: TenantFactory, services: Services) -> None:
    from plateaux.channels.voip.models import Call, CallLeg
    from plateaux.channels.voip.runtime import VoiceRuntime
    from plateaux.channels.voip.service import CallFlow

    world = await voice_world(client, tenants)
    tenant_id = world.world.tenant.id
    contact = await client.post(f"{API}/contacts", headers=world.admin,
                                json={"channel": "phone", "queue_id": world.queue_id})
    callback = await client.post(f"{API}/contacts", headers=world.admin,
                                 json={"channel": "callback", "queue_id": world.queue_id})
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        inbound = Call(tenant_id=tenant_id, contact_id=uuid.UUID(contact.json()["id"]),
                       kind="inbound", status="waiting")
        pending = Call(tenant_id=tenant_id, contact_id=uuid.UUID(callback.json()["id"]),
                       kind="callback", status="connecting")
        session.add_all([inbound, pending])
        await session.flush()
        leg = CallLeg(tenant_id=tenant_id, call_id=inbound.id, role="customer", kind="phone",
                      direction="inbound", status="connected")
        session.add(leg)
    closed = await CallFlow(VoiceRuntime(services)).recover()
    assert closed >= 1
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        stored_leg = await session.get(CallLeg, leg.id)
        stored_inbound = await session.get(Call, inbound.id)
        stored_pending = await session.get(Call, pending.id)
        assert stored_leg is not None and stored_inbound is not None and stored_pending
        assert stored_leg.status == "ended" and stored_leg.end_reason == "restart"
        assert stored_leg.ended_at is not None
        assert stored_inbound.status == "ended" and stored_inbound.outcome == "dropped"
        assert stored_pending.status == "waiting"  # nobody reached yet: placed again later

    async def withdrawn() -> bool:
        seen = (await client.get(f"{API}/contacts/{contact.json()['id']}",
                                 headers=world.admin)).json()
        return bool(seen["status"] in ("cancelled", "abandoned"))

    assert await until(withdrawn, timeout=10, what="the waiting contact to be withdrawn")
