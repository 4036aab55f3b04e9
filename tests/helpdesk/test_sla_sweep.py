"""The SLA sweep at fixed instants: a case whose first response is at risk escalates to
the policy's team, then breaches and escalates again; the team's supervisor hears of it
on their live connection and by mail, the tenant's webhook gets ``case.sla_breached``,
the person's timeline shows it. An agent's reply meets the target; pending pauses the
resolution clock and the customer writing again reopens the case; solved cases close
after the tenant's delay."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import httpx

from plateaux.helpdesk import tasks
from plateaux.helpdesk.notify import NOTIFICATION_EVENT
from plateaux.platform.services import Services
from tests.channels.chat_world import assigned_conversation
from tests.crm.test_webhooks import Receiver
from tests.helpdesk.conftest import delivered
from tests.helpdesk.world import API, DESK, desk_world
from tests.support.console_pages import SmtpSink
from tests.support.factories import TenantFactory
from tests.support.waiting import until


def at(case: dict[str, object], minutes: float) -> object:
    from datetime import datetime

    return datetime.fromisoformat(str(case["created_at"])) + timedelta(minutes=minutes)


async def test_at_risk_then_breached_escalates_and_notifies(
        desk: httpx.AsyncClient, desk_services: Services, desk_tenants: TenantFactory,
        desk_smtp: SmtpSink, receiver: Receiver) -> None:
    world = await desk_world(desk_services, desk_tenants, desk)
    admin = world.admin
    team = await desk.post(f"{API}/teams", headers=admin, json={"name": "Second line"})
    assert team.status_code == 201, team.text
    member = await desk.post(f"{API}/teams/{team.json()['id']}/members", headers=admin,
                             json={"user_id": str(world.supervisor.id)})
    assert member.status_code == 201, member.text
    policy = await desk.post(f"{DESK}/sla-policies", headers=admin, json={
        "name": "Everyone", "first_response_minutes": 60, "resolution_minutes": 480,
        "business_hours": False, "at_risk_percent": 50,
        "escalation_team_id": team.json()["id"]})
    assert policy.status_code == 201, policy.text
    hook = await desk.post(f"{API}/crm/webhooks", headers=admin, json={
        "url": f"http://127.0.0.1:{receiver.port}/hooks", "events": ["case.sla_breached"]})
    rule = await desk.put(f"{DESK}/settings", headers=admin, json={
        "auto_case_channels": ["email", "form"]})
    assert rule.status_code == 200, rule.text
    assert hook.status_code == 201, hook.text
    left = await desk.post(world.chat.site("/messages"), headers=world.chat.visitor_headers,
                           json={"name": "Noé", "email": f"noe-{uuid.uuid4().hex[:6]}@ex.org",
                                 "text": "My order never arrived"})
    assert left.status_code == 201, left.text
    await delivered(desk_services)  # what follows the commit (the case's subject) is done
    [case] = (await desk.get(f"{DESK}/cases", headers=world.agent)).json()["items"]
    assert case["sla_policy_id"] == policy.json()["id"]
    assert case["sla"]["first_response"]["state"] == "running"
    tenant_id = world.tenant_id

    async with desk_services.bus.subscribe(tenant_id, [f"user:{world.supervisor.id}"]) as live:
        # 35 minutes in: past half of the hour, at risk; escalated to the second line.
        done = await tasks.sweep_tenant(desk_services, tenant_id, now=at(case, 35))
        assert done["checked"] == 1
        event = await live.get(timeout=10)
        assert event is not None and event.type == NOTIFICATION_EVENT
        assert "SLA at risk" in event.payload["title"]
        risky = (await desk.get(f"{DESK}/cases/{case['id']}", headers=world.agent)).json()
        assert (risky["case"]["level"], risky["case"]["team_id"]) == (2, team.json()["id"])
        assert risky["case"]["sla"]["first_response"]["state"] == "at_risk"
        assert [e["reason"] for e in risky["escalations"]] == ["sla_at_risk"]
        # Sweeping again at the same instant announces nothing twice.
        await tasks.sweep_tenant(desk_services, tenant_id, now=at(case, 36))
        assert await live.get(timeout=0.3) is None
        # 65 minutes in: breached; escalated once more.
        await tasks.sweep_tenant(desk_services, tenant_id, now=at(case, 65))
        breached = await live.get(timeout=10)
        assert breached is not None and "SLA breached" in breached.payload["title"]
    detail = (await desk.get(f"{DESK}/cases/{case['id']}", headers=world.agent)).json()
    assert detail["case"]["sla_breached"] and detail["case"]["level"] == 3
    assert detail["case"]["sla"]["first_response"]["state"] == "breached"
    assert {"sla_at_risk", "sla_breached"} <= {e["kind"] for e in detail["events"]}
    await delivered(desk_services)
    subjects = [m["Subject"] for m in desk_smtp.to(world.supervisor.email)]
    assert any("SLA at risk" in s for s in subjects) and any("SLA breached" in s
                                                             for s in subjects)

    async def hooked() -> bool:
        return any(json.loads(body)["type"] == "case.sla_breached"
                   for _, body in receiver.received)

    await until(hooked, timeout=20, what="the breach webhook")
    payload = json.loads(receiver.received[-1][1])
    assert payload["data"]["sla"]["metric"] == "first_response"
    timeline = (await desk.get(f"{API}/crm/people/{case['person_id']}/timeline",
                               headers=world.agent)).json()
    assert any(i["title"] == f"Case #{case['number']}: First response target missed"
               for i in timeline)


async def test_replies_pauses_reopening_and_closing(
        desk: httpx.AsyncClient, desk_services: Services, desk_tenants: TenantFactory) -> None:
    world = await desk_world(desk_services, desk_tenants, desk)
    policy = await desk.post(f"{DESK}/sla-policies", headers=world.admin, json={
        "name": "Chats", "channels": ["chat"], "first_response_minutes": 30,
        "next_response_minutes": 60, "resolution_minutes": 120, "business_hours": False})
    assert policy.status_code == 201, policy.text
    chat = await assigned_conversation(desk_services, desk, world.chat, text="Hello, refund?")
    reply = await desk.post(f"{API}/conversations/{chat['conversation_id']}/messages",
                            headers=world.agent, json={"text": "Let me check"})
    assert reply.status_code == 201, reply.text
    created = await desk.post(f"{DESK}/cases", headers=world.agent, json={
        "contact_id": chat["contact_id"], "owner_id": str(world.chat.agent.id),
        "status": "pending"})
    case = created.json()
    assert case["sla"]["first_response"]["state"] == "met"
    assert case["first_response_at"] is not None
    tenant_id = world.tenant_id
    # Pending for hours: the resolution clock does not run.
    await tasks.sweep_tenant(desk_services, tenant_id, now=at(case, 300))
    paused = (await desk.get(f"{DESK}/cases/{case['id']}", headers=world.agent)).json()["case"]
    assert paused["status"] == "pending" and paused["sla"]["resolution"]["state"] == "paused"
    assert not paused["sla_breached"]
    # The customer writes: the case is open again and a reply is owed.
    again = await desk.post(world.chat.site(f"/conversations/{chat['conversation_id']}/messages"),
                            headers=world.chat.visitor_headers, json={"text": "Any news?"})
    assert again.status_code == 201, again.text
    # (looked at again within the recheck interval, two minutes)
    done = await tasks.sweep_tenant(desk_services, tenant_id, now=at(case, 303))
    assert done["reopened"] == 1
    woken = (await desk.get(f"{DESK}/cases/{case['id']}", headers=world.agent)).json()
    assert woken["case"]["status"] == "open"
    # Their message is five hours old at that instant: the next response is already late.
    assert woken["case"]["sla"]["next_response"]["state"] == "breached"
    assert any(e["kind"] == "reopened" for e in woken["events"])
    owner_notes = (await desk.get(f"{DESK}/notifications", headers=world.agent)).json()
    assert "customer_replied" in [n["kind"] for n in owner_notes]
    # Solved, then closed by the sweep once the tenant's delay (4 days) has passed.
    solved = await desk.post(f"{DESK}/cases/{case['id']}/solve", headers=world.agent, json={})
    assert solved.status_code == 200, solved.text
    await tasks.sweep_tenant(desk_services, tenant_id, now=at(case, 60 * 24 * 2))
    assert (await desk.get(f"{DESK}/cases/{case['id']}", headers=world.agent)
            ).json()["case"]["status"] == "solved"
    await tasks.sweep_tenant(desk_services, tenant_id, now=at(case, 60 * 24 * 5))
    closed = (await desk.get(f"{DESK}/cases/{case['id']}", headers=world.agent)).json()
    assert closed["case"]["status"] == "closed" and closed["case"]["closed_at"]
