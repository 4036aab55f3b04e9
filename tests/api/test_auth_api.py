"""Bearer tokens, refresh rotation, problem details and idempotent creates."""

from __future__ import annotations

import httpx

from tests.support.factories import PASSWORD, TenantFactory, bearer


async def test_token_refresh_rotation_and_replay_revokes_the_family(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    first = await client.post(
        "/api/v1/auth/token",
        json={"workspace": world.slug, "email": world.admin.email, "password": PASSWORD},
    )
    assert first.status_code == 200
    tokens = first.json()
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200 and me.json()["email"] == world.admin.email

    second = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert second.status_code == 200
    rotated = second.json()["refresh_token"]
    assert rotated != tokens["refresh_token"]

    # Replaying the spent token is theft: the whole family dies, the rotated one too.
    replay = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert replay.status_code == 401
    assert replay.headers["content-type"].startswith("application/problem+json")
    after = await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated})
    assert after.status_code == 401


async def test_wrong_password_and_bad_tokens_are_problem_details(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    wrong = await client.post(
        "/api/v1/auth/token",
        json={"workspace": world.slug, "email": world.admin.email, "password": "nope-nope-nope"},
    )
    assert wrong.status_code == 401
    body = wrong.json()
    assert body["status"] == 401 and body["title"] and body["detail"]
    forged = await client.get("/api/v1/auth/me", headers={"Authorization": "Bearer abc.def.ghi"})
    assert forged.status_code == 401
    basic = await client.get("/api/v1/auth/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert basic.status_code == 401
    anonymous = await client.get("/api/v1/users")
    assert anonymous.status_code == 401


async def test_validation_errors_are_422_problem_details(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    headers = await bearer(client, world)
    response = await client.post(
        "/api/v1/users", headers=headers, json={"email": "not-an-email", "name": ""}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {tuple(e["loc"])[-1] for e in response.json()["errors"]} >= {"email", "name"}
    broken = await client.post(
        "/api/v1/users",
        headers={**headers, "content-type": "application/json"},
        content=b"{not json",
    )
    assert broken.status_code == 422


async def test_idempotency_key_replays_the_first_create(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    headers = {**await bearer(client, world), "Idempotency-Key": "create-bob-1"}
    body = {"email": "bob@example.com", "name": "Bob", "role": "agent"}
    first = await client.post("/api/v1/users", headers=headers, json=body)
    again = await client.post("/api/v1/users", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    listing = await client.get("/api/v1/users", headers=headers, params={"limit": 200})
    assert [u["email"] for u in listing.json()["items"]].count("bob@example.com") == 1
    other = await client.post(
        "/api/v1/users", headers=headers, json={**body, "email": "carol@example.com"}
    )
    assert other.status_code == 409


async def test_lists_paginate(client: httpx.AsyncClient, tenants: TenantFactory) -> None:
    world = await tenants.create()
    for _ in range(4):
        await tenants.add_user(world)
    headers = await bearer(client, world)
    page = await client.get("/api/v1/users", headers=headers, params={"limit": 2, "offset": 1})
    data = page.json()
    assert data["total"] == 5 and len(data["items"]) == 2 and data["offset"] == 1
    too_big = await client.get("/api/v1/users", headers=headers, params={"limit": 10_000})
    assert too_big.status_code == 422


async def test_agents_cannot_manage_users(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    from plateaux.tenants.models import Role

    world = await tenants.create()
    agent = await tenants.add_user(world, role=Role.AGENT)
    headers = await bearer(client, world, agent.email)
    assert (await client.get("/api/v1/users", headers=headers)).status_code == 403
    created = await client.post(
        "/api/v1/users", headers=headers, json={"email": "x@example.com", "name": "X"}
    )
    assert created.status_code == 403


async def test_nul_characters_and_huge_bodies_are_refused_cleanly(
    client: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    world = await tenants.create()
    headers = await bearer(client, world)
    nul = await client.post("/api/v1/users", headers=headers,
                            json={"email": "n@example.com", "name": "a\u0000b"})
    assert nul.status_code == 422
    assert nul.headers["content-type"].startswith("application/problem+json")
    query = await client.get("/api/v1/users?role=%00", headers=headers)
    assert query.status_code == 400
    huge = await client.post("/api/v1/users", headers=headers,
                             json={"email": "h@example.com", "name": "x" * 2_000_000})
    assert huge.status_code == 413
