"""A tenant ready for calls on the voice platform: a queue, agents who serve it, a site
whose call and callback buttons feed it; and the browser pages of its visitor and agents,
with the audio statistics their peer connections report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from playwright.async_api import Browser, Frame, Page, expect

from plateaux.tenants.models import Role, User
from tests.support.browser import sign_in
from tests.support.factories import TenantFactory, TenantWorld, bearer
from tests.support.servers import own_address
from tests.support.waiting import until

API = "/api/v1"


@dataclass
class VoiceWorld:
    world: TenantWorld
    api: httpx.AsyncClient
    admin: dict[str, str]
    queue_id: str
    agents: list[User]
    tenants: TenantFactory
    widget: dict[str, Any] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return self.world.slug

    async def headers_of(self, user: User) -> dict[str, str]:
        return await bearer(self.api, self.world, email=user.email)


async def voice_world(api: httpx.AsyncClient, tenants: TenantFactory, *, agents: int = 1,
                      settings: dict[str, Any] | None = None) -> VoiceWorld:
    world = await tenants.create()
    admin = await bearer(api, world)
    queue = await api.post(f"{API}/routing/queues", headers=admin, json={
        "name": f"Calls {uuid.uuid4().hex[:6]}", "follow_business_hours": False,
        "accept_timeout_seconds": 120})
    assert queue.status_code == 201, queue.text
    queue_id = queue.json()["id"]
    people = []
    for index in range(agents):
        agent = await tenants.add_user(world, role=Role.AGENT, name=f"Agent {index + 1}")
        profile = await api.put(f"{API}/routing/profiles/{agent.id}", headers=admin,
                                json={"queues": {queue_id: {"priority": 1, "delay": 0}}})
        assert profile.status_code == 200, profile.text
        people.append(agent)
    widget = await api.post(f"{API}/widgets", headers=admin, json={
        "name": "Boutique", "allowed_domains": ["localhost", "127.0.0.1"],
        "buttons": {"chat": {"enabled": True, "queue_id": queue_id},
                    "call": {"enabled": True, "queue_id": queue_id},
                    "callback": {"enabled": True, "queue_id": queue_id}}})
    assert widget.status_code == 201, widget.text
    if settings:
        saved = await api.put(f"{API}/voice/settings", headers=admin, json=settings)
        assert saved.status_code == 200, saved.text
    return VoiceWorld(world=world, api=api, admin=admin, queue_id=queue_id, agents=people,
                      tenants=tenants, widget=widget.json())


async def agent_desk(browser: Browser, base_url: str, world: VoiceWorld, agent: User) -> Page:
    context = await browser.new_context(base_url=base_url,
                                        viewport={"width": 1400, "height": 900},
                                        extra_http_headers=own_address())
    desk = await context.new_page()
    await sign_in(desk, world.slug, agent.email, f"/t/{world.slug}/agent/")
    await expect(desk.locator("#connection")).to_have_attribute("data-state", "open")
    await desk.select_option("#presence", "available")
    await expect(desk.locator("body")).to_have_attribute("data-presence", "available")
    return desk


async def accept_offer(desk: Page) -> str:
    offer = desk.locator(".offer").first
    await expect(offer).to_be_visible(timeout=20000)
    contact_id = await offer.get_attribute("data-contact")
    assert contact_id
    await offer.locator(".accept").click()
    await expect(desk.locator(f".voice-call[data-contact='{contact_id}']")).to_be_attached()
    return contact_id


def widget_frame(page: Page) -> Frame:
    for frame in page.frames:
        if "/embed/v1/sites/" in frame.url and frame.url.split("?")[0].endswith("/frame"):
            return frame
    raise AssertionError("the widget's frame is not there")


STATS = """async (pc) => {
  const out = { received: 0, sent: 0, relay: false, state: pc.connectionState };
  const stats = await pc.getStats();
  const pairs = [];
  stats.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") out.received += r.packetsReceived;
    if (r.type === "outbound-rtp" && r.kind === "audio") out.sent += r.packetsSent;
    if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pairs.push(r);
  });
  for (const pair of pairs) {
    const local = stats.get(pair.localCandidateId);
    if (local && local.candidateType === "relay") out.relay = true;
  }
  return out;
}"""


async def visitor_stats(page: Page) -> dict[str, Any]:
    frame = widget_frame(page)
    result: dict[str, Any] = await frame.evaluate(
        f"async () => window.plxCall && window.plxCall.pc ? ({STATS})(window.plxCall.pc) : null")
    return result


async def agent_stats(desk: Page, contact_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await desk.evaluate(
        f"async (id) => window.plxPhones && window.plxPhones[id] ? ({STATS})(window.plxPhones[id]) "
        ": null", contact_id)
    return result


async def call_of(world: VoiceWorld, headers: dict[str, str], contact_id: str) -> dict[str, Any]:
    response = await world.api.get(f"{API}/voice/contacts/{contact_id}/call", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def wait_call(world: VoiceWorld, headers: dict[str, str], contact_id: str, *,
                    status: str, timeout: float = 20) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        call = await call_of(world, headers, contact_id)
        return call if call["status"] == status else None

    found: dict[str, Any] = await until(check, timeout=timeout, every=0.2,
                                        what=f"the call to be {status}")
    return found


@dataclass
class ApiAgent:
    """An agent working through the API: their console's live connection open (so
    routing offers them contacts), presence available, calls ringing where they set."""

    world: VoiceWorld
    user: User
    headers: dict[str, str]
    offers: asyncio.Queue[dict[str, Any]]

    async def reach(self, mode: str, address: str = "") -> None:
        saved = await self.world.api.put(f"{API}/voice/me/reach", headers=self.headers,
                                         json={"mode": mode, "address": address})
        assert saved.status_code == 200, saved.text

    async def next_offer(self, timeout: float = 20) -> str:
        offer = await asyncio.wait_for(self.offers.get(), timeout)
        return str(offer["contact_id"])

    async def accept(self, timeout: float = 20) -> str:
        contact_id = await self.next_offer(timeout)
        accepted = await self.world.api.post(f"{API}/contacts/{contact_id}/accept",
                                             headers=self.headers)
        assert accepted.status_code == 200, accepted.text
        return contact_id

    async def answer(self, contact_id: str) -> dict[str, Any]:
        answered = await self.world.api.post(f"{API}/voice/contacts/{contact_id}/answer",
                                             headers=self.headers, json={})
        assert answered.status_code == 200, answered.text
        found: dict[str, Any] = answered.json()
        return found


@asynccontextmanager
async def api_agent(world: VoiceWorld, base_url: str, user: User) -> AsyncIterator[ApiAgent]:
    headers = await world.headers_of(user)
    url = base_url.replace("http", "ws", 1) + f"{API}/agent/connection"
    offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with websockets.connect(url, additional_headers=headers) as socket:
        connected = json.loads(await socket.recv())
        assert connected["type"] == "connected", connected

        async def read() -> None:
            async for raw in socket:
                frame = json.loads(raw)
                if frame.get("type") == "routing.offer":
                    offers.put_nowait(frame["payload"])

        reader = asyncio.create_task(read())
        presence = await world.api.put(f"{API}/me/presence", headers=headers,
                                       json={"presence": "available"})
        assert presence.status_code == 200, presence.text
        try:
            yield ApiAgent(world=world, user=user, headers=headers, offers=offers)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def visitor_of(world: VoiceWorld) -> dict[str, str]:
    """A visitor of the world's site, as the widget's requests carry them."""
    key = world.widget["public_key"]
    opened = await world.api.post(f"/embed/v1/sites/{key}/visitors", json={
        "language": "fr", "page": {"url": "https://shop.example.com/contact",
                                   "title": "Contact"}})
    assert opened.status_code == 200, opened.text
    return {"X-Visitor-Token": opened.json()["visitor_token"]}
