"""The widget administration API: creation shows the secret once, validation of domains,
colours, languages and buttons (only the tenant's own workflows and queues), rotation,
deletion, and tenant isolation."""

from __future__ import annotations

import uuid

import httpx

from plateaux.tenants.models import Role
from tests.embed.embed_helpers import API, make_widget, problem
from tests.support.factories import TenantFactory, bearer


async def test_create_shows_the_secret_once_and_the_snippet(
        client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    widget, h = await make_widget(client, world, greeting={"fr": "Bonjour !", "en": "Hello!"},
                                  theme={"color": "#AA3300", "position": "bottom-left"})
    assert widget["secret"].startswith("whsec_")
    assert widget["public_key"].startswith(f"pk_{world.tenant.id.hex}_")
    assert widget["snippet"].endswith(
        f'/embed/v1/loader.js" data-site="{widget["public_key"]}"></script>')
    assert widget["snippet"].startswith("<script async src=\"http")
    assert widget["theme"] == {"color": "#aa3300", "position": "bottom-left"}
    assert widget["languages"] == ["fr", "en"]
    assert widget["buttons"]["chat"]["enabled"] is False  # until it feeds a queue

    again = await client.get(f"{API}/widgets/{widget['id']}", headers=h)
    assert again.status_code == 200
    assert "secret" not in again.json()
    listed = await client.get(f"{API}/widgets", headers=h)
    assert listed.json()["total"] == 1
    assert "secret" not in listed.json()["items"][0]
    assert "secret_encrypted" not in listed.json()["items"][0]


async def test_rotation_gives_a_new_secret(client: httpx.AsyncClient,
                                           tenants: TenantFactory) -> None:
    world = await tenants.create()
    widget, h = await make_widget(client, world)
    rotated = await client.post(f"{API}/widgets/{widget['id']}/rotate-secret", headers=h)
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != widget["secret"]
    assert rotated.json()["public_key"] == widget["public_key"]


async def test_domains_are_validated_and_normalised(client: httpx.AsyncClient,
                                                    tenants: TenantFactory) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    for bad in (["https://shop.example.com"], ["shop example.com"], ["*.com"],
                ["shop.example.com/path"], [""]):
        response = await client.post(f"{API}/widgets", headers=h,
                                     json={"name": "x", "allowed_domains": bad})
        problem(response, 422)
    widget, _ = await make_widget(client, world,
                                  allowed_domains=["Shop.Example.com.", "*.example.org",
                                                   "shop.example.com", "localhost:8080"])
    assert widget["allowed_domains"] == ["shop.example.com", "*.example.org", "localhost:8080"]


async def test_theme_and_languages_are_validated(client: httpx.AsyncClient,
                                                 tenants: TenantFactory) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    for body in ({"theme": {"color": "red"}}, {"theme": {"position": "top"}},
                 {"languages": ["de"]}, {"languages": []}, {"languages": ["fr", "fr"]},
                 {"languages": ["fr"], "default_language": "en"},
                 {"greeting": {"de": "Hallo"}}, {"unknown": 1}):
        problem(await client.post(f"{API}/widgets", headers=h, json={"name": "x", **body}), 422)


async def test_buttons_name_only_the_tenants_own_workflows_and_queues(
        client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world, other = await tenants.create(), await tenants.create()
    h, oh = await bearer(client, world), await bearer(client, other)
    queue = (await client.post(f"{API}/routing/queues", headers=h,
                               json={"name": "Support"})).json()
    foreign = (await client.post(f"{API}/routing/queues", headers=oh,
                                 json={"name": "Theirs"})).json()
    widget, _ = await make_widget(client, world, buttons={
        "chat": {"enabled": True, "queue_id": queue["id"]},
        "email": {"enabled": True}})
    assert widget["buttons"]["chat"] == {"enabled": True, "queue_id": queue["id"],
                                         "workflow_id": None}
    refused = await client.post(f"{API}/widgets", headers=h, json={
        "name": "x", "buttons": {"chat": {"enabled": True, "queue_id": foreign["id"]}}})
    assert "unknown workflow or queue" in problem(refused, 422)["detail"]
    refused = await client.post(f"{API}/widgets", headers=h, json={
        "name": "x", "buttons": {"chat": {"enabled": True, "workflow_id": str(uuid.uuid4())}}})
    problem(refused, 422)
    both = await client.post(f"{API}/widgets", headers=h, json={
        "name": "x", "buttons": {"chat": {"queue_id": queue["id"],
                                          "workflow_id": str(uuid.uuid4())}}})
    problem(both, 422)


async def test_patch_and_delete(client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    widget, h = await make_widget(client, world)
    patched = await client.patch(f"{API}/widgets/{widget['id']}", headers=h, json={
        "name": "Renamed", "languages": ["fr"], "default_language": "fr"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Renamed"
    assert patched.json()["allowed_domains"] == widget["allowed_domains"]
    # The default language must stay one of the languages.
    problem(await client.patch(f"{API}/widgets/{widget['id']}", headers=h,
                               json={"languages": ["en"]}), 422)
    problem(await client.patch(f"{API}/widgets/{widget['id']}", headers=h,
                               json={"name": None}), 422)
    deleted = await client.delete(f"{API}/widgets/{widget['id']}", headers=h)
    assert deleted.status_code == 204
    problem(await client.get(f"{API}/widgets/{widget['id']}", headers=h), 404)


async def test_another_tenants_widget_is_not_found(client: httpx.AsyncClient,
                                                   tenants: TenantFactory) -> None:
    world, other = await tenants.create(), await tenants.create()
    widget, _ = await make_widget(client, world)
    oh = await bearer(client, other)
    for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""),
                           ("POST", "/rotate-secret")):
        response = await client.request(method, f"{API}/widgets/{widget['id']}{suffix}",
                                        headers=oh, json={} if method == "PATCH" else None)
        problem(response, 404)
    assert (await client.get(f"{API}/widgets", headers=oh)).json()["total"] == 0


async def test_agents_read_but_do_not_change_widgets(client: httpx.AsyncClient,
                                                     tenants: TenantFactory) -> None:
    world = await tenants.create()
    widget, _ = await make_widget(client, world)
    agent = await tenants.add_user(world, role=Role.AGENT)
    ah = await bearer(client, world, agent.email)
    assert (await client.get(f"{API}/widgets", headers=ah)).status_code == 200
    problem(await client.post(f"{API}/widgets", headers=ah, json={"name": "x"}), 403)
    problem(await client.post(f"{API}/widgets/{widget['id']}/rotate-secret", headers=ah), 403)


async def test_an_enabled_chat_button_must_say_where_chats_go(
        client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    h = await bearer(client, world)
    refused = await client.post(f"{API}/widgets", headers=h, json={
        "name": "Nowhere", "buttons": {"chat": {"enabled": True}}})
    assert problem(refused, 422)["field"] == "buttons.chat"
    # Without buttons, a new widget offers no chat until one is connected.
    plain = await client.post(f"{API}/widgets", headers=h, json={"name": "Plain"})
    assert plain.status_code == 201, plain.text
    assert plain.json()["buttons"]["chat"]["enabled"] is False
