"""Every API route with an id in its path, called with another tenant's ids, says 404.

The ids are real: tenant B owns an object of every kind; tenant A's admin (all scopes)
tries each of them in every id parameter of every route, with every method. Nothing of B's
may be read, changed or deleted, and the answer must not even confirm the id exists.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from plateaux.platform.app import API_PREFIX
from plateaux.platform.services import Services
from plateaux.tenants.models import Role
from tests.support.factories import TenantFactory, TenantWorld, bearer

PARAM = re.compile(r"{(\w+)}")


async def _populate(client: httpx.AsyncClient, world: TenantWorld, tenants: TenantFactory) -> None:
    """Give the tenant one object of every kind, through the API where it exists."""
    headers = await bearer(client, world)
    agent = await tenants.add_user(world, role=Role.AGENT)
    for path, body in [
        ("/teams", {"name": "Team B"}),
        ("/sites", {"name": "Site B"}),
        ("/skills", {"name": "Skill B"}),
        ("/domains", {"domain": "b.example.com"}),
        ("/holidays", {"day": "2030-12-25", "name": "Christmas"}),
        ("/api-keys", {"name": "key B", "scopes": ["tenant:read"]}),
        ("/invitations", {"email": "new@b.example.com", "role": "agent"}),
    ]:
        await client.post(API_PREFIX + path, json=body, headers=headers)
    routing = API_PREFIX + "/routing"
    queue = await client.post(routing + "/queues", json={"name": "Queue B"}, headers=headers)
    queue_id = queue.json()["id"]
    for path, body in [
        ("/workflows", {"name": "Workflow B",
                        "definition": {"default_steps": [{"queue_id": queue_id}]}}),
        ("/away-reasons", {"code": "break", "label": "Break"}),
    ]:
        assert (await client.post(routing + path, json=body, headers=headers)).status_code == 201
    profile = await client.put(f"{routing}/profiles/{agent.id}", headers=headers,
                               json={"queues": {queue_id: {"priority": 1}}})
    assert profile.status_code == 200, profile.text
    for path, body in [
        ("/canned-responses", {"shortcut": "hello", "title": "Hello", "body": "Hello {name}"}),
        ("/wrap-up-codes", {"code": "solved", "label": "Solved"}),
    ]:
        assert (await client.post(API_PREFIX + path, json=body, headers=headers)
                ).status_code == 201
    # A website visitor with a conversation, a message and an attachment, and a contact.
    widget = await client.post(API_PREFIX + "/widgets", headers=headers, json={
        "name": "Site B", "allowed_domains": ["b.example.com"],
        "buttons": {"chat": {"enabled": True, "queue_id": queue_id}}})
    assert widget.status_code == 201, widget.text
    site = f"/embed/v1/sites/{widget.json()['public_key']}"
    origin = {"Origin": "https://b.example.com"}
    visitor = await client.post(f"{site}/visitors", headers=origin, json={
        "page": {"url": "https://b.example.com/", "title": "B", "referrer": ""}})
    assert visitor.status_code == 200, visitor.text
    visiting = {**origin, "X-Visitor-Token": visitor.json()["visitor_token"]}
    conversation = await client.post(f"{site}/conversations", headers=visiting,
                                     json={"text": "Hello from B"})
    assert conversation.status_code == 201, conversation.text
    upload = await client.post(
        f"{site}/conversations/{conversation.json()['conversation_id']}/attachments",
        headers=visiting, files={"file": ("note.txt", b"B's file", "text/plain")})
    assert upload.status_code in (200, 201), upload.text
    # CRM: a person with an identity and a note, a custom field, a webhook and a delivery.
    crm = API_PREFIX + "/crm"
    person = await client.post(crm + "/people", headers=headers, json={
        "name": "Person B", "identities": [{"kind": "email", "value": "pb@b.example.com"}]})
    assert person.status_code == 201, person.text
    note = await client.post(f"{crm}/people/{person.json()['id']}/notes", headers=headers,
                             json={"body": "B's note"})
    assert note.status_code == 201, note.text
    field = await client.post(crm + "/fields", headers=headers,
                              json={"key": "plan", "label": "Plan"})
    assert field.status_code == 201, field.text
    from plateaux.crm.models import Webhook, WebhookDelivery

    async with tenants.services.unit_of_work(tenant_id=world.tenant.id) as session:
        hook = Webhook(tenant_id=world.tenant.id, url="https://crm.b.example.com/hook",
                       secret_encrypted="-", events=["person.created"], active=False)
        session.add(hook)
        await session.flush()
        session.add(WebhookDelivery(tenant_id=world.tenant.id, webhook_id=hook.id,
                                    event_id=uuid.uuid4(), event="person.created",
                                    status="failed"))
    # Voice: an IVR menu and a number through the API; a call with a leg, voice settings and
    # an agent's reach number as the voice channel stores them.
    voice = API_PREFIX + "/voice"
    ivr = await client.post(voice + "/ivrs", headers=headers, json={
        "name": "IVR B", "definition": {"languages": ["en"], "queue_id": queue_id}})
    assert ivr.status_code == 201, ivr.text
    number = await client.post(voice + "/numbers", headers=headers, json={
        "e164": f"+3319{uuid.uuid4().int % 10**7:07d}", "ivr_id": ivr.json()["id"]})
    assert number.status_code == 201, number.text
    from plateaux.channels.voip.models import AgentReach, Call, CallLeg, VoiceSettings

    contact = await client.post(API_PREFIX + "/contacts", headers=headers,
                                json={"channel": "phone", "queue_id": queue_id})
    assert contact.status_code == 201, contact.text
    async with tenants.services.unit_of_work(tenant_id=world.tenant.id) as session:
        call = Call(tenant_id=world.tenant.id, contact_id=uuid.UUID(contact.json()["id"]),
                    kind="inbound", status="ended", customer_number="+33612345678")
        session.add(call)
        await session.flush()
        session.add(CallLeg(tenant_id=world.tenant.id, call_id=call.id, role="customer",
                            kind="phone", direction="inbound", status="ended"))
        session.add(VoiceSettings(tenant_id=world.tenant.id))
        session.add(AgentReach(tenant_id=world.tenant.id, user_id=agent.id, mode="phone",
                               address="+33612345678"))
    # Email: a mailbox (switched off: nothing is fetched) with a thread, a message, a
    # receipt and a quarantined message, as the email channel stores them.
    from plateaux.channels.email.models import (
        EmailMessage,
        EmailQuarantine,
        EmailReceipt,
        EmailThread,
        Mailbox,
    )

    async with tenants.services.unit_of_work(tenant_id=world.tenant.id) as session:
        box = Mailbox(tenant_id=world.tenant.id, name="Support B", address="help@b.example.com",
                      imap_host="imap.b.example.com", imap_username="help",
                      imap_password_encrypted="-", smtp_host="smtp.b.example.com",
                      enabled=False)
        session.add(box)
        await session.flush()
        thread = EmailThread(tenant_id=world.tenant.id, mailbox_id=box.id, subject="B",
                             customer_address="carol@b.example.org", reply_token="tokb")
        session.add(thread)
        await session.flush()
        message = EmailMessage(tenant_id=world.tenant.id, thread_id=thread.id,
                               mailbox_id=box.id, direction="in", message_key="<b@b>",
                               message_id="<b@b>", from_address="carol@b.example.org",
                               subject="B", text="Hello from B")
        session.add(message)
        await session.flush()
        session.add(EmailReceipt(tenant_id=world.tenant.id, mailbox_id=box.id, uid_validity=1,
                                 uid=1, outcome="stored", email_message_id=message.id))
        session.add(EmailQuarantine(tenant_id=world.tenant.id, mailbox_id=box.id,
                                    uid_validity=1, uid=2, raw_key="b/raw", size=10,
                                    reason="unreadable"))
    # Help desk: an SLA policy, a resolution code, a scorecard, a script with a run, a
    # knowledge base category and article, a case from the chat and a notification.
    desk = API_PREFIX + "/helpdesk"
    made: dict[str, str] = {}
    for name, path, body in [
        ("policy", "/sla-policies", {"name": "SLA B", "resolution_minutes": 60}),
        ("code", "/resolution-codes", {"code": "fixed", "label": "Fixed"}),
        ("scorecard", "/scorecards", {"name": "QA B", "criteria": [
            {"key": "tone", "label": "Tone"}]}),
        ("script", "/scripts", {"name": "Script B", "steps": [
            {"id": "bye", "kind": "end", "text": "Goodbye"}]}),
        ("category", "/kb/categories", {"names": {"en": "B"}}),
    ]:
        response = await client.post(desk + path, headers=headers, json=body)
        assert response.status_code == 201, response.text
        made[name] = response.json()["id"]
    article = await client.post(desk + "/kb/articles", headers=headers, json={
        "status": "published", "category_id": made["category"], "translations": [
            {"language": "en", "title": "Article B", "body_html": "<p>B</p>"}]})
    assert article.status_code == 201, article.text
    detail = await client.get(
        f"{API_PREFIX}/conversations/{conversation.json()['conversation_id']}", headers=headers)
    case = await client.post(desk + "/cases", headers=headers,
                             json={"contact_id": detail.json()["contact"]["id"]})
    assert case.status_code == 201, case.text
    run = await client.post(desk + "/script-runs", headers=headers, json={
        "script_id": made["script"], "case_id": case.json()["id"]})
    assert run.status_code == 201, run.text
    from plateaux.helpdesk.models import Notification

    async with tenants.services.unit_of_work(tenant_id=world.tenant.id) as session:
        session.add(Notification(tenant_id=world.tenant.id, user_id=world.admin.id,
                                 case_id=uuid.UUID(case.json()["id"]), kind="escalated",
                                 title="Case B"))


def _tenant_ids(run_sql: Any, tenant_id: uuid.UUID, *, hex_ids: bool) -> list[str]:
    from plateaux.platform.models import tenant_table_names

    stored = tenant_id.hex if hex_ids else str(tenant_id)
    ids: list[str] = []
    for table in tenant_table_names():
        ids += run_sql(f"SELECT id FROM \"{table}\" WHERE tenant_id = '{stored}'").split()
    return ids


def _example(spec: dict[str, Any], components: dict[str, Any]) -> Any:
    if "$ref" in spec:
        return _example(components[spec["$ref"].rsplit("/", 1)[-1]], components)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in spec:
            options = [o for o in spec[key] if o.get("type") != "null"]
            return _example(options[0], components) if options else None
    kind, fmt = spec.get("type"), spec.get("format")
    if "enum" in spec:
        return spec["enum"][0]
    if fmt == "email":
        return "probe@example.com"
    if fmt == "uuid":
        return str(uuid.uuid4())
    if kind == "integer":
        return max(1, int(spec.get("minimum", 1)))
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        props = spec.get("properties", {})
        return {name: _example(props[name], components) for name in spec.get("required", [])}
    return "probe"


def _is_upload(operation: dict[str, Any]) -> bool:
    return "multipart/form-data" in operation.get("requestBody", {}).get("content", {})


def _body_for(operation: dict[str, Any], components: dict[str, Any]) -> Any:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return None if schema is None else _example(schema, components)


# Every route with every kind of id: over four minutes alone on a slow 2-core machine,
# past the suite's default 300 s when other test processes share it.
@pytest.mark.timeout(900)
async def test_another_tenants_ids_are_not_found_on_every_route(
    app: FastAPI,
    client: httpx.AsyncClient,
    services: Services,
    tenants: TenantFactory,
    test_database: Any,
) -> None:
    a = await tenants.create()
    b = await tenants.create()
    await _populate(client, b, tenants)
    headers = await bearer(client, a)
    sqlite = test_database.backend == "sqlite"
    run_sql = _sqlite_runner(test_database) if sqlite else test_database.superuser_sql
    b_ids = _tenant_ids(run_sql, b.tenant.id, hex_ids=sqlite)
    assert len(b_ids) >= 8
    before = len(b_ids)

    probed = 0
    failures: list[str] = []
    spec = app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    for template, operations in spec["paths"].items():
        params = PARAM.findall(template)
        if not params:
            continue
        for method, operation in operations.items():
            body = _body_for(operation, components)
            for foreign_id in b_ids:
                path = template
                for p in params:
                    path = path.replace("{" + p + "}", foreign_id)
                if _is_upload(operation):
                    response = await client.request(
                        method.upper(), path, headers=headers,
                        files={"file": ("probe.txt", b"probe", "text/plain")})
                else:
                    response = await client.request(method.upper(), path, headers=headers,
                                                    json=body)
                probed += 1
                if response.status_code != 404:
                    failures.append(f"{method.upper()} {template} -> {response.status_code}")
    assert probed > 0
    assert not failures, "routes that did not answer 404:\n" + "\n".join(sorted(set(failures)))
    after = _tenant_ids(run_sql, b.tenant.id, hex_ids=sqlite)
    assert len(after) >= before, "a probe deleted another tenant's data"


def _sqlite_runner(test_database: Any) -> Any:
    import sqlite3

    path = test_database.app_url.split(":///", 1)[1]

    def run(sql: str) -> str:
        with sqlite3.connect(path) as conn:
            rows = conn.execute(sql).fetchall()
        out = []
        for row in rows:
            value = row[0]
            if isinstance(value, str) and len(value) == 32:
                value = str(uuid.UUID(hex=value))
            out.append(str(value))
        return "\n".join(out)

    return run
