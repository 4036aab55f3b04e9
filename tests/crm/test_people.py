"""People through the API: matching of chats, messages left and emails, identities
normalised and unique, custom fields, merge with history, search on the backend under
test, CSV import and export with rejects, JSON export, and retention."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import httpx
from sqlalchemy import update
from sqlmodel import col, select

from plateaux.channels.chat.models import Conversation
from plateaux.crm import matching
from plateaux.crm.models import Person
from plateaux.platform.database import start_writing
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.routing.models import Contact
from tests.channels.chat_world import chat_world
from tests.support.factories import TenantFactory

API = "/api/v1/crm"


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    return body


async def test_chats_messages_left_and_numbers_find_their_person(
        services: Services, tenants: TenantFactory, client: httpx.AsyncClient) -> None:
    chat = await chat_world(services, tenants, client)
    admin = chat.admin_headers
    # A message left by a visitor who types their address: one person, unverified email.
    left = await client.post(chat.site("/messages"), headers=chat.visitor_headers, json={
        "name": "Noé Petit", "email": "Noe@Example.org", "text": "Call me back"})
    assert left.status_code == 201, left.text
    # The same browser chats later: the same person.
    started = await client.post(chat.site("/conversations"), headers=chat.visitor_headers,
                                json={"text": "Still there?"})
    assert started.status_code == 201, started.text
    async with services.unit_of_work(tenant_id=chat.world.tenant.id) as session:
        # Matching below may write; on SQLite a transaction that read first cannot start
        # writing once the routing recorder has committed meanwhile.
        await start_writing(session)
        contacts = (await session.scalars(select(Contact).where(
            col(Contact.tenant_id) == chat.world.tenant.id))).all()
        assert len({c.person_id for c in contacts}) == 1 and contacts[0].person_id
        person_id = contacts[0].person_id
        # A caller from a number written as people do: E.164 makes them one.
        first = await matching.person_for_phone(session, chat.world.tenant.id,
                                                "+33 6 12 34 56 78")
        again = await matching.person_for_phone(session, chat.world.tenant.id,
                                                "+33612345678")
        assert first is not None and again is not None and first.id == again.id
        assert await matching.person_for_phone(session, chat.world.tenant.id, "12") is None
    person = (await client.get(f"{API}/people/{person_id}", headers=admin)).json()
    assert person["name"] == "Noé Petit"
    kinds = {(i["kind"], i["value"], i["verified"]) for i in person["identities"]}
    assert ("email", "noe@example.org", False) in kinds
    assert ("visitor", str(chat.visitor.id), True) in kinds
    timeline = (await client.get(f"{API}/people/{person_id}/timeline", headers=admin)).json()
    assert [item["channel"] for item in timeline] == ["chat", "form"]
    assert timeline[0]["summary"] == "Still there?"
    # The card the console pops for the contact.
    card = await client.get(f"{API}/contacts/{timeline[0]['contact_id']}/card",
                            headers=chat.agent_headers)
    assert card.status_code == 200, card.text
    assert card.json()["person"]["id"] == str(person_id)
    assert card.json()["pages"][0]["url"] == "https://shop.example.com/pricing"


async def test_identities_custom_fields_and_problems(
        services: Services, tenants: TenantFactory, client: httpx.AsyncClient) -> None:
    chat = await chat_world(services, tenants, client)
    admin = chat.admin_headers
    field = await client.post(f"{API}/fields", headers=admin, json={
        "key": "plan", "label": "Plan", "type": "choice", "choices": ["free", "pro"]})
    assert field.status_code == 201, field.text
    assert (await client.post(f"{API}/fields", headers=chat.agent_headers, json={
        "key": "x", "label": "X"})).status_code == 403
    created = await client.post(f"{API}/people", headers=chat.agent_headers, json={
        "name": "Ada", "company": "Analytical Ltd", "tags": ["VIP"],
        "custom": {"plan": "pro"}, "identities": [
            {"kind": "email", "value": "ADA@example.com"},
            {"kind": "phone", "value": "+44 20 7946 0958"}]})
    assert created.status_code == 201, created.text
    ada = created.json()
    assert ada["company"]["name"] == "Analytical Ltd" and ada["tags"] == ["vip"]
    assert {i["value"] for i in ada["identities"]} == {"ada@example.com", "+442079460958"}
    # An identity belongs to one person of the tenant.
    problem(await client.post(f"{API}/people", headers=admin, json={
        "identities": [{"kind": "email", "value": "ada@example.com"}]}), 409)
    problem(await client.post(f"{API}/people", headers=admin, json={
        "identities": [{"kind": "phone", "value": "not a number"}]}), 422)
    problem(await client.patch(f"{API}/people/{ada['id']}", headers=admin,
                               json={"custom": {"plan": "gold"}}), 422)
    problem(await client.patch(f"{API}/people/{ada['id']}", headers=admin,
                               json={"custom": {"unknown": 1}}), 422)
    problem(await client.get(f"{API}/people/{uuid.uuid4()}", headers=admin), 404)
    # Another tenant may hold the same address.
    other = await chat_world(services, tenants, client)
    assert (await client.post(f"{API}/people", headers=other.admin_headers, json={
        "identities": [{"kind": "email", "value": "ada@example.com"}]})).status_code == 201
    note = await client.post(f"{API}/people/{ada['id']}/notes", headers=chat.agent_headers,
                             json={"body": "Prefers phone calls after 5pm"})
    assert note.status_code == 201 and note.json()["author_name"] == "Ann Agent"


async def test_merge_moves_history_and_search_finds_people_conversations_and_notes(
        services: Services, tenants: TenantFactory, client: httpx.AsyncClient) -> None:
    chat = await chat_world(services, tenants, client)
    admin = chat.admin_headers
    started = await client.post(chat.site("/conversations"), headers=chat.visitor_headers,
                                json={"text": "My parcel zx81 never arrived"})
    assert started.status_code == 201
    async with services.unit_of_work(tenant_id=chat.world.tenant.id) as session:
        conversation = await session.get(Conversation,
                                         uuid.UUID(started.json()["conversation_id"]))
        assert conversation is not None
        contact = await session.get(Contact, conversation.contact_id)
        assert contact is not None and contact.person_id is not None
        visitor_person = contact.person_id
    known = (await client.post(f"{API}/people", headers=admin, json={
        "name": "Grace Hopper", "identities": [{"kind": "email",
                                                "value": "grace@example.com"}]})).json()
    await client.post(f"{API}/people/{known['id']}/notes", headers=admin,
                      json={"body": "Asked about the cobol migration"})
    for query, kind in (("grace", "person"), ("grace@example.com", "person"),
                        ("parcel zx8", "conversation"), ("cobol", "note")):
        hits = await client.get(f"{API}/search", headers=admin, params={"q": query})
        assert hits.status_code == 200, hits.text
        assert kind in {h["kind"] for h in hits.json()}, (query, hits.json())
    assert (await client.get(f"{API}/search", headers=admin, params={
        "q": "\"' OR 1=1 -- *:( & |"})).status_code == 200
    merged = await client.post(f"{API}/people/{known['id']}/merge", headers=admin,
                               json={"duplicate_id": str(visitor_person)})
    assert merged.status_code == 200, merged.text
    assert {i["kind"] for i in merged.json()["identities"]} == {"email", "visitor"}
    problem(await client.get(f"{API}/people/{visitor_person}", headers=admin), 404)
    timeline = (await client.get(f"{API}/people/{known['id']}/timeline",
                                 headers=admin)).json()
    assert [i["kind"] for i in timeline] == ["note", "contact"]
    hits = (await client.get(f"{API}/search", headers=admin,
                             params={"q": "zx81", "kind": "conversation"})).json()
    assert [h["person_id"] for h in hits] == [known["id"]]
    # Another tenant's search sees nothing of this one.
    other = await chat_world(services, tenants, client)
    assert (await client.get(f"{API}/search", headers=other.admin_headers,
                             params={"q": "cobol"})).json() == []


async def test_csv_import_reports_rejects_and_export_round_trips(
        services: Services, tenants: TenantFactory, client: httpx.AsyncClient) -> None:
    chat = await chat_world(services, tenants, client)
    admin = chat.admin_headers
    await client.put(f"{API}/settings", headers=admin, json={"phone_region": "FR"})
    await client.post(f"{API}/fields", headers=admin, json={
        "key": "since", "label": "Customer since", "type": "date"})
    rows = ("name,emails,phones,tags,since,owner_email\n"
            "Marie Curie,marie@example.fr;m.curie@example.fr,06 12 34 56 78,vip;science,"
            "2020-01-31,\n"
            "Bad Mail,not-an-address,,,,\n"
            "Bad Date,bad.date@example.fr,,,31/01/2020,\n"
            "Nobody Owner,owner@example.fr,,,,ghost@example.com\n"
            ",,,,,\n"
            "Marie C.,marie@example.fr,,physics,,\n")
    report = await client.post(f"{API}/import/people", headers=admin,
                               files={"file": ("people.csv", rows.encode(), "text/csv")})
    assert report.status_code == 200, report.text
    body = report.json()
    assert (body["created"], body["updated"]) == (1, 1)
    assert [r["line"] for r in body["rejected"]] == [3, 4, 5, 6]
    assert "not an email address" in body["rejected"][0]["reason"]
    assert "Customer since" in body["rejected"][1]["reason"]
    problem(await client.post(f"{API}/import/people", headers=admin, files={
        "file": ("x.csv", b"colour\nred\n", "text/csv")}), 422)
    # A line the CSV reader cannot take (a field over its size limit): the file is refused
    # whole, and the rows before it are not imported either.
    oversized = b'name,emails\nAda,ada@example.org\n"' + b"x" * 200_000 + b'",\n'
    refused = problem(await client.post(f"{API}/import/people", headers=admin, files={
        "file": ("big.csv", oversized, "text/csv")}), 422)
    assert "Line 3" in refused["detail"]
    found = await client.get(f"{API}/people", headers=admin, params={"q": "ada@example.org"})
    assert found.status_code == 200 and found.json()["items"] == []
    exported = await client.get(f"{API}/export/people.csv", headers=admin)
    assert exported.status_code == 200
    [marie] = list(csv.DictReader(io.StringIO(exported.text)))
    assert marie["name"] == "Marie C." and marie["phones"] == "+33612345678"
    assert set(marie["emails"].split(";")) == {"marie@example.fr", "m.curie@example.fr"}
    assert marie["tags"] == "vip;science;physics" and marie["since"] == "2020-01-31"


async def test_json_export_and_retention(
        services: Services, tenants: TenantFactory, client: httpx.AsyncClient) -> None:
    chat = await chat_world(services, tenants, client)
    admin = chat.admin_headers
    started = await client.post(chat.site("/conversations"), headers=chat.visitor_headers,
                                json={"text": "Old question"})
    conversation_id = uuid.UUID(started.json()["conversation_id"])
    tenant_id = chat.world.tenant.id
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        [person] = (await session.scalars(select(Person).where(
            col(Person.tenant_id) == tenant_id))).all()
    exported = await client.get(f"{API}/people/{person.id}/export", headers=admin)
    assert exported.status_code == 200, exported.text
    data = exported.json()
    assert data["conversations"][0]["messages"][0]["text"] == "Old question"
    assert data["visitors"][0]["id"] == str(chat.visitor.id)
    assert "token_hash" not in data["visitors"][0]
    assert (await client.get(f"{API}/people/{person.id}/export",
                             headers=chat.agent_headers)).status_code == 403
    # Ended long ago: past the tenant's retention, the conversation goes; the person, idle
    # for longer than their period, is erased; a fresh person stays.
    fresh = (await client.post(f"{API}/people", headers=admin, json={"name": "Fresh"})).json()
    past = utcnow() - timedelta(days=40)
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        await session.execute(update(Conversation).where(
            col(Conversation.id) == conversation_id).values(ended_at=past, status="ended"))
        await session.execute(update(Person).where(col(Person.id) == person.id).values(
            last_contact_at=past))
    assert (await client.put(f"{API}/settings", headers=admin, json={
        "conversation_retention_days": 30, "person_retention_days": 35})).status_code == 200
    from plateaux.crm.privacy import apply_retention_everywhere

    done = await apply_retention_everywhere(services)
    assert done[tenant_id] == {"conversations": 1, "email_threads": 0, "calls": 0,
                               "people": 1}
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        assert await session.get(Conversation, conversation_id) is None
        assert await session.get(Person, person.id) is None
        assert await session.get(Person, uuid.UUID(fresh["id"])) is not None
    settings = (await client.get(f"{API}/settings", headers=admin)).json()
    assert settings["last_retention_at"] is not None
