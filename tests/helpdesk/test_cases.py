"""Cases through the API: opened by an agent from a chat, worked (owner, priority, notes),
escalated by hand, solved with a resolution code, rated by the customer in the chat and
reviewed by a supervisor with a scorecard; on the person's timeline, announced to the
tenant's webhooks, invisible to another tenant."""

from __future__ import annotations

import json

import httpx

from plateaux.crm.signing import HEADER, verify
from plateaux.platform.services import Services
from tests.channels.chat_world import assigned_conversation
from tests.crm.test_webhooks import Receiver
from tests.helpdesk.conftest import delivered
from tests.helpdesk.world import API, DESK, desk_world, problem
from tests.support.console_pages import SmtpSink
from tests.support.factories import TenantFactory
from tests.support.waiting import until


async def test_a_case_from_a_chat_from_opening_to_review(
        desk: httpx.AsyncClient, desk_services: Services, desk_tenants: TenantFactory,
        desk_smtp: SmtpSink, receiver: Receiver) -> None:
    world = await desk_world(desk_services, desk_tenants, desk)
    admin, agent, supervisor = world.admin, world.agent, world.supervisor_headers
    hook = await desk.post(f"{API}/crm/webhooks", headers=admin, json={
        "url": f"http://127.0.0.1:{receiver.port}/hooks",
        "events": ["case.created", "case.updated", "case.escalated", "case.solved"]})
    assert hook.status_code == 201, hook.text
    for code, label in (("fixed", "Fixed"), ("workaround", "Workaround given")):
        made = await desk.post(f"{DESK}/resolution-codes", headers=admin,
                               json={"code": code, "label": label})
        assert made.status_code == 201, made.text
    card = await desk.post(f"{DESK}/scorecards", headers=admin, json={
        "name": "Support QA", "criteria": [
            {"key": "greeting", "label": "Greets the customer", "weight": 1},
            {"key": "solution", "label": "Solves the problem", "weight": 3},
            {"key": "upsell", "label": "Mentions the offer", "weight": 1}]})
    assert card.status_code == 201, card.text
    chat = await assigned_conversation(desk_services, desk, world.chat,
                                       text="My printer shows error E42 when printing")
    contact_id = chat["contact_id"]

    created = await desk.post(f"{DESK}/cases", headers=agent, json={"contact_id": contact_id})
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["subject"] == "My printer shows error E42 when printing"
    assert (case["status"], case["number"], case["channel"]) == ("new", 1, "chat")
    assert case["person_id"] is not None
    problem(await desk.post(f"{DESK}/cases", headers=agent, json={"contact_id": contact_id}), 409)
    panel = (await desk.get(f"{DESK}/contacts/{contact_id}/panel", headers=agent)).json()
    assert panel["case"]["id"] == case["id"]
    assert [c["code"] for c in panel["resolution_codes"]] == ["fixed", "workaround"]

    changed = await desk.patch(f"{DESK}/cases/{case['id']}", headers=agent, json={
        "priority": "high", "owner_id": str(world.chat.agent.id), "category": "Printers"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["status"], changed.json()["priority"]) == ("open", "high")
    assert (await desk.post(f"{DESK}/cases/{case['id']}/notes", headers=agent,
                            json={"body": "Asked for the printer model"})).status_code == 201

    # By hand to the next level: the supervisor hears of it, in the console and by mail.
    escalated = await desk.post(f"{DESK}/cases/{case['id']}/escalate", headers=agent,
                                json={"note": "Needs a technician"})
    assert escalated.status_code == 201, escalated.text
    assert (escalated.json()["from_level"], escalated.json()["to_level"]) == (1, 2)
    notes = (await desk.get(f"{DESK}/notifications", headers=supervisor)).json()
    assert notes[0]["kind"] == "escalated" and "level 2" in notes[0]["title"]
    await delivered(desk_services)
    mails = desk_smtp.to(world.supervisor.email)
    assert mails and "[Case #1]" in mails[-1]["Subject"]
    assert f"/t/{world.chat.world.slug}/agent/cases/{case['id']}" in SmtpSink.body(mails[-1])
    read = await desk.post(f"{DESK}/notifications/{notes[0]['id']}/read", headers=supervisor)
    assert read.status_code == 204
    # Not someone else's notification, even in the same tenant.
    assert (await desk.post(f"{DESK}/notifications/{notes[0]['id']}/read",
                            headers=agent)).status_code == 404

    # The customer rates the chat at its end: the case takes that score when solved.
    rated = await desk.post(world.chat.site(f"/conversations/{chat['conversation_id']}/rating"),
                            headers=world.chat.visitor_headers,
                            json={"score": 4, "comment": "Quick and kind"})
    assert rated.status_code == 204, rated.text
    problem(await desk.post(f"{DESK}/cases/{case['id']}/solve", headers=agent, json={}), 422)
    problem(await desk.post(f"{DESK}/cases/{case['id']}/reviews", headers=supervisor, json={
        "scorecard_id": card.json()["id"], "scores": {"greeting": 5}}), 409)
    solved = await desk.post(f"{DESK}/cases/{case['id']}/solve", headers=agent,
                             json={"resolution_code": "fixed", "resolution_note": "New drum"})
    assert solved.status_code == 200, solved.text
    assert solved.json()["status"] == "solved"
    assert (solved.json()["csat_score"], solved.json()["csat_source"]) == (4, "chat")

    # Quality: a supervisor reviews the finished case; agents may not.
    scores = {"greeting": 5, "solution": 4, "upsell": None}
    problem(await desk.post(f"{DESK}/cases/{case['id']}/reviews", headers=agent, json={
        "scorecard_id": card.json()["id"], "scores": scores}), 403)
    problem(await desk.post(f"{DESK}/cases/{case['id']}/reviews", headers=supervisor, json={
        "scorecard_id": card.json()["id"], "scores": {"greeting": 9}}), 422)
    review = await desk.post(f"{DESK}/cases/{case['id']}/reviews", headers=supervisor, json={
        "scorecard_id": card.json()["id"], "scores": scores, "comment": "Good diagnosis"})
    assert review.status_code == 201, review.text
    assert review.json()["percent"] == 85.0  # (1×5 + 3×4) / (4×5); not applicable left out
    problem(await desk.post(f"{DESK}/cases/{case['id']}/reviews", headers=supervisor, json={
        "scorecard_id": card.json()["id"], "scores": scores}), 409)
    agent_notes = (await desk.get(f"{DESK}/notifications", headers=agent)).json()
    assert agent_notes[0]["kind"] == "reviewed" and "85" in agent_notes[0]["title"]

    detail = (await desk.get(f"{DESK}/cases/{case['id']}", headers=agent)).json()
    kinds = [e["kind"] for e in reversed(detail["events"])]
    assert kinds[:2] == ["created", "updated"] and "escalated" in kinds
    assert kinds[-3:] == ["solved", "satisfaction", "reviewed"]
    assert detail["escalations"][0]["note"] == "Needs a technician"
    assert detail["contacts"][0]["contact_id"] == contact_id

    # The person's timeline shows the case and what happened to it.
    timeline = (await desk.get(f"{API}/crm/people/{case['person_id']}/timeline",
                               headers=agent)).json()
    case_items = [i for i in timeline if i["kind"] in ("case", "case_event")]
    assert {i["title"] for i in case_items} >= {
        "Case #1: My printer shows error E42 when printing", "Case #1 solved",
        "Case #1 escalated to level 2"}

    # The tenant's own system heard of it, signed.
    async def heard() -> list[str]:
        kinds = [json.loads(body)["type"] for _, body in receiver.received]
        return kinds if "case.solved" in kinds else []

    heard_kinds = await until(heard, timeout=20, what="the case webhooks")
    assert heard_kinds[0] == "case.created"
    assert {"case.updated", "case.escalated"} <= set(heard_kinds)
    headers, body = receiver.received[-1]
    assert verify(hook.json()["secret"], body, headers[HEADER.lower()])
    assert json.loads(body)["data"]["case"]["number"] == 1

    # Another tenant sees none of it.
    other = await desk_world(desk_services, desk_tenants, desk)
    problem(await desk.get(f"{DESK}/cases/{case['id']}", headers=other.admin), 404)
    assert (await desk.get(f"{DESK}/cases", headers=other.admin)).json()["total"] == 0


async def test_case_rules_and_problems(desk: httpx.AsyncClient, desk_services: Services,
                                       desk_tenants: TenantFactory) -> None:
    world = await desk_world(desk_services, desk_tenants, desk)
    admin, agent = world.admin, world.agent
    # Emails and the site's email form open cases by themselves; this tenant wants the
    # messages left while nobody could chat to do so too.
    rule = await desk.put(f"{DESK}/settings", headers=admin, json={
        "auto_case_channels": ["email", "webform", "form"]})
    assert rule.status_code == 200, rule.text
    left = await desk.post(world.chat.site("/messages"), headers=world.chat.visitor_headers,
                           json={"name": "Noé", "email": "noe@example.org",
                                 "text": "Please call me about my invoice"})
    assert left.status_code == 201, left.text
    await delivered(desk_services)  # the case's subject is what the customer wrote
    found = (await desk.get(f"{DESK}/cases", headers=agent)).json()
    assert found["total"] == 1
    ruled = found["items"][0]
    assert (ruled["source"], ruled["channel"], ruled["status"]) == ("rule", "form", "new")
    assert ruled["subject"] == "Please call me about my invoice"
    # A tenant that wants no automatic case.
    settings = await desk.put(f"{DESK}/settings", headers=admin, json={
        "auto_case_channels": [], "categories": ["Billing", "Printers"]})
    assert settings.status_code == 200, settings.text
    again = await desk.post(world.chat.site("/messages"), headers=world.chat.visitor_headers,
                            json={"name": "Noé", "email": "noe@example.org", "text": "Hello?"})
    assert again.status_code == 201
    assert (await desk.get(f"{DESK}/cases", headers=agent)).json()["total"] == 1
    problem(await desk.put(f"{DESK}/settings", headers=agent, json={}), 403)
    # Refusals are problem details.
    problem(await desk.post(f"{DESK}/cases", headers=agent, json={}), 422)
    problem(await desk.post(f"{DESK}/cases", headers=agent, json={
        "subject": "x", "category": "Nope"}), 422)
    problem(await desk.post(f"{DESK}/cases", headers=agent, json={
        "subject": "x", "owner_id": str(world.supervisor.id), "level": 5}), 422)
    by_hand = await desk.post(f"{DESK}/cases", headers=agent, json={
        "subject": "Invoice twice", "category": "Billing", "person_id": ruled["person_id"],
        "owner_id": str(world.chat.agent.id)})
    assert by_hand.status_code == 201, by_hand.text
    assert (by_hand.json()["number"], by_hand.json()["status"]) == (2, "open")
    case_id = by_hand.json()["id"]
    problem(await desk.post(f"{DESK}/cases/{case_id}/escalate", headers=agent,
                            json={"level": 1}), 422)
    problem(await desk.post(f"{DESK}/cases/{case_id}/reopen", headers=agent, json={}), 409)
    closed = await desk.post(f"{DESK}/cases/{case_id}/solve", headers=agent,
                             json={"close": True})
    assert closed.json()["status"] == "closed", closed.text
    problem(await desk.patch(f"{DESK}/cases/{case_id}", headers=agent,
                             json={"priority": "low"}), 409)
    problem(await desk.post(f"{DESK}/cases/{case_id}/reopen", headers=agent, json={}), 409)
    # Filters.
    mine = (await desk.get(f"{DESK}/cases", headers=agent,
                           params={"owner": "me", "status": ["closed"]})).json()
    assert [c["number"] for c in mine["items"]] == [2]
    assert (await desk.get(f"{DESK}/cases", headers=agent,
                           params={"q": "invoice"})).json()["total"] == 2
    assert (await desk.get(f"{DESK}/cases", headers=agent,
                           params={"q": "#2"})).json()["items"][0]["id"] == case_id
