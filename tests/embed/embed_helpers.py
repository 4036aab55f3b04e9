"""Helpers shared by the embed tests: a widget made through the API, its visitor."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.factories import TenantWorld, bearer

API = "/api/v1"


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


async def make_widget(client: httpx.AsyncClient, world: TenantWorld, **fields: Any
                      ) -> tuple[dict[str, Any], dict[str, str]]:
    h = await bearer(client, world)
    body = {"name": "Main site", "allowed_domains": ["shop.example.com", "localhost"], **fields}
    response = await client.post(f"{API}/widgets", headers=h, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created, h


async def make_queue(client: httpx.AsyncClient, world: TenantWorld,
                     name: str = "Website") -> str:
    response = await client.post(f"{API}/routing/queues", headers=await bearer(client, world),
                                 json={"name": name})
    assert response.status_code == 201, response.text
    queue_id: str = response.json()["id"]
    return queue_id


def page(url: str = "https://shop.example.com/products", title: str = "Products"
         ) -> dict[str, str]:
    return {"url": url, "title": title, "referrer": "https://search.example.org/"}


async def open_visitor(client: httpx.AsyncClient, key: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/embed/v1/sites/{key}/visitors",
                                 headers={"Origin": "https://shop.example.com"},
                                 json={"page": page(), **body})
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out
