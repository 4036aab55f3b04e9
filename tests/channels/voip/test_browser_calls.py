"""Calls from the browser, end to end in Chromium with fake microphones: a visitor on a
page of another origin calls from the widget, an agent accepts in the console's
softphone, and both peer connections receive audio for several seconds through Janus and
the switch; again with media forced through the TURN relay; and the agent's browser
closing mid-call ends the agent's leg cleanly while the contact waits again for another
agent."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlmodel import select

from plateaux.billing.models import UsageRecord
from plateaux.platform.services import Services
from tests.channels.voip.conftest import VoicePlatform, call_browser
from tests.channels.voip.voice_world import (
    API,
    VoiceWorld,
    accept_offer,
    agent_desk,
    agent_stats,
    api_agent,
    visitor_of,
    visitor_stats,
    voice_world,
    wait_call,
    widget_frame,
)
from tests.embed.test_widget_browser import PAGE, page_server
from tests.support.browser import sign_in
from tests.support.factories import TenantFactory
from tests.support.servers import free_port, own_address
from tests.support.voice_servers import phone
from tests.support.waiting import until

# Media and call flows through SIP, RTP and WebRTC: the database backend does not change them.
pytestmark = [pytest.mark.browser, pytest.mark.backend_independent]


async def visitor_calls(page: Page, port: int) -> None:
    await page.goto(f"http://localhost:{port}/")
    await page.locator("[data-plateaux=launcher]").click()
    frame = widget_frame(page)
    await expect(frame.locator("[data-action=call]")).to_be_visible(timeout=15000)
    await frame.locator("[data-action=call]").click()


async def audio_flows(page: Page, desk: Page, contact_id: str, *,
                      seconds: float = 4.0) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both sides receive audio packets, steadily, for ``seconds``."""
    first_visitor = await until(lambda: visitor_stats(page), timeout=15,
                                what="the visitor's peer connection")
    await until(lambda: _receiving(agent_stats(desk, contact_id)), timeout=15,
                what="the agent receiving audio")
    await until(lambda: _receiving(visitor_stats(page)), timeout=15,
                what="the visitor receiving audio")
    before_visitor, before_agent = await visitor_stats(page), await agent_stats(desk, contact_id)
    await asyncio.sleep(seconds)
    after_visitor, after_agent = await visitor_stats(page), await agent_stats(desk, contact_id)
    # 20 ms packets: 50 a second each way; allow for a slow start and a busy machine.
    minimum = int(seconds * 30)
    assert after_visitor["received"] - before_visitor["received"] >= minimum, (
        first_visitor, before_visitor, after_visitor)
    assert after_agent["received"] - before_agent["received"] >= minimum, (
        before_agent, after_agent)
    assert after_visitor["sent"] > before_visitor["sent"]
    assert after_agent["sent"] > before_agent["sent"]
    return after_visitor, after_agent


async def _receiving(stats: Any) -> bool:
    found = await stats
    return bool(found and found["received"] > 20)


async def _browser_call(voice_platform: VoicePlatform, tenants: TenantFactory,
                        services: Services, *, relay: bool) -> None:
    async with httpx.AsyncClient(base_url=voice_platform.url, headers=own_address(),
                                 timeout=30) as api:
        world = await voice_world(api, tenants, settings={"relay_only": relay})
        agent_h = await world.headers_of(world.agents[0])
        snippet = world.widget["snippet"]
        with page_server(PAGE.format(snippet=snippet)) as port:
            async with call_browser() as browser:
                desk = await agent_desk(browser, voice_platform.url, world, world.agents[0])
                visitor = await (await browser.new_context()).new_page()
                await visitor_calls(visitor, port)
                contact_id = await accept_offer(desk)
                call = await wait_call(world, agent_h, contact_id, status="connected")
                await expect(desk.locator(".voice-call .v-state")).to_have_text("Connected")
                frame = widget_frame(visitor)
                await expect(frame.locator(".plx-call-state")).to_contain_text("Agent 1")
                visitor_side, agent_side = await audio_flows(visitor, desk, contact_id)
                assert visitor_side["relay"] is relay and agent_side["relay"] is relay
                if not relay:
                    await _supervisor_listens(browser, voice_platform, world, call["id"])
                # The switch measured the same audio on both legs.
                stats = (await api.get(f"{API}/voice/calls/{call['id']}/stats",
                                       headers=agent_h)).json()
                assert {"customer", "agent"} <= {s["role"] for s in stats}
                assert all(s["rx_packets"] > 100 and s["tx_packets"] > 100 for s in stats
                           if s["role"] != "supervisor")
                # The visitor hangs up: the call ends, the agent's contact goes to wrap-up.
                await frame.locator("[data-action=hangup]").click()
                ended = await wait_call(world, agent_h, contact_id, status="ended")
                await expect(desk.locator(".voice-call")).to_have_class(re.compile(r"\bended\b"))
        await _check_legs(services, world, ended)


async def _supervisor_listens(browser: Any, voice_platform: VoicePlatform, world: VoiceWorld,
                              call_id: str) -> None:
    """A supervisor listens from the supervision console's softphone: they hear the call."""
    boss = await world_supervisor(world)
    context = await browser.new_context(base_url=voice_platform.url,
                                        extra_http_headers=own_address())
    page = await context.new_page()
    await sign_in(page, world.slug, boss.email, f"/t/{world.slug}/supervisor/")
    row = page.locator(f"#calls tr[data-call='{call_id}']")
    await expect(row).to_be_visible(timeout=10000)
    await row.locator("[data-mode=listen]").click()
    heard = await until(lambda: _receiving(agent_stats(page, call_id)), timeout=15,
                        what="the supervisor hearing the call")
    assert heard
    await context.close()


async def world_supervisor(world: VoiceWorld) -> Any:
    from plateaux.tenants.models import Role

    return await world.tenants.add_user(world.world, role=Role.SUPERVISOR, name="Sue")


async def _check_legs(services: Services, world: VoiceWorld, call: dict[str, Any]) -> None:
    legs = call["legs"]
    assert {leg["role"] for leg in legs} <= {"customer", "agent", "supervisor"}
    for leg in legs:
        assert leg["direction"] == "browser"
        assert leg["answered_at"] and leg["ended_at"], leg
        assert leg["created_at"] <= leg["answered_at"] <= leg["ended_at"]
    assert call["outcome"] == "completed"

    async def billed() -> list[UsageRecord]:
        async with services.unit_of_work(tenant_id=world.world.tenant.id) as session:
            rows = (await session.scalars(select(UsageRecord).where(
                UsageRecord.tenant_id == world.world.tenant.id))).all()
        voice = [r for r in rows if r.key.startswith("voice:")]
        return voice if len(voice) == len(legs) else []

    rows = await until(billed, timeout=10, what="both legs on the usage ledger")
    assert {r.key for r in rows} == {f"voice:{leg['id']}" for leg in legs}


async def test_a_visitor_calls_from_the_widget_and_an_agent_answers_in_the_softphone(
        voice_platform: VoicePlatform, tenants: TenantFactory, services: Services) -> None:
    await _browser_call(voice_platform, tenants, services, relay=False)


async def test_the_same_call_with_media_forced_through_the_turn_relay(
        voice_platform: VoicePlatform, tenants: TenantFactory, services: Services) -> None:
    await _browser_call(voice_platform, tenants, services, relay=True)


ENERGY = """async (pc) => {
  let energy = 0, packets = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type !== "inbound-rtp" || r.kind !== "audio") return;
    energy += r.totalAudioEnergy || 0;
    packets += r.packetsReceived;
  });
  return { energy, packets };
}"""


async def test_a_callback_answered_in_the_browser_then_the_agents_browser_closes(
        voice_platform: VoicePlatform, tenants: TenantFactory, services: Services,
        tmp_path: Path) -> None:
    """The agent's voice goes to the customer's phone (sipp, echoing what it hears) and
    comes back through the bridge: RTP both ways. Then the agent's browser closes
    mid-call: their leg ends cleanly, the customer stays on (music), and the same contact
    is offered to another agent, who joins the call."""
    async with httpx.AsyncClient(base_url=voice_platform.url, headers=own_address(),
                                 timeout=30) as api:
        world = await voice_world(api, tenants, agents=2)
        agent_h = await world.headers_of(world.agents[0])
        backup_port = free_port()
        with phone(tmp_path, voice_platform.trunk_port, "answer"), \
                phone(tmp_path, backup_port, "answer"):
            async with call_browser() as browser:
                desk = await agent_desk(browser, voice_platform.url, world, world.agents[0])
                asked = await api.post(
                    f"/embed/v1/sites/{world.widget['public_key']}/callbacks",
                    headers=await visitor_of(world), json={"number": "+33 6 12 34 56 78"})
                assert asked.status_code == 201, asked.text
                contact_id = await accept_offer(desk)
                call = await wait_call(world, agent_h, contact_id, status="connected",
                                       timeout=30)
                await expect(desk.locator(".voice-call .v-state")).to_have_text("Connected")
                before = await desk.evaluate(f"(id) => ({ENERGY})(window.plxPhones[id])",
                                             contact_id)
                await asyncio.sleep(4)
                after = await desk.evaluate(f"(id) => ({ENERGY})(window.plxPhones[id])",
                                            contact_id)
                assert after["packets"] - before["packets"] >= 120, (before, after)
                # The fake microphone's beeps came back from the phone: audio, not silence.
                assert after["energy"] > before["energy"], (before, after)
                stats = (await api.get(f"{API}/voice/calls/{call['id']}/stats",
                                       headers=agent_h)).json()
                assert {s["role"] for s in stats} == {"customer", "agent"}
                assert all(s["rx_packets"] > 100 and s["tx_packets"] > 100 for s in stats)
                # The agent's browser goes away mid-call.
                await desk.context.close()
            async with api_agent(world, voice_platform.url, world.agents[1]) as backup:
                await backup.reach("sip", f"sip:backup@127.0.0.1:{backup_port}")
                assert await backup.accept(timeout=30) == contact_id
                await backup.answer(contact_id)
                joined = await wait_call(world, backup.headers, contact_id,
                                         status="connected", timeout=20)
                agents = [leg for leg in joined["legs"] if leg["role"] == "agent"]
                gone = next(leg for leg in agents if leg["user_id"] == str(world.agents[0].id))
                assert gone["ended_at"] and gone["answered_at"], gone
                assert gone["end_reason"] != "agent_hangup"
                customers = [leg for leg in joined["legs"] if leg["role"] == "customer"]
                assert len(customers) == 1 and customers[0]["ended_at"] is None
                hung = await api.post(f"{API}/voice/calls/{call['id']}/hangup",
                                      headers=backup.headers)
                assert hung.status_code == 200, hung.text
                ended = await wait_call(world, backup.headers, contact_id, status="ended")
        assert ended["outcome"] == "completed"
        assert all(leg["ended_at"] for leg in ended["legs"])


VIDEO = """async (pc) => {
  let frames = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0;
  });
  return frames;
}"""


async def test_a_video_call_where_the_site_allows_it(
        voice_platform: VoicePlatform, tenants: TenantFactory) -> None:
    """Audio through the switch as always; the cameras' video browser to browser."""
    async with httpx.AsyncClient(base_url=voice_platform.url, headers=own_address(),
                                 timeout=30) as api:
        world = await voice_world(api, tenants)
        saved = await api.put(f"{API}/voice/settings", headers=world.admin,
                              json={"video_widgets": [world.widget["id"]]})
        assert saved.status_code == 200, saved.text
        agent_h = await world.headers_of(world.agents[0])
        with page_server(PAGE.format(snippet=world.widget["snippet"])) as port:
            async with call_browser() as browser:
                desk = await agent_desk(browser, voice_platform.url, world, world.agents[0])
                visitor = await (await browser.new_context()).new_page()
                await visitor.goto(f"http://localhost:{port}/")
                await visitor.locator("[data-plateaux=launcher]").click()
                frame = widget_frame(visitor)
                await expect(frame.locator("[data-action=video]")).to_be_visible(timeout=15000)
                await frame.locator("[data-action=video]").click()
                contact_id = await accept_offer(desk)
                await wait_call(world, agent_h, contact_id, status="connected")
                await audio_flows(visitor, desk, contact_id, seconds=2)

                async def agent_sees() -> bool:
                    frames = await desk.evaluate(
                        f"(id) => window.plxVideos && window.plxVideos[id] ? ({VIDEO})"
                        "(window.plxVideos[id]) : 0", contact_id)
                    return bool(frames > 10)

                async def visitor_sees() -> bool:
                    frames = await frame.evaluate(
                        f"() => window.plxCall && window.plxCall.vpc ? ({VIDEO})"
                        "(window.plxCall.vpc) : 0")
                    return bool(frames > 10)

                await until(agent_sees, timeout=20, what="the agent seeing the visitor")
                await until(visitor_sees, timeout=20, what="the visitor seeing the agent")
                await expect(desk.locator(".voice-call .v-video")).to_be_visible()
                await frame.locator("[data-action=hangup]").click()
                await wait_call(world, agent_h, contact_id, status="ended")
