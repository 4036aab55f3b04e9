"""Erasing a person leaves no trace of their identities in any table: a chat from their
signed-in browser, a message left, an email thread and a callback are all theirs; after
the erasure every text column of every table (full-text indexes included) is searched for
their address, number, name, external id and visitor id."""

from __future__ import annotations

import sqlite3
import time
import uuid

import httpx
from sqlmodel import col, select

from plateaux.channels.chat.embed_endpoints import router as _chat_routes  # noqa: F401
from plateaux.channels.email import contacts as email_contacts
from plateaux.channels.email.models import EmailAddress, EmailMessage, EmailThread
from plateaux.channels.voip.models import Call, CallLeg
from plateaux.crm import matching
from plateaux.embed.identity import sign_identity
from plateaux.platform.security import decrypt_secret
from plateaux.platform.services import Services
from plateaux.routing import contact_service
from plateaux.routing.contact_schemas import ContactIn
from plateaux.routing.models import Contact
from plateaux.tenants.models import AuditEntry
from tests.channels.chat_world import chat_world
from tests.conftest import BACKEND
from tests.support.database import TestDatabase
from tests.support.factories import TenantFactory

API = "/api/v1/crm"


def traces(test_database: TestDatabase, values: list[str]) -> list[str]:
    """Every table (and column on SQLite) where one of ``values`` still appears."""
    found: list[str] = []
    if BACKEND == "postgresql":
        tables = test_database.superuser_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE'").split()
        patterns = ", ".join("'%" + v.lower().replace("'", "''") + "%'" for v in values)
        query = " UNION ALL ".join(
            f"SELECT '{t}' FROM \"{t}\" x WHERE lower(x::text) LIKE ANY (ARRAY[{patterns}])"
            for t in tables)
        return sorted(set(test_database.superuser_sql(query).split()))
    connection = sqlite3.connect(test_database.app_url.split("///", 1)[1])
    try:
        tables = [r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                for cell in row:
                    text = (cell.decode("utf-8", "ignore") if isinstance(cell, bytes)
                            else str(cell)).lower()
                    found += [f"{table}:{v}" for v in values if v.lower() in text]
    finally:
        connection.close()
    return sorted(set(found))


async def test_erasure_leaves_no_trace(services: Services, tenants: TenantFactory,
                                       client: httpx.AsyncClient,
                                       test_database: TestDatabase) -> None:
    chat = await chat_world(services, tenants, client)
    tenant_id = chat.world.tenant.id
    tag = uuid.uuid4().hex[:8]
    email, name, external = f"zelda.{tag}@example.org", f"Zelda Q{tag}", f"cust-{tag}"
    # A mobile in 060 to 062 (parts of 063 and 069 are not numbers: never matched).
    national = f"6{int(tag, 16) % 3}{int(tag, 16) % 10**7:07d}"
    phone = f"+33{national}"
    secret = decrypt_secret(services.settings.secret_key, chat.widget.secret_encrypted)
    token = sign_identity(secret, {"sub": external, "email": email, "name": name,
                                   "exp": int(time.time()) + 600})
    visitor = await client.post(chat.site("/visitors"), headers={
        "Origin": "https://shop.example.com"}, json={"identity": token, "page": {
            "url": f"https://shop.example.com/orders?who={email}", "title": name,
            "referrer": ""}})
    assert visitor.status_code == 200, visitor.text
    visiting = {"Origin": "https://shop.example.com",
                "X-Visitor-Token": visitor.json()["visitor_token"]}
    started = await client.post(chat.site("/conversations"), headers=visiting, json={
        "text": f"I am {name}, call me on {phone} or write to {email}"})
    assert started.status_code == 201, started.text
    left = await client.post(chat.site("/messages"), headers=visiting, json={
        "name": name, "email": email, "text": f"Please answer {name}"})
    assert left.status_code == 201, left.text
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        # An email thread from the same address, through the email channel's matching.
        thread = EmailThread(tenant_id=tenant_id, subject=f"Order for {name}",
                             customer_address=email, customer_name=name, reply_token=tag * 2)
        session.add(thread)
        await session.flush()
        session.add(EmailMessage(
            tenant_id=tenant_id, thread_id=thread.id, direction="in",
            message_key=f"<{tag}@example.org>", message_id=f"<{tag}@example.org>",
            from_address=email, from_name=name, to=["help@acme.test"], subject=thread.subject,
            text=f"Hello, {name} here ({phone})", new_text=f"Hello, {name} here"))
        session.add(EmailAddress(tenant_id=tenant_id, address=email, bounce_count=1,
                                 bounce_reason=f"550 {email} unknown"))
        email_contact = await email_contacts.open_contact(
            session, thread, target={"queue_id": chat.queue.id}, source=chat.widget.id)
        # A callback to their number.
        subject = email_contacts._subject(tenant_id, chat.widget.id, "voice")
        call_contact = await contact_service.create_contact(session, subject, ContactIn(
            channel="callback", queue_id=chat.queue.id, customer_key=phone,
            attributes={"number": phone, "name": name}))
        by_phone = await matching.match_contact(session, call_contact, phone=phone, name=name)
        call = Call(tenant_id=tenant_id, contact_id=call_contact.id, kind="callback",
                    status="ended", customer_number=phone, visitor_id=chat.visitor.id)
        session.add(call)
        await session.flush()
        session.add(CallLeg(tenant_id=tenant_id, call_id=call.id, role="customer",
                            kind="phone", direction="outbound", address=phone))
        contacts = (await session.scalars(select(Contact).where(
            col(Contact.tenant_id) == tenant_id))).all()
    people = {c.person_id for c in contacts}
    assert len(people) == 2 and email_contact.person_id is not None  # the number is new
    assert by_phone is not None
    merged = await client.post(f"{API}/people/{email_contact.person_id}/merge",
                               headers=chat.admin_headers,
                               json={"duplicate_id": str(by_phone.id)})
    assert merged.status_code == 200, merged.text
    person_id = email_contact.person_id
    await client.post(f"{API}/people/{person_id}/notes", headers=chat.admin_headers,
                      json={"body": f"{name} prefers {phone}"})
    visitor_id = visitor.json().get("visitor_id")
    values = [email, phone, national, name, external]
    assert traces(test_database, values)  # the scan does see them before

    erased = await client.post(f"{API}/people/{person_id}/erase", headers=chat.admin_headers)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["contacts"] == 4
    assert traces(test_database, values) == []
    if visitor_id:
        assert traces(test_database, [visitor_id, uuid.UUID(visitor_id).hex]) == []
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        [entry] = (await session.scalars(select(AuditEntry).where(
            col(AuditEntry.tenant_id) == tenant_id,
            col(AuditEntry.action) == "crm.person_erased"))).all()
        assert entry.target == str(person_id) and entry.details["counts"]["calls"] == 1
    assert (await client.get(f"{API}/people/{person_id}",
                             headers=chat.admin_headers)).status_code == 404
