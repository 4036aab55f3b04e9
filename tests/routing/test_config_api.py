"""The routing configuration API: queues, workflows, routing profiles and away reasons,
their validation, tenant isolation, the change events, and the live router following
what is configured through it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from plateaux.platform.services import Services
from plateaux.routing import live_repository
from plateaux.routing.demo import seed_routing
from plateaux.tenants.models import Role
from tests.support.factories import TenantFactory, TenantWorld, bearer
from tests.support.waiting import until

API = "/api/v1"
R = f"{API}/routing"


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


async def make_queue(client: httpx.AsyncClient, h: dict[str, str], name: str,
                     **fields: Any) -> dict[str, Any]:
    response = await client.post(f"{R}/queues", headers=h, json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def make_skill(client: httpx.AsyncClient, h: dict[str, str], name: str) -> str:
    response = await client.post(f"{API}/skills", headers=h, json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def bullseye(vip: str, support: str, skill: str) -> dict[str, Any]:
    return {
        "filters": [{"name": "vip", "expression": "tier == 'gold'", "steps": [
            {"queue_id": vip, "required_skills": {skill: 4}, "timeout": 20},
            {"queue_id": vip}]}],
        "default_steps": [{"queue_id": support}],
        "overflow": {"action": "offer_callback"},
        "max_estimated_wait": 600,
    }


# --- queues ----------------------------------------------------------------------------


async def test_queue_crud_and_validation(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    skill = await make_skill(client, h, "Billing")
    queue = await make_queue(client, h, "Sales", ordering="lifo", strategy="highest_skill",
                             sla_target=0.9, offer_to=2, thresholds=[
                                 {"skill": skill, "min_level": 3, "max_share": 0.5}])
    assert queue["ordering"] == "lifo" and queue["strategy"] == "highest_skill"
    assert queue["accept_timeout_seconds"] == 30.0 and queue["offer_to"] == 2
    assert queue["thresholds"] == [{"skill": skill, "min_level": 3, "max_share": 0.5}]

    listed = (await client.get(f"{R}/queues", headers=h)).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == queue["id"]
    url = f"{R}/queues/{queue['id']}"
    assert (await client.get(url, headers=h)).json()["name"] == "Sales"

    changed = await client.patch(url, headers=h, json={
        "accept_timeout_seconds": None, "wrap_up_seconds": 15, "thresholds": []})
    assert changed.status_code == 200, changed.text
    assert changed.json()["accept_timeout_seconds"] is None
    assert changed.json()["wrap_up_seconds"] == 15 and changed.json()["thresholds"] == []
    assert changed.json()["ordering"] == "lifo"  # untouched

    taken = problem(await client.post(f"{R}/queues", headers=h, json={"name": "sales"}), 409)
    assert "already exists" in taken["detail"]
    await make_queue(client, h, "Support")
    problem(await client.patch(url, headers=h, json={"name": "SUPPORT"}), 409)

    for bad in [{"ordering": "random"}, {"strategy": "round_robin"}, {"sla_target": 1.5},
                {"offer_to": 0}, {"accept_timeout_seconds": -1},
                {"sla_threshold_seconds": 0}, {"sticky_seconds": -5}, {"colour": "red"},
                {"thresholds": [{"skill": skill, "min_share": 0.8, "max_share": 0.2}]},
                {"thresholds": [{"min_level": 2, "max_busy": 3}]},
                {"thresholds": [{"skill": skill}]}]:
        response = await client.post(f"{R}/queues", headers=h, json={"name": "Bad", **bad})
        problem(response, 422)
    foreign = problem(await client.post(f"{R}/queues", headers=h, json={
        "name": "Bad", "thresholds": [{"site": str(uuid.uuid4()), "max_busy": 2}]}), 422)
    assert "Unknown site" in foreign["detail"]
    problem(await client.patch(url, headers=h, json={"name": None}), 422)

    assert (await client.delete(url, headers=h)).status_code == 204
    problem(await client.get(url, headers=h), 404)


# --- workflows -------------------------------------------------------------------------


async def test_workflow_crud_and_validation(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    other = await tenants.create()
    h = await bearer(client, world)
    oh = await bearer(client, other)
    vip = (await make_queue(client, h, "VIP"))["id"]
    support = (await make_queue(client, h, "Support"))["id"]
    skill = await make_skill(client, h, "Sales")
    theirs = (await make_queue(client, oh, "Theirs"))["id"]
    their_skill = await make_skill(client, oh, "Theirs")

    created = await client.post(f"{R}/workflows", headers=h, json={
        "name": "Website", "definition": bullseye(vip, support, skill)})
    assert created.status_code == 201, created.text
    workflow = created.json()
    assert workflow["definition"]["overflow"] == {"action": "offer_callback"}
    url = f"{R}/workflows/{workflow['id']}"
    assert (await client.get(f"{R}/workflows", headers=h)).json()["total"] == 1

    def refused(definition: dict[str, Any]) -> Any:
        return client.post(f"{R}/workflows", headers=h,
                           json={"name": "Bad", "definition": definition})

    no_default = problem(await refused({"default_steps": []}), 422)
    assert "a workflow needs a default step" in no_default["detail"]
    broken = bullseye(vip, support, skill)
    broken["filters"][0]["expression"] = "tier == 'gold' and"
    syntax = problem(await refused(broken), 422)
    assert syntax["field"] == "filters[0].expression" and syntax["position"] == 18
    assert "at character 19" in syntax["detail"]  # 1-based for people
    agent_expr = bullseye(vip, support, skill)
    agent_expr["default_steps"][0]["agent_expression"] = "languages contains"
    assert problem(await refused(agent_expr), 422)["field"] == \
        "default_steps[0].agent_expression"
    misspelt = bullseye(vip, support, skill)
    misspelt["default_steps"][0]["timout"] = 20
    assert "timout" in problem(await refused(misspelt), 422)["detail"]
    decreasing = bullseye(vip, support, skill)
    decreasing["filters"][0]["steps"][1]["timeout"] = 10
    assert "timeouts must increase" in problem(await refused(decreasing), 422)["detail"]
    bad_level = bullseye(vip, support, skill)
    bad_level["filters"][0]["steps"][0]["required_skills"] = {skill: 9}
    problem(await refused(bad_level), 422)
    fractional = bullseye(vip, support, skill)
    fractional["default_steps"][0]["priority"] = 1.5
    assert "whole number" in problem(await refused(fractional), 422)["detail"]
    problem(await refused({**bullseye(vip, support, skill),
                           "overflow": {"action": "transfer_queue"}}), 422)
    problem(await refused({**bullseye(vip, support, skill), "overflow": {"action": "panic"}}),
            422)

    # Naming another tenant's queue, skill or agent, or an id that is not one.
    foreign_queue = problem(await refused(bullseye(vip, theirs, skill)), 422)
    assert "Unknown queue" in foreign_queue["detail"] and theirs in foreign_queue["detail"]
    assert "Unknown skill" in problem(
        await refused(bullseye(vip, support, their_skill)), 422)["detail"]
    targeted = bullseye(vip, support, skill)
    targeted["default_steps"][0]["target_agent"] = str(other.admin.id)
    assert "Unknown agent" in problem(await refused(targeted), 422)["detail"]
    assert "Unknown queue" in problem(await refused(bullseye(vip, "nope", skill)), 422)["detail"]
    transfer = {**bullseye(vip, support, skill),
                "overflow": {"action": "transfer_queue", "queue_id": theirs}}
    problem(await refused(transfer), 422)

    problem(await client.post(f"{R}/workflows", headers=h, json={
        "name": "website", "definition": bullseye(vip, support, skill)}), 409)
    changed = await client.patch(url, headers=h, json={
        "description": "From the site", "definition": {"default_steps": [{"queue_id": vip}]}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["definition"] == {"default_steps": [{"queue_id": vip}]}
    problem(await client.patch(url, headers=h, json={"definition": {"default_steps": [
        {"queue_id": theirs}]}}), 422)

    # A queue a workflow uses cannot be deleted; the answer names the workflow.
    in_use = problem(await client.delete(f"{R}/queues/{vip}", headers=h), 409)
    assert "'Website'" in in_use["detail"] and in_use["workflows"] == ["Website"]
    assert (await client.delete(f"{R}/queues/{support}", headers=h)).status_code == 204
    assert (await client.delete(url, headers=h)).status_code == 204
    assert (await client.delete(f"{R}/queues/{vip}", headers=h)).status_code == 204


# --- routing profiles ------------------------------------------------------------------


async def test_routing_profiles(client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    other = await tenants.create()
    h = await bearer(client, world)
    agent = await tenants.add_user(world, name="Ann")
    queue = (await make_queue(client, h, "Sales"))["id"]
    theirs = (await make_queue(client, await bearer(client, other), "Theirs"))["id"]
    url = f"{R}/profiles/{agent.id}"

    fresh = (await client.get(url, headers=h)).json()
    assert fresh["updated_at"] is None and fresh["queues"] == {}
    assert fresh["capacity"]["chat"] == 3 and fresh["capacity"]["phone"] == 1

    saved = await client.put(url, headers=h, json={
        "capacity": {"chat": 2, "email": 0}, "chats_beside_calls": True,
        "queues": {queue: {"priority": 2, "delay": 30}}})
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["capacity"]["chat"] == 2 and body["capacity"]["email"] == 0
    assert body["capacity"]["phone"] == 1  # not sent: the default
    assert body["chats_beside_calls"] is True and body["updated_at"] is not None
    assert body["queues"] == {queue: {"priority": 2, "delay": 30.0}}
    assert (await client.get(url, headers=h)).json() == body
    listed = (await client.get(f"{R}/profiles", headers=h)).json()
    assert listed["total"] == 2
    assert {p["user_id"]: p for p in listed["items"]}[str(agent.id)] == body

    for bad in [{"capacity": {"fax": 1}}, {"capacity": {"chat": -1}},
                {"queues": {queue: {"priority": 0}}}, {"queues": {queue: {"delay": -1}}},
                {"queues": {"not-an-id": {}}}, {"skills": {}}]:
        problem(await client.put(url, headers=h, json=bad), 422)
    foreign = problem(await client.put(url, headers=h, json={"queues": {theirs: {}}}), 422)
    assert "Unknown queue" in foreign["detail"]
    problem(await client.get(f"{R}/profiles/{other.admin.id}", headers=h), 404)
    problem(await client.put(f"{R}/profiles/{other.admin.id}", headers=h, json={}), 404)
    problem(await client.get(f"{R}/profiles/{uuid.uuid4()}", headers=h), 404)

    # Deleting a queue takes it out of the profiles that served it.
    assert (await client.delete(f"{R}/queues/{queue}", headers=h)).status_code == 204
    assert (await client.get(url, headers=h)).json()["queues"] == {}


# --- away reasons ----------------------------------------------------------------------


async def test_away_reasons(client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    agent = await tenants.add_user(world)
    agent_h = await bearer(client, world, agent.email)
    assert (await client.get(f"{R}/away-reasons", headers=h)).json()["total"] == 0
    # With none defined, the defaults apply.
    lunch = await client.put(f"{API}/me/presence", headers=agent_h,
                             json={"presence": "away", "reason": "lunch"})
    assert lunch.status_code == 200, lunch.text

    created = await client.post(f"{R}/away-reasons", headers=h,
                                json={"code": "Coaching", "label": "Coaching session"})
    assert created.status_code == 201, created.text
    assert created.json()["code"] == "coaching"
    problem(await client.post(f"{R}/away-reasons", headers=h,
                              json={"code": "coaching", "label": "Again"}), 409)
    reserved = problem(await client.post(f"{R}/away-reasons", headers=h,
                                         json={"code": "missed_offer", "label": "x"}), 422)
    assert "reserved" in reserved["detail"]
    for bad in [{"code": "a b", "label": "x"}, {"code": "x" * 41, "label": "x"},
                {"code": "ok", "label": ""}, {"code": "9lives", "label": "x"}]:
        problem(await client.post(f"{R}/away-reasons", headers=h, json=bad), 422)

    # Now the tenant's own list is the one agents choose from.
    coaching = await client.put(f"{API}/me/presence", headers=agent_h,
                                json={"presence": "away", "reason": "coaching"})
    assert coaching.status_code == 200 and coaching.json()["reason"] == "coaching"
    problem(await client.put(f"{API}/me/presence", headers=agent_h,
                             json={"presence": "away", "reason": "lunch"}), 422)
    listed = (await client.get(f"{R}/away-reasons", headers=h)).json()
    assert [r["code"] for r in listed["items"]] == ["coaching"]
    url = f"{R}/away-reasons/{created.json()['id']}"
    assert (await client.delete(url, headers=h)).status_code == 204
    problem(await client.delete(url, headers=h), 404)


# --- isolation, permissions, events ----------------------------------------------------


async def test_other_tenants_objects_are_not_found_and_agents_only_read(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    a = await tenants.create()
    b = await tenants.create()
    ah, bh = await bearer(client, a), await bearer(client, b)
    queue = (await make_queue(client, bh, "B queue"))["id"]
    workflow = (await client.post(f"{R}/workflows", headers=bh, json={
        "name": "B flow", "definition": {"default_steps": [{"queue_id": queue}]}})).json()["id"]
    reason = (await client.post(f"{R}/away-reasons", headers=bh,
                                json={"code": "nap", "label": "Nap"})).json()["id"]
    for method, path, body in [
        ("GET", f"/queues/{queue}", None), ("PATCH", f"/queues/{queue}", {"name": "Mine"}),
        ("DELETE", f"/queues/{queue}", None), ("GET", f"/workflows/{workflow}", None),
        ("PATCH", f"/workflows/{workflow}", {"name": "Mine"}),
        ("DELETE", f"/workflows/{workflow}", None), ("DELETE", f"/away-reasons/{reason}", None),
        ("GET", f"/profiles/{b.admin.id}", None), ("PUT", f"/profiles/{b.admin.id}", {}),
    ]:
        response = await client.request(method, R + path, headers=ah, json=body)
        problem(response, 404)
    for path in ("/queues", "/workflows", "/away-reasons"):
        assert (await client.get(R + path, headers=ah)).json()["total"] == 0
    assert (await client.get(f"{R}/queues/{queue}", headers=bh)).json()["name"] == "B queue"

    agent = await tenants.add_user(b, role=Role.AGENT)
    agent_h = await bearer(client, b, agent.email)
    assert (await client.get(f"{R}/queues", headers=agent_h)).status_code == 200
    problem(await client.post(f"{R}/queues", headers=agent_h, json={"name": "X"}), 403)
    problem(await client.put(f"{R}/profiles/{agent.id}", headers=agent_h, json={}), 403)


async def test_changes_are_announced_to_the_routers_after_commit(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    async with services.bus.subscribe(world.tenant.id, ["routing"]) as events:
        queue = await make_queue(client, h, "Sales")
        event = await events.get(timeout=5)
        assert event is not None and event.type == "routing.config.changed"
        assert event.payload == {"what": "queue", "id": queue["id"]}
        # A refused change announces nothing.
        problem(await client.post(f"{R}/queues", headers=h, json={"name": "Sales"}), 409)
        await client.put(f"{R}/profiles/{world.admin.id}", headers=h,
                         json={"queues": {queue["id"]: {}}})
        event = await events.get(timeout=5)
        assert event is not None
        assert event.payload == {"what": "profile", "id": str(world.admin.id)}
        reason = (await client.post(f"{R}/away-reasons", headers=h,
                                    json={"code": "lunch", "label": "Lunch"})).json()
        event = await events.get(timeout=5)
        assert event is not None and event.payload == {"what": "away_reason",
                                                       "id": reason["id"]}
        workflow = (await client.post(f"{R}/workflows", headers=h, json={
            "name": "Web", "definition": {"default_steps": [{"queue_id": queue["id"]}]}})).json()
        event = await events.get(timeout=5)
        assert event is not None and event.payload == {"what": "workflow",
                                                       "id": workflow["id"]}


# --- the live router follows the configuration ---------------------------------------


async def _status(client: httpx.AsyncClient, h: dict[str, str], contact_id: str) -> str:
    response = await client.get(f"{API}/contacts/{contact_id}", headers=h)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def _on_duty(client: httpx.AsyncClient, services: Services, world: TenantWorld,
                   agent_id: uuid.UUID, h: dict[str, str]) -> None:
    """The agent's console is open (simulated) and they are available."""
    assert services.routing is not None
    await services.routing.connection_opened(world.tenant.id, agent_id, f"console-{agent_id}")
    response = await client.put(f"{API}/me/presence", headers=h, json={"presence": "available"})
    assert response.status_code == 200, response.text


async def test_a_queue_and_profile_made_through_the_api_route_a_contact(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    admin = await bearer(client, world)
    ann = await tenants.add_user(world, name="Ann")
    ann_h = await bearer(client, world, ann.email)
    queue = await make_queue(client, admin, "Sales", accept_timeout_seconds=120)
    saved = await client.put(f"{R}/profiles/{ann.id}", headers=admin, json={
        "capacity": {"chat": 1}, "queues": {queue["id"]: {"priority": 1}}})
    assert saved.status_code == 200, saved.text
    await _on_duty(client, services, world, ann.id, ann_h)

    created = await client.post(f"{API}/contacts", headers=admin,
                                json={"channel": "chat", "queue_id": queue["id"]})
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    await until(lambda: _is(client, admin, contact_id, "offered"))
    accepted = await client.post(f"{API}/contacts/{contact_id}/accept", headers=ann_h)
    assert accepted.status_code == 200 and accepted.json()["agent_id"] == str(ann.id)
    # Ann's chat capacity is the profile's 1: a second chat waits.
    second = (await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "chat", "queue_id": queue["id"]})).json()["id"]
    waiting = (await client.get(f"{API}/contacts/{second}", headers=admin)).json()
    assert waiting["status"] == "queued" and waiting["position"] == 1
    for contact in (contact_id, second):
        await client.post(f"{API}/contacts/{contact}/cancel", headers=admin,
                          json={"reason": "cancelled"})


async def _is(client: httpx.AsyncClient, h: dict[str, str], contact_id: str,
              status: str) -> bool:
    return await _status(client, h, contact_id) == status


async def test_a_profile_changed_through_the_api_reaches_the_live_router(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    admin = await bearer(client, world)
    ann = await tenants.add_user(world, name="Ann")
    ann_h = await bearer(client, world, ann.email)
    sales = await make_queue(client, admin, "Sales", accept_timeout_seconds=120)
    support = await make_queue(client, admin, "Support", accept_timeout_seconds=120)
    await client.put(f"{R}/profiles/{ann.id}", headers=admin,
                     json={"queues": {sales["id"]: {}}})
    await _on_duty(client, services, world, ann.id, ann_h)

    # A first contact, answered and completed, until its history is recorded: the
    # tenant's steward (which brings profile changes into the shared state) is at work.
    first = (await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "email", "queue_id": sales["id"]})).json()["id"]
    await until(lambda: _is(client, admin, first, "offered"))
    await client.post(f"{API}/contacts/{first}/accept", headers=ann_h)
    await client.post(f"{API}/contacts/{first}/complete", headers=ann_h)

    async def recorded() -> bool:
        events = (await client.get(f"{API}/contacts/{first}/events", headers=admin)).json()
        return bool(events) and events[-1]["kind"] == "completed"

    await until(recorded)

    # A support contact waits: Ann does not serve Support.
    waiting = (await client.post(f"{API}/contacts", headers=admin, json={
        "channel": "email", "queue_id": support["id"]})).json()["id"]
    assert await _status(client, admin, waiting) == "queued"
    changed = await client.put(f"{R}/profiles/{ann.id}", headers=admin, json={
        "queues": {sales["id"]: {}, support["id"]: {"priority": 1}}})
    assert changed.status_code == 200, changed.text
    await until(lambda: _is(client, admin, waiting, "offered"))
    live = (await client.get(f"{API}/contacts/{waiting}", headers=admin)).json()
    assert live["queue_id"] == support["id"]
    accepted = await client.post(f"{API}/contacts/{waiting}/accept", headers=ann_h)
    assert accepted.status_code == 200, accepted.text
    await client.post(f"{API}/contacts/{waiting}/complete", headers=ann_h)


# --- demo data -------------------------------------------------------------------------


async def test_demo_routing_is_valid_and_seeding_twice_changes_nothing(
    client: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    await make_skill(client, h, "Sales")
    for _ in range(2):
        await tenants.add_user(world, role=Role.AGENT)
    for _ in range(2):
        async with services.unit_of_work(tenant_id=world.tenant.id) as session:
            await seed_routing(session, world.tenant.id)
    queues = (await client.get(f"{R}/queues", headers=h)).json()
    assert sorted(q["name"] for q in queues["items"]) == ["Sales", "Support", "VIP"]
    workflows = (await client.get(f"{R}/workflows", headers=h)).json()["items"]
    assert [w["name"] for w in workflows] == ["Website"]
    reasons = (await client.get(f"{R}/away-reasons", headers=h)).json()["items"]
    assert sorted(r["code"] for r in reasons) == ["break", "lunch", "meeting", "training"]
    profiles = (await client.get(f"{R}/profiles", headers=h)).json()["items"]
    agents = [p for p in profiles if p["updated_at"] is not None]
    assert len(agents) == 2
    assert all(p["capacity"]["phone"] == 1 and p["capacity"]["chat"] == 3
               and p["capacity"]["email"] == 5 and len(p["queues"]) == 3 for p in agents)
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        config = await live_repository.load_configuration(session, world.tenant.id)
    assert config.broken_workflows == {} and len(config.workflows) == 1
    # The workflow passes the API's own checks too.
    saved = await client.patch(f"{R}/workflows/{workflows[0]['id']}", headers=h,
                               json={"definition": workflows[0]["definition"]})
    assert saved.status_code == 200, saved.text
