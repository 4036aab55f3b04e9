"""The agent and supervisor console pages with a signed-in cookie session, and the admin
pages for canned responses and wrap-up codes."""

from __future__ import annotations

import json
import re

import httpx

from plateaux.tenants.models import Role
from tests.support.console_pages import page_csrf, sign_in
from tests.support.factories import PASSWORD, TenantFactory

CONFIG = re.compile(r'<script type="application/json" id="console-config">(.*?)</script>', re.S)
META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


async def test_the_agent_console_page(client: httpx.AsyncClient,
                                      tenants: TenantFactory) -> None:
    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT, name="Ann <b>Agent</b>")
    assert (await sign_in(client, world.slug, agent.email, PASSWORD)).status_code == 303

    page = await client.get(f"/t/{world.slug}/agent/")
    assert page.status_code == 200, page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert '<script type="module" src="/static/agent/agent.js"></script>' in page.text
    assert 'id="presence"' in page.text and "Away · Lunch" in page.text
    assert "Ann &lt;b&gt;Agent&lt;/b&gt;" in page.text
    match = CONFIG.search(page.text)
    assert match
    # The data block cannot close its script element early, whatever the names hold.
    assert "<b>" not in match.group(1)
    config = json.loads(match.group(1))
    assert config["me"]["id"] == str(agent.id) and config["slug"] == world.slug
    assert {r["code"] for r in config["reasons"]} == {"break", "lunch", "training", "meeting"}
    assert {a["id"] for a in config["agents"]} >= {str(agent.id), str(world.admin.id)}

    # The page's script calls the API with the session cookie and the page's CSRF token.
    csrf = META_CSRF.search(page.text)
    assert csrf
    no_token = await client.put("/api/v1/me/presence", json={"presence": "available"})
    assert no_token.status_code == 403
    with_token = await client.put("/api/v1/me/presence", json={"presence": "available"},
                                  headers={"X-CSRF-Token": csrf.group(1)})
    assert with_token.status_code == 200, with_token.text
    assert with_token.json()["presence"] == "available"

    # The account page moved beside the console; the supervisor console is not for agents.
    account = await client.get(f"/t/{world.slug}/agent/account/")
    assert account.status_code == 200 and "My account" in account.text
    assert (await client.get(f"/t/{world.slug}/supervisor/")).status_code == 403
    for name in ("agent.js", "chat.js", "api.js", "live.js", "alerts.js", "text.js",
                 "supervisor.js", "consoles.css"):
        asset = await client.get(f"/static/agent/{name}")
        assert asset.status_code == 200, name


async def test_the_supervisor_console_page(client: httpx.AsyncClient,
                                           tenants: TenantFactory) -> None:
    world = await tenants.create()
    supervisor = await tenants.add_user(world, role=Role.SUPERVISOR)
    await sign_in(client, world.slug, supervisor.email, PASSWORD)
    page = await client.get(f"/t/{world.slug}/supervisor/")
    assert page.status_code == 200
    assert '<script type="module" src="/static/agent/supervisor.js"></script>' in page.text
    assert 'id="queues"' in page.text and 'id="agents"' in page.text

    other = await tenants.create()
    bounced = await client.get(f"/t/{other.slug}/supervisor/")
    assert bounced.status_code == 303


async def test_admins_manage_canned_responses_and_wrap_up_codes_in_the_console(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    await sign_in(client, world.slug, world.admin.email, PASSWORD)
    base = f"/t/{world.slug}/admin/console"
    token = await page_csrf(client, f"{base}/canned-responses")
    made = await client.post(f"{base}/canned-responses", data={
        "csrf_token": token, "shortcut": "hello", "title": "Greeting",
        "body": "Hello {name} <script>", "language": "en"}, follow_redirects=True)
    assert made.status_code == 200
    assert "Canned response /hello added." in made.text
    assert "Hello {name} &lt;script&gt;" in made.text
    refused = await client.post(f"{base}/canned-responses", data={
        "csrf_token": token, "shortcut": "bad shortcut", "title": "x", "body": "y"})
    assert refused.status_code == 422 and "shortcut" in refused.text

    token = await page_csrf(client, f"{base}/wrap-up-codes")
    code = await client.post(f"{base}/wrap-up-codes", data={
        "csrf_token": token, "code": "resolved", "label": "Resolved"}, follow_redirects=True)
    assert "Wrap-up code resolved added." in code.text
    twice = await client.post(f"{base}/wrap-up-codes", data={
        "csrf_token": token, "code": "resolved", "label": "Again"})
    assert twice.status_code == 409

    agent = await tenants.add_user(world, role=Role.AGENT)
    client.cookies.clear()
    await sign_in(client, world.slug, agent.email, PASSWORD)
    assert (await client.get(f"{base}/canned-responses")).status_code == 403
    console = await client.get(f"/t/{world.slug}/agent/")
    match = CONFIG.search(console.text)
    assert match and json.loads(match.group(1))["wrap_up_codes"] == [
        {"code": "resolved", "label": "Resolved"}]


async def test_a_contact_without_a_conversation_says_so(client: httpx.AsyncClient,
                                                        tenants: TenantFactory) -> None:
    from tests.support.factories import bearer

    world = await tenants.create()
    admin_h = await bearer(client, world)
    contact = await client.post("/api/v1/contacts", headers=admin_h,
                                json={"channel": "email", "agent_id": str(world.admin.id)})
    assert contact.status_code == 201, contact.text
    found = await client.get(f"/api/v1/contacts/{contact.json()['id']}/conversation",
                             headers=admin_h)
    assert found.status_code == 404
    other_h = await bearer(client, await tenants.create())
    assert (await client.get(f"/api/v1/contacts/{contact.json()['id']}/conversation",
                             headers=other_h)).status_code == 404
