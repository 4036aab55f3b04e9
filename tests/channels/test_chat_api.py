"""Chat over HTTP, in-process: a visitor's conversation routed to an agent, numbered
messages (concurrent posting, resends), read receipts, the end, rating, transcript,
leave-a-message, attachments, and who may act."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from plateaux.channels.chat.models import Conversation
from plateaux.platform.services import Services
from plateaux.routing.models import Contact
from plateaux.tenants.models import Role
from tests.channels.chat_world import API, ChatWorld, assigned_conversation, chat_world
from tests.support.factories import TenantFactory, bearer
from tests.support.waiting import until

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def _world(services: Services, tenants: TenantFactory,
                 client: httpx.AsyncClient) -> ChatWorld:
    return await chat_world(services, tenants, client)


async def test_a_conversation_is_a_routed_contact_with_the_visitors_context(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat = await _world(services, tenants, client)
    created = await client.post(chat.site("/conversations"), headers=chat.visitor_headers,
                                json={"text": "Bonjour 😀", "language": "fr",
                                      "attributes": {"plan": "pro"}})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "queued"
    assert body["position"] == 1
    conversation_id = uuid.UUID(body["conversation_id"])
    async with services.unit_of_work(tenant_id=chat.world.tenant.id) as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None and conversation.contact_id is not None
        contact = await session.get(Contact, conversation.contact_id)
    assert contact is not None
    assert contact.channel == "chat"
    assert contact.queue_id == chat.queue.id
    assert contact.customer_key == str(chat.visitor.id)
    assert contact.attributes["language"] == "fr"
    assert contact.attributes["site_key"] == chat.key
    assert contact.attributes["current_page"] == "https://shop.example.com/pricing"
    assert contact.attributes["pages_viewed"] == ["https://shop.example.com/pricing"]
    assert contact.attributes["visitor_id"] == str(chat.visitor.id)
    assert contact.attributes["verified"] is False
    assert contact.attributes["plan"] == "pro"
    messages = await client.get(chat.site(f"/conversations/{conversation_id}/messages"),
                                headers=chat.visitor_headers)
    assert [(m["seq"], m["text"], m["author_type"]) for m in messages.json()] == [
        (1, "Bonjour 😀", "visitor")]


async def test_concurrent_posts_get_consecutive_numbers(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat = await _world(services, tenants, client)
    ids = await assigned_conversation(services, client, chat)
    conversation_id = ids["conversation_id"]
    url_visitor = chat.site(f"/conversations/{conversation_id}/messages")
    url_agent = f"{API}/conversations/{conversation_id}/messages"

    async def post(number: int) -> httpx.Response:
        if number % 2:
            return await client.post(url_visitor, headers=chat.visitor_headers,
                                     json={"client_id": f"v-{number}", "text": f"v{number}"})
        return await client.post(url_agent, headers=chat.agent_headers,
                                 json={"client_id": f"a-{number}", "text": f"a{number}"})

    answers = await asyncio.gather(*(post(n) for n in range(30)))
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    seqs = sorted(a.json()["seq"] for a in answers)
    assert seqs == list(range(2, 32))  # 1 is the first message
    listed = (await client.get(f"{url_agent}?limit=500", headers=chat.agent_headers)).json()
    assert [m["seq"] for m in listed] == list(range(1, 32))


async def test_a_resend_with_the_same_client_id_is_the_same_message(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat = await _world(services, tenants, client)
    ids = await assigned_conversation(services, client, chat)
    url = chat.site(f"/conversations/{ids['conversation_id']}/messages")
    first = await client.post(url, headers=chat.visitor_headers,
                              json={"client_id": "c-1", "text": "once"})
    assert first.status_code == 201
    again = await client.post(url, headers=chat.visitor_headers,
                              json={"client_id": "c-1", "text": "once"})
    assert again.status_code == 200
    assert again.json()["seq"] == first.json()["seq"]
    racing = await asyncio.gather(*(client.post(url, headers=chat.visitor_headers,
                                                json={"client_id": "c-2", "text": "race"})
                                    for _ in range(6)))
    assert {r.status_code for r in racing} <= {200, 201}
    assert len({r.json()["seq"] for r in racing}) == 1
    listed = (await client.get(url, headers=chat.visitor_headers)).json()
    assert [m["text"] for m in listed] == ["Hello", "once", "race"]
    assert [m["seq"] for m in listed] == [1, 2, 3]


async def test_user_content_is_sanitised_when_stored(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat = await _world(services, tenants, client)
    ids = await assigned_conversation(services, client, chat)
    answer = await client.post(
        f"{API}/conversations/{ids['conversation_id']}/messages", headers=chat.agent_headers,
        json={"text": "<img src=x onerror=alert(1)> see https://example.com"})
    assert answer.status_code == 201, answer.text
    body = answer.json()["body"]
    assert "<img" not in body and "&lt;img" in body
    assert 'rel="nofollow noopener noreferrer"' in body


async def test_notes_and_whispers_stay_with_the_agents(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat = await _world(services, tenants, client)
    ids = await assigned_conversation(services, client, chat)
    cid = ids["conversation_id"]
    note = await client.post(f"{API}/conversations/{cid}/messages", headers=chat.agent_headers,
                             json={"text": "VIP customer", "kind": "note"})
    assert note.status_code == 201, note.text
    whisper = await client.post(f"{API}/conversations/{cid}/whisper",
                                headers=chat.admin_headers, json={"text": "offer 10%"})
    assert whisper.status_code == 201, whisper.text
    problem(await client.post(f"{API}/conversations/{cid}/whisper", headers=chat.agent_headers,
                              json={"text": "no"}), 403)
    reply = await client.post(f"{API}/conversations/{cid}/messages",
                              headers=chat.agent_headers, json={"text": "Hi!"})
    assert reply.json()["author_name"] == "Ann Agent"
    visible = (await client.get(chat.site(f"/conversations/{cid}/messages"),
                                headers=chat.visitor_headers)).json()
    assert [m["text"] for m in visible] == ["Hello", "Hi!"]
    everything = (await client.get(f"{API}/conversations/{cid}/messages",
                                   headers=chat.agent_headers)).json()
    assert [m["kind"] for m in everything] == ["message", "note", "whisper", "message"]


async def test_read_receipts_are_stored_and_never_go_backwards(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat = await _world(services, tenants, client)
    ids = await assigned_conversation(services, client, chat)
    cid = ids["conversation_id"]
    await client.post(f"{API}/conversations/{cid}/messages", headers=chat.agent_headers,
                      json={"text": "one"})
    read = await client.post(f"{API}/conversations/{cid}/read", headers=chat.agent_headers,
                             json={"seq": 1})
    assert read.json() == {"seq": 1}
    assert (await client.post(chat.site(f"/conversations/{cid}/read"),
                              headers=chat.visitor_headers, json={"seq": 99})).json() == {
        "seq": 2}
    assert (await client.post(chat.site(f"/conversations/{cid}/read"),
                              headers=chat.visitor_headers, json={"seq": 1})).json() == {
        "seq": 2}
    detail = (await client.get(f"{API}/conversations/{cid}",
                               headers=chat.agent_headers)).json()
    assert detail["conversation"]["agent_read_seq"] == 1
    assert detail["conversation"]["visitor_read_seq"] == 2
    assert detail["visitor"]["current_url"] == "https://shop.example.com/pricing"
    assert [p["url"] for p in detail["pages_viewed"]] == ["https://shop.example.com/pricing"]


async def test_the_end_by_the_agent_completes_the_routing_contact(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat = await _world(services, tenants, client)
    ids = await assigned_conversation(services, client, chat)
    cid = ids["conversation_id"]
    ended = await client.post(f"{API}/conversations/{cid}/end", headers=chat.agent_headers)
    assert ended.status_code == 204, ended.text

    async def completed() -> bool:
        found = (await client.get(f"{API}/contacts/{ids['contact_id']}",
                                  headers=chat.admin_headers)).json()
        return bool(found["status"] == "completed")

    await until(completed)
    problem(await client.post(chat.site(f"/conversations/{cid}/messages"),
                              headers=chat.visitor_headers, json={"text": "late"}), 409)
    rated = await client.post(chat.site(f"/conversations/{cid}/rating"),
                              headers=chat.visitor_headers, json={"score": 5, "comment": "Top"})
    assert rated.status_code == 204
    problem(await client.post(chat.site(f"/conversations/{cid}/rating"),
                              headers=chat.visitor_headers, json={"score": 6}), 422)
    detail = (await client.get(f"{API}/conversations/{cid}",
                               headers=chat.admin_headers)).json()["conversation"]
    assert (detail["status"], detail["ended_by"], detail["rating"]) == ("ended", "agent", 5)


async def test_the_visitor_leaving_a_waiting_chat_abandons_it(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat = await _world(services, tenants, client)
    created = await client.post(chat.site("/conversations"), headers=chat.visitor_headers,
                                json={"text": "anyone?"})
    cid = created.json()["conversation_id"]
    assert (await client.post(chat.site(f"/conversations/{cid}/end"),
                              headers=chat.visitor_headers)).status_code == 204
    detail = (await client.get(f"{API}/conversations/{cid}",
                               headers=chat.admin_headers)).json()

    async def abandoned() -> bool:
        found = (await client.get(f"{API}/contacts/{detail['contact']['id']}",
                                  headers=chat.admin_headers)).json()
        return bool(found["status"] == "abandoned")

    await until(abandoned)


async def test_transcript_by_email_and_a_left_message(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat = await _world(services, tenants, client)
    ids = await assigned_conversation(services, client, chat, text="Where is my order?")
    cid = ids["conversation_id"]
    sent = await client.post(chat.site(f"/conversations/{cid}/transcript"),
                             headers=chat.visitor_headers, json={"email": "v@example.com"})
    assert sent.status_code == 202, sent.text
    problem(await client.post(chat.site(f"/conversations/{cid}/transcript"),
                              headers=chat.visitor_headers, json={"email": "nope"}), 422)

    left = await client.post(chat.site("/messages"), headers=chat.visitor_headers,
                             json={"name": "Zoé", "email": "zoe@example.com",
                                   "text": "Call me tomorrow"})
    assert left.status_code == 201, left.text
    async with services.unit_of_work(tenant_id=chat.world.tenant.id) as session:
        contact = await session.get(Contact, uuid.UUID(left.json()["contact_id"]))
        conversation = await session.get(Conversation, uuid.UUID(left.json()["conversation_id"]))
    assert contact is not None and contact.channel == "form"
    assert contact.attributes["email"] == "zoe@example.com"
    assert conversation is not None and conversation.contact_email == "zoe@example.com"
    assert conversation.last_seq == 1


async def test_attachments_have_limits_and_need_authorisation(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat = await _world(services, tenants, client)
    ids = await assigned_conversation(services, client, chat)
    cid = ids["conversation_id"]
    url = chat.site(f"/conversations/{cid}/attachments")
    uploaded = await client.post(url, headers=chat.visitor_headers,
                                 files={"file": ("shot.png", PNG, "image/png")})
    assert uploaded.status_code == 201, uploaded.text
    ref = uploaded.json()
    assert ref["name"] == "shot.png" and ref["size"] == len(PNG)
    problem(await client.post(url, headers=chat.visitor_headers,
                              files={"file": ("a.html", b"<script>", "text/html")}), 415)
    problem(await client.post(url, headers=chat.visitor_headers,
                              files={"file": ("fake.png", b"<html>", "image/png")}), 415)
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * services.settings.attachment_max_bytes
    problem(await client.post(url, headers=chat.visitor_headers,
                              files={"file": ("big.png", big, "image/png")}), 413)

    message = await client.post(chat.site(f"/conversations/{cid}/messages"),
                                headers=chat.visitor_headers,
                                json={"text": "", "attachments": [ref["id"]]})
    assert message.status_code == 201, message.text
    assert message.json()["attachments"] == [ref]
    problem(await client.post(chat.site(f"/conversations/{cid}/messages"),
                              headers=chat.visitor_headers,
                              json={"attachments": [str(uuid.uuid4())]}), 422)

    for path, headers in ((f"{url}/{ref['id']}", chat.visitor_headers),
                          (f"{API}/conversations/{cid}/attachments/{ref['id']}",
                           chat.agent_headers)):
        got = await client.get(path, headers=headers)
        assert got.status_code == 200, got.text
        assert got.content == PNG
        assert got.headers["content-type"] == "image/png"
        assert got.headers["x-content-type-options"] == "nosniff"
    other_agent = await tenants.add_user(chat.world)
    problem(await client.get(f"{API}/conversations/{cid}/attachments/{ref['id']}",
                             headers=await bearer(client, chat.world, other_agent.email)), 403)
    problem(await client.get(f"{url}/{ref['id']}", headers={"X-Visitor-Token": "wrong"}), 401)


async def test_only_the_assigned_agent_or_a_supervisor_may_act(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat = await _world(services, tenants, client)
    ids = await assigned_conversation(services, client, chat)
    cid = ids["conversation_id"]
    other = await tenants.add_user(chat.world)
    other_h = await bearer(client, chat.world, other.email)
    supervisor = await tenants.add_user(chat.world, role=Role.SUPERVISOR)
    supervisor_h = await bearer(client, chat.world, supervisor.email)
    for method, path, body in (("GET", "", None), ("GET", "/messages", None),
                               ("POST", "/messages", {"text": "x"}),
                               ("POST", "/typing", {"typing": True}),
                               ("POST", "/read", {"seq": 1}), ("POST", "/end", None)):
        problem(await client.request(method, f"{API}/conversations/{cid}{path}",
                                     headers=other_h, json=body), 403)
    assert (await client.get(f"{API}/conversations/{cid}/messages",
                             headers=supervisor_h)).status_code == 200
    watched = await client.post(f"{API}/conversations/{cid}/messages", headers=supervisor_h,
                                json={"text": "Supervisor here"})
    assert watched.json()["author_type"] == "supervisor"

    # Another tenant's ids are not found, for its admin and for its visitors.
    elsewhere = await _world(services, tenants, client)
    problem(await client.get(f"{API}/conversations/{cid}", headers=elsewhere.admin_headers),
            404)
    problem(await client.get(elsewhere.site(f"/conversations/{cid}/messages"),
                             headers=elsewhere.visitor_headers), 404)
    # Nor may another visitor of the same site read it.
    from tests.channels.chat_world import add_visitor

    _, stranger = await add_visitor(services, chat.widget)
    problem(await client.get(chat.site(f"/conversations/{cid}/messages"),
                             headers={"X-Visitor-Token": stranger}), 404)


async def test_bad_input_is_a_problem(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    chat = await _world(services, tenants, client)
    problem(await client.post(chat.site("/conversations"), json={}), 401)
    problem(await client.post(chat.site("/conversations"), headers=chat.visitor_headers,
                              json={"text": 3, "extra": True}), 422)
    problem(await client.post(chat.site("/conversations"), headers=chat.visitor_headers,
                              json={"attributes": {"bad key!": 1}}), 422)
    problem(await client.post(chat.site("/conversations"), headers=chat.visitor_headers,
                              json={"text": "x" * 6000}), 422)
    problem(await client.post("/embed/v1/sites/pk_nope/conversations",
                              headers=chat.visitor_headers, json={}), 404)
    problem(await client.post(chat.site("/conversations"),
                              headers={**chat.visitor_headers,
                                       "Origin": "https://evil.example"}, json={}), 403)
    allowed = await client.post(chat.site("/conversations"),
                                headers={**chat.visitor_headers,
                                         "Origin": "https://shop.example.com"}, json={})
    assert allowed.status_code == 201, allowed.text
    cid = allowed.json()["conversation_id"]
    problem(await client.post(chat.site(f"/conversations/{cid}/messages"),
                              headers=chat.visitor_headers, json={"text": "   "}), 422)
    problem(await client.post(chat.site(f"/conversations/{cid}/messages"),
                              headers=chat.visitor_headers,
                              json={"text": "x", "client_id": "has space"}), 422)
    problem(await client.get(f"{API}/conversations/not-a-uuid",
                             headers=chat.admin_headers), 422)
