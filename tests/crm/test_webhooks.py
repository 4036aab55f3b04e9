"""Webhooks against a real receiver on loopback (the operator's private-network setting
lets the platform reach it): signed payloads, retries with backoff after failures, the
delivery log; and the refusals: private, metadata and loopback addresses outside the
operator's networks, at save time, after a redirect, and at connection time when a name
resolves elsewhere the second time (DNS rebinding)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn

from plateaux.crm.outbound import BlockedAddress, Guard, OutboundError, post
from plateaux.crm.signing import HEADER, sign, verify
from plateaux.platform.services import Services
from tests.channels.chat_world import assigned_conversation, chat_world
from tests.support.factories import TenantFactory
from tests.support.waiting import until

API = "/api/v1/crm"


@dataclass
class Receiver:
    """A tenant's endpoint: answers each request with the next planned status."""

    port: int = 0
    plan: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    redirect_to: str | None = None

    async def app(self, scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append((headers, body))
        if self.redirect_to and scope["path"] == "/moved":
            await send({"type": "http.response.start", "status": 307,
                        "headers": [(b"location", self.redirect_to.encode())]})
            await send({"type": "http.response.body", "body": b""})
            return
        status = self.plan.pop(0) if self.plan else 200
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(
            {"plan": "gold", "account": "A-17"}).encode()})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    config = uvicorn.Config(found.app, host="127.0.0.1", port=0, log_level="warning",
                            lifespan="off", interface="asgi3")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async def started() -> bool:
        return bool(server.started)

    await until(started, timeout=10)
    found.port = server.servers[0].sockets[0].getsockname()[1]
    yield found
    server.should_exit = True
    await task


@pytest.fixture
def loopback_allowed(services: Services) -> Iterator[None]:
    """The operator lets tenants reach 127.0.0.1 only (the receiver), nothing else."""
    saved = services.settings.crm_private_networks
    services.settings.crm_private_networks = ["127.0.0.1/32"]
    yield
    services.settings.crm_private_networks = saved


def test_signatures_verify_and_refuse_tampering_and_replays() -> None:
    body = b'{"type":"person.created"}'
    header = sign("whsec_x", body, timestamp=1_700_000_000)
    assert verify("whsec_x", body, header, now=1_700_000_100)
    assert not verify("whsec_x", body + b" ", header, now=1_700_000_100)
    assert not verify("whsec_y", body, header, now=1_700_000_100)
    assert not verify("whsec_x", body, header, now=1_700_000_000 + 3600)
    assert not verify("whsec_x", body, "v1=abc", now=1_700_000_000)


async def test_deliveries_are_signed_retried_and_logged(
        services: Services, tenants: TenantFactory, client: httpx.AsyncClient,
        receiver: Receiver, loopback_allowed: None) -> None:
    chat = await chat_world(services, tenants, client)
    admin = chat.admin_headers
    created = await client.post(f"{API}/webhooks", headers=admin, json={
        "url": f"http://127.0.0.1:{receiver.port}/hooks", "events": [
            "person.created", "contact.created"]})
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    receiver.plan = [500, 503]  # the first two attempts fail, the third is taken
    person = await client.post(f"{API}/people", headers=admin, json={
        "name": "Hedy", "identities": [{"kind": "email", "value": "hedy@example.com"}]})
    assert person.status_code == 201

    async def delivered() -> bool:
        found = await client.get(f"{API}/webhooks/{hook['id']}/deliveries", headers=admin)
        return any(d["status"] == "delivered" for d in found.json())

    await until(delivered, timeout=30)
    [delivery] = (await client.get(f"{API}/webhooks/{hook['id']}/deliveries",
                                   headers=admin)).json()
    assert delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["log"]] == [500, 503, 200]
    assert len(receiver.received) == 3
    headers, body = receiver.received[-1]
    assert verify(hook["secret"], body, headers[HEADER.lower()])
    payload = json.loads(body)
    assert payload["type"] == "person.created" and headers["plateaux-event"] == "person.created"
    assert payload["data"]["identities"][0]["value"] == "hedy@example.com"
    # Every retry carried the same event id (receivers deduplicate on it).
    assert len({h["plateaux-delivery"] for h, _ in receiver.received}) == 1
    # Another tenant cannot read these deliveries.
    other = await chat_world(services, tenants, client)
    assert (await client.get(f"{API}/webhooks/{hook['id']}/deliveries",
                             headers=other.admin_headers)).status_code == 404


async def test_a_contact_that_ends_is_announced_once_with_its_person(
        services: Services, tenants: TenantFactory, client: httpx.AsyncClient,
        receiver: Receiver, loopback_allowed: None) -> None:
    chat = await chat_world(services, tenants, client)
    created = await client.post(f"{API}/webhooks", headers=chat.admin_headers, json={
        "url": f"http://127.0.0.1:{receiver.port}/hooks", "events": ["contact.ended"]})
    assert created.status_code == 201, created.text
    started = await assigned_conversation(services, client, chat, text="Where is my order?")
    contact_id = started["contact_id"]
    done = await client.post(f"/api/v1/contacts/{contact_id}/complete",
                             headers=chat.agent_headers)
    assert done.status_code == 200, done.text

    async def announced() -> bool:
        return any(json.loads(body)["type"] == "contact.ended"
                   for _, body in receiver.received)

    await until(announced, timeout=30)
    [ended] = [json.loads(body) for _, body in receiver.received
               if json.loads(body)["type"] == "contact.ended"]
    data = ended["data"]
    assert data["contact_id"] == contact_id and data["status"] == "completed"
    assert data["channel"] == "chat" and data["agent_id"] == str(chat.agent.id)
    assert data["person_id"] is not None and data["answered_at"] and data["ended_at"]
    # Recording the same history again (a steward taking over) announces nothing more.
    await asyncio.sleep(1.5)
    assert sum(json.loads(body)["type"] == "contact.ended"
               for _, body in receiver.received) == 1


async def test_private_addresses_redirects_and_rebinding_are_refused(
        services: Services, tenants: TenantFactory, client: httpx.AsyncClient,
        receiver: Receiver, loopback_allowed: None) -> None:
    chat = await chat_world(services, tenants, client)
    admin = chat.admin_headers
    for url in ("http://10.0.0.7/hook", "http://192.168.1.2/hook", "http://[::1]/hook",
                "http://169.254.169.254/latest/meta-data", "http://127.0.0.2/hook",
                "http://localhost.:9/hook", "ftp://example.com/x", "http://user:pw@x.com/"):
        refused = await client.post(f"{API}/webhooks", headers=admin, json={
            "url": url, "events": ["person.created"]})
        assert refused.status_code == 400, (url, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    refused = await client.put(f"{API}/settings", headers=admin,
                               json={"lookup_url": "http://10.1.2.3/lookup"})
    assert refused.status_code == 400
    guard = Guard.from_settings(services.settings.crm_private_networks)
    # A redirect to an address the operator did not allow is not followed.
    receiver.redirect_to = "http://127.0.0.2:9/stolen"
    with pytest.raises(OutboundError, match="Redirect refused"):
        await post(guard, f"http://127.0.0.1:{receiver.port}/moved", content=b"{}",
                   headers={}, timeout=5)
    receiver.redirect_to = "http://169.254.169.254/latest/meta-data"
    with pytest.raises(OutboundError, match="Redirect refused"):
        await post(guard, f"http://127.0.0.1:{receiver.port}/moved", content=b"{}",
                   headers={}, timeout=5)
    assert all(h.get("host", "").startswith("127.0.0.1") for h, _ in receiver.received)
    # A name that passes the check, then resolves to a private address when the
    # connection opens, never gets a connection (the guard connects to what it checked).
    answers = iter([["93.184.216.34"], ["10.0.0.7"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    tricky = Guard(guard.allowed, rebinding)
    with pytest.raises(OutboundError, match="private or reserved"):
        await post(tricky, "http://rebind.example/hook", content=b"{}", headers={},
                   timeout=5)
    with pytest.raises(BlockedAddress):
        await Guard().check_url(f"http://127.0.0.1:{receiver.port}/hooks")


async def test_lookup_asks_the_tenants_crm_and_keeps_the_answer(
        services: Services, tenants: TenantFactory, client: httpx.AsyncClient,
        receiver: Receiver, loopback_allowed: None) -> None:
    chat = await chat_world(services, tenants, client)
    admin = chat.admin_headers
    saved = await client.put(f"{API}/settings", headers=admin, json={
        "lookup_url": f"http://127.0.0.1:{receiver.port}/lookup"})
    assert saved.status_code == 200 and saved.json()["lookup_configured"]
    secret = (await client.post(f"{API}/settings/lookup-secret", headers=admin)).json()["secret"]
    person = (await client.post(f"{API}/people", headers=admin, json={
        "identities": [{"kind": "email", "value": "kim@example.com"}]})).json()
    found = await client.get(f"{API}/people/{person['id']}/external",
                             headers=chat.agent_headers)
    assert found.status_code == 200, found.text
    assert found.json()["status"] == "ok" and found.json()["data"]["plan"] == "gold"
    headers, body = receiver.received[-1]
    assert verify(secret, body, headers[HEADER.lower()])
    assert json.loads(body)["identities"] == [{"kind": "email", "value": "kim@example.com"}]
    receiver.plan = [500]
    again = (await client.get(f"{API}/people/{person['id']}/external",
                              headers=chat.agent_headers)).json()
    assert again["status"] == "cached" and again["data"]["account"] == "A-17"
