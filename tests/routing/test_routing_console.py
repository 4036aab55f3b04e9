"""The Routing section of the tenant admin console, as a browser uses it: signed-in
cookie session, forms with their CSRF token, refusals re-rendered with their reason."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import httpx

from plateaux.tenants.models import Role, User
from tests.support.console_pages import csrf_from, sign_in
from tests.support.factories import PASSWORD, TenantFactory, TenantWorld, bearer

HTML = {"Accept": "text/html"}
R = "/api/v1/routing"


@asynccontextmanager
async def browser(client: httpx.AsyncClient, world: TenantWorld,
                  user: User | None = None) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser of its own (cookie jar) signed in as ``user`` (the admin by default),
    with its session's CSRF token."""
    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver",
                                 headers=HTML) as b:
        signed = await sign_in(b, world.slug, (user or world.admin).email, PASSWORD)
        assert signed.status_code == 303, signed.text
        page = await b.get(f"/t/{world.slug}/agent/")
        assert page.status_code == 200, page.text
        yield b, csrf_from(page.text)


def notice_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text[:2000]
    return parse_qs(urlsplit(response.headers["location"]).query)["notice"][0]


def errors_of(page: httpx.Response) -> list[str]:
    return re.findall(r'<div class="error" role="alert"[^>]*>(.*?)</div>', page.text, re.S)


QUEUE_FORM = {"ordering": "fifo", "strategy": "longest_idle", "sla_threshold_seconds": "20",
              "sla_target_percent": "80", "offer_to": "1", "accept_timeout_seconds": "30",
              "away_on_timeout": "on", "follow_business_hours": "on", "sticky_seconds": "0",
              "wrap_up_seconds": "0", "thresholds": ""}


async def test_routing_pages_render_for_admins_only(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create(name="Acme <Routing>")
    agent = await tenants.add_user(world, name="<i>Ann</i>")
    h = await bearer(client, world)
    queue = (await client.post(f"{R}/queues", headers=h, json={"name": "<b>Sales</b>"})).json()
    workflow = (await client.post(f"{R}/workflows", headers=h, json={
        "name": "Web", "definition": {"default_steps": [{"queue_id": queue["id"]}]}})).json()
    base = f"/t/{world.slug}/admin/routing"
    async with browser(client, world) as (b, _):
        for path in ("/queues", f"/queues/{queue['id']}", "/workflows",
                     f"/workflows/{workflow['id']}", "/profiles", f"/profiles/{agent.id}",
                     "/away-reasons"):
            page = await b.get(base + path)
            assert page.status_code == 200, path
            assert "Acme &lt;Routing&gt;" in page.text, path
            assert "<b>Sales</b>" not in page.text and "<i>Ann</i>" not in page.text, path
            assert f'href="/t/{world.slug}/admin/routing/queues"' in page.text, path  # nav
            assert "<script>" not in page.text and "style=" not in page.text, path
            assert page.headers["cache-control"] == "no-store"
        empty = await b.get(base + "/away-reasons")
        assert "No away reasons defined" in empty.text and "break, lunch" in empty.text
        missing = await b.get(f"{base}/queues/{uuid.uuid4()}")
        assert missing.status_code == 404
    async with browser(client, world, agent) as (b, csrf):
        assert (await b.get(base + "/queues")).status_code == 403
        refused = await b.post(base + "/queues", data={"csrf_token": csrf, "name": "X",
                                                       **QUEUE_FORM})
        assert refused.status_code == 403
    supervisor = await tenants.add_user(world, role=Role.SUPERVISOR)
    async with browser(client, world, supervisor) as (b, _):
        assert (await b.get(base + "/queues")).status_code == 403


async def test_queues_are_created_edited_and_deleted(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    base = f"/t/{world.slug}/admin/routing"
    async with browser(client, world) as (b, csrf):
        created = await b.post(base + "/queues", data={
            "csrf_token": csrf, "name": "Sales", **QUEUE_FORM, "sla_target_percent": "90",
            "ordering": "lifo"})
        assert notice_of(created) == "Queue Sales created."
        queue = (await client.get(f"{R}/queues", headers=h)).json()["items"][0]
        assert queue["sla_target"] == 0.9 and queue["ordering"] == "lifo"
        assert queue["away_on_reject"] is False and queue["away_on_timeout"] is True

        # Without the CSRF token nothing happens.
        forged = await b.post(base + "/queues", data={"name": "Forged", **QUEUE_FORM})
        assert forged.status_code == 403
        duplicate = await b.post(base + "/queues", data={"csrf_token": csrf, "name": "sales",
                                                         **QUEUE_FORM})
        assert duplicate.status_code == 409
        assert "already exists" in errors_of(duplicate)[0]
        bad = await b.post(base + "/queues", data={"csrf_token": csrf, "name": "Bad",
                                                   **QUEUE_FORM, "offer_to": "0"})
        assert bad.status_code == 422 and "offer to" in errors_of(bad)[0]
        bad_json = await b.post(base + "/queues", data={"csrf_token": csrf, "name": "Bad",
                                                        **QUEUE_FORM, "thresholds": "[{"})
        assert bad_json.status_code == 422 and "not valid JSON" in errors_of(bad_json)[0]

        url = f"{base}/queues/{queue['id']}"
        saved = await b.post(url, data={"csrf_token": csrf, "name": "Sales desk", **QUEUE_FORM,
                                        "accept_timeout_seconds": "", "wrap_up_seconds": "15"})
        assert notice_of(saved) == "Queue Sales desk saved."
        stored = (await client.get(f"{R}/queues/{queue['id']}", headers=h)).json()
        assert stored["name"] == "Sales desk" and stored["accept_timeout_seconds"] is None
        assert stored["wrap_up_seconds"] == 15 and stored["ordering"] == "fifo"

        # A queue a workflow uses is not deleted; the page names the workflow.
        workflow = (await client.post(f"{R}/workflows", headers=h, json={
            "name": "Website", "definition": {"default_steps": [{"queue_id": queue["id"]}]}}))
        page = await b.get(url)
        assert "Website" in page.text and "cannot be deleted" in page.text
        refused = await b.post(url + "/delete", data={"csrf_token": csrf})
        assert refused.status_code == 409 and "&#39;Website&#39;" in errors_of(refused)[0]
        await client.delete(f"{R}/workflows/{workflow.json()['id']}", headers=h)
        deleted = await b.post(url + "/delete", data={"csrf_token": csrf})
        assert notice_of(deleted) == "Queue Sales desk deleted."
        assert (await client.get(f"{R}/queues", headers=h)).json()["total"] == 0


async def test_workflows_show_errors_beside_the_definition_and_a_summary(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    vip = (await client.post(f"{R}/queues", headers=h, json={"name": "VIP"})).json()["id"]
    support = (await client.post(f"{R}/queues", headers=h, json={"name": "Support"})).json()
    skill = (await client.post("/api/v1/skills", headers=h, json={"name": "Sales"})).json()
    base = f"/t/{world.slug}/admin/routing"
    definition = {
        "filters": [{"name": "vip", "expression": "tier == 'gold'", "steps": [
            {"queue_id": vip, "required_skills": {skill["id"]: 4}, "timeout": 20},
            {"queue_id": vip}]}],
        "default_steps": [{"queue_id": support["id"]}],
        "overflow": {"action": "offer_callback"}, "max_estimated_wait": 600}
    async with browser(client, world) as (b, csrf):
        page = await b.get(base + "/workflows")
        assert "No workflows yet" in page.text and vip in page.text  # the ids to write
        broken = json.dumps({**definition, "filters": [
            {**definition["filters"][0], "expression": "tier == "}]})
        refused = await b.post(base + "/workflows", data={
            "csrf_token": csrf, "name": "Website", "definition": broken})
        assert refused.status_code == 422
        beside = re.search(r'id="definition-error">(.*?)</div>', refused.text, re.S)
        assert beside and "filters[0].expression" in beside.group(1)
        assert "at character 9" in beside.group(1)
        assert "tier == " in refused.text  # what was typed is kept
        not_json = await b.post(base + "/workflows", data={
            "csrf_token": csrf, "name": "Website", "definition": "{"})
        assert not_json.status_code == 422 and "not valid JSON" in not_json.text

        created = await b.post(base + "/workflows", data={
            "csrf_token": csrf, "name": "Website", "description": "From the site",
            "definition": json.dumps(definition)})
        assert notice_of(created) == "Workflow Website created."
        location = created.headers["location"].split("?")[0]
        page = await b.get(location)
        text = re.sub(r"\s+", " ", page.text)
        assert "If tier == &#39;gold&#39; (vip)" in text
        assert "queue VIP, Sales ≥ 4 — until the contact is 20 s old" in text
        assert "Otherwise" in text and "queue Support" in text
        assert "offer a callback" in text and "over 600 s" in text

        foreign = await tenants.create()
        theirs = (await client.post(f"{R}/queues", headers=await bearer(client, foreign),
                                    json={"name": "Theirs"})).json()["id"]
        wrong = await b.post(location, data={
            "csrf_token": csrf, "name": "Website",
            "definition": json.dumps({"default_steps": [{"queue_id": theirs}]})})
        assert wrong.status_code == 422 and "Unknown queue" in wrong.text
        saved = await b.post(location, data={
            "csrf_token": csrf, "name": "Website 2",
            "definition": json.dumps({"default_steps": [{"queue_id": vip}]})})
        assert notice_of(saved) == "Workflow Website 2 saved."
        deleted = await b.post(location + "/delete", data={"csrf_token": csrf})
        assert notice_of(deleted) == "Workflow Website 2 deleted."


async def test_agents_routing_profiles_and_away_reasons(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    ann = await tenants.add_user(world, name="Ann")
    sales = (await client.post(f"{R}/queues", headers=h, json={"name": "Sales"})).json()["id"]
    support = (await client.post(f"{R}/queues", headers=h, json={"name": "Support"})).json()
    base = f"/t/{world.slug}/admin/routing"
    async with browser(client, world) as (b, csrf):
        listed = await b.get(base + "/profiles")
        assert "Ann" in listed.text and "defaults" in listed.text
        url = f"{base}/profiles/{ann.id}"
        form = {"csrf_token": csrf, "capacity:phone": "1", "capacity:webcall": "1",
                "capacity:callback": "1", "capacity:chat": "2", "capacity:email": "4",
                "capacity:form": "5", "chats_beside_calls": "on",
                f"serves:{sales}": "on", f"priority:{sales}": "1", f"delay:{sales}": "0",
                f"priority:{support['id']}": "2", f"delay:{support['id']}": "30"}
        saved = await b.post(url, data=form)
        assert notice_of(saved) == "Routing profile of Ann saved."
        profile = (await client.get(f"{R}/profiles/{ann.id}", headers=h)).json()
        assert profile["capacity"]["chat"] == 2 and profile["chats_beside_calls"] is True
        assert profile["queues"] == {sales: {"priority": 1, "delay": 0.0}}  # Support unticked
        bad = await b.post(url, data={**form, f"priority:{sales}": "11"})
        assert bad.status_code == 422 and errors_of(bad)
        assert (await b.post(f"{base}/profiles/{uuid.uuid4()}", data=form)).status_code == 404

        reasons = base + "/away-reasons"
        added = await b.post(reasons, data={"csrf_token": csrf, "code": "coaching",
                                            "label": "Coaching"})
        assert notice_of(added) == "Away reason coaching added."
        reserved = await b.post(reasons, data={"csrf_token": csrf, "code": "missed_offer",
                                               "label": "x"})
        assert reserved.status_code == 422 and "reserved" in errors_of(reserved)[0]
        stored = (await client.get(f"{R}/away-reasons", headers=h)).json()["items"]
        assert [r["code"] for r in stored] == ["coaching"]
        removed = await b.post(f"{reasons}/{stored[0]['id']}/delete", data={"csrf_token": csrf})
        assert notice_of(removed) == "Away reason coaching removed."
