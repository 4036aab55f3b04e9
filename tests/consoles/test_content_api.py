"""Canned responses and wrap-up codes through the API: admins manage them, agents read
them, another tenant never sees them; a wrap-up code becomes the contact's outcome."""

from __future__ import annotations

import httpx

from plateaux.platform.services import Services
from plateaux.tenants.models import Role
from tests.routing.test_live_routing import _is, make_queue, serve
from tests.support.factories import TenantFactory, bearer
from tests.support.waiting import until

API = "/api/v1"


async def test_canned_responses_are_managed_by_admins_and_read_by_agents(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT)
    admin_h = await bearer(client, world)
    agent_h = await bearer(client, world, agent.email)

    hello = {"shortcut": "/Hello", "title": "Greeting", "body": "Hello {name}!", "language": "en"}
    created = await client.post(f"{API}/canned-responses", headers=admin_h, json=hello)
    assert created.status_code == 201, created.text
    assert created.json()["shortcut"] == "hello"
    bonjour = {**hello, "body": "Bonjour {name} !", "language": "fr"}
    assert (await client.post(f"{API}/canned-responses", headers=admin_h,
                              json=bonjour)).status_code == 201
    again = await client.post(f"{API}/canned-responses", headers=admin_h, json=hello)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    anywhere = {"shortcut": "bye", "title": "Goodbye", "body": "Have a good day."}
    assert (await client.post(f"{API}/canned-responses", headers=admin_h,
                              json=anywhere)).status_code == 201
    bad = await client.post(f"{API}/canned-responses", headers=admin_h,
                            json={**anywhere, "shortcut": "no spaces"})
    assert bad.status_code == 422

    listed = await client.get(f"{API}/canned-responses", headers=agent_h)
    assert listed.status_code == 200
    assert [(c["shortcut"], c["language"]) for c in listed.json()] == [
        ("bye", ""), ("hello", "en"), ("hello", "fr")]
    french = await client.get(f"{API}/canned-responses", params={"language": "fr"},
                              headers=agent_h)
    assert [(c["shortcut"], c["language"]) for c in french.json()] == [
        ("bye", ""), ("hello", "fr")]

    # Agents read; they do not write.
    refused = await client.post(f"{API}/canned-responses", headers=agent_h,
                                json={**anywhere, "shortcut": "mine"})
    assert refused.status_code == 403

    canned_id = created.json()["id"]
    changed = await client.patch(f"{API}/canned-responses/{canned_id}", headers=admin_h,
                                 json={"body": "Hi {name}, how can I help?"})
    assert changed.status_code == 200 and changed.json()["body"].startswith("Hi")
    clash = await client.patch(f"{API}/canned-responses/{canned_id}", headers=admin_h,
                               json={"language": "fr"})
    assert clash.status_code == 409

    other = await tenants.create()
    other_h = await bearer(client, other)
    assert (await client.get(f"{API}/canned-responses", headers=other_h)).json() == []
    assert (await client.patch(f"{API}/canned-responses/{canned_id}", headers=other_h,
                               json={"title": "x"})).status_code == 404
    assert (await client.delete(f"{API}/canned-responses/{canned_id}",
                                headers=other_h)).status_code == 404
    assert (await client.delete(f"{API}/canned-responses/{canned_id}",
                                headers=admin_h)).status_code == 204
    assert len((await client.get(f"{API}/canned-responses", headers=agent_h)).json()) == 2


async def test_a_wrap_up_code_is_kept_as_the_contacts_outcome(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    queue = await make_queue(services, world, "Support")
    agent = await tenants.add_user(world, name="Ann")
    await serve(services, world, agent, queue)
    admin_h = await bearer(client, world)
    agent_h = await bearer(client, world, agent.email)

    for code, label in (("resolved", "Resolved"), ("callback", "Call back later")):
        made = await client.post(f"{API}/wrap-up-codes", headers=admin_h,
                                 json={"code": code, "label": label})
        assert made.status_code == 201, made.text
    assert (await client.post(f"{API}/wrap-up-codes", headers=admin_h,
                              json={"code": "resolved", "label": "Again"})).status_code == 409
    codes = (await client.get(f"{API}/wrap-up-codes", headers=agent_h)).json()
    assert [c["code"] for c in codes] == ["callback", "resolved"]

    await client.put(f"{API}/me/presence", headers=agent_h, json={"presence": "available"})
    first = await client.post(f"{API}/contacts", headers=admin_h, json={
        "channel": "chat", "queue_id": str(queue.id), "customer_key": "visitor-42"})
    contact_id = first.json()["id"]
    await until(lambda: _is(client, admin_h, contact_id, "offered"))
    assert (await client.post(f"{API}/contacts/{contact_id}/accept",
                              headers=agent_h)).status_code == 200

    unknown = await client.post(f"{API}/contacts/{contact_id}/wrap-up", headers=agent_h,
                                json={"wrap_up_code": "nonsense"})
    assert unknown.status_code == 422
    wrapped = await client.post(f"{API}/contacts/{contact_id}/wrap-up", headers=agent_h,
                                json={"wrap_up_code": "callback"})
    assert wrapped.status_code == 200, wrapped.text
    assert wrapped.json()["outcome"] == "callback"
    done = await client.post(f"{API}/contacts/{contact_id}/complete", headers=agent_h,
                             json={"wrap_up_code": "resolved"})
    assert done.status_code == 200, done.text
    assert done.json()["outcome"] == "resolved"
    # Without a body, completion still works (the code stays as it was).
    stored = (await client.get(f"{API}/contacts/{contact_id}", headers=admin_h)).json()
    assert stored["outcome"] == "resolved"

    # Once the routing history records the end, the code is still the outcome.
    async def recorded() -> bool:
        events = (await client.get(f"{API}/contacts/{contact_id}/events",
                                   headers=admin_h)).json()
        return any(event["kind"] == "completed" for event in events)

    await until(recorded)
    stored = (await client.get(f"{API}/contacts/{contact_id}", headers=admin_h)).json()
    assert stored["outcome"] == "resolved"

    # The customer's past contacts: the list filtered by customer key.
    second = await client.post(f"{API}/contacts", headers=admin_h, json={
        "channel": "chat", "queue_id": str(queue.id), "customer_key": "visitor-42"})
    await client.post(f"{API}/contacts", headers=admin_h, json={
        "channel": "chat", "queue_id": str(queue.id), "customer_key": "visitor-7"})
    past = await client.get(f"{API}/contacts", params={"customer_key": "visitor-42"},
                            headers=agent_h)
    assert past.status_code == 200
    assert {c["id"] for c in past.json()["items"]} == {contact_id, second.json()["id"]}

    code_id = codes[0]["id"]
    other_h = await bearer(client, await tenants.create())
    assert (await client.delete(f"{API}/wrap-up-codes/{code_id}",
                                headers=other_h)).status_code == 404
    assert (await client.delete(f"{API}/wrap-up-codes/{code_id}",
                                headers=agent_h)).status_code == 403
    assert (await client.delete(f"{API}/wrap-up-codes/{code_id}",
                                headers=admin_h)).status_code == 204
