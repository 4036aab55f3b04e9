"""Health, readiness, metrics, request ids and JSON logs."""

from __future__ import annotations

import json
import time

import httpx

from tests.support.servers import LiveServer


async def test_health_ready_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    await client.get("/api/v1/nope")
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "plateaux_http_requests_total" in metrics.text


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    mine = await client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert mine.headers["x-request-id"] == "abc123"
    made = await client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32


async def test_unknown_api_route_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_server_logs_are_json_with_request_ids(live_server: LiveServer) -> None:
    httpx.get(f"{live_server.url}/healthz", headers={"X-Request-ID": "trace-me-42"})
    # The access line is written once the response has gone out: wait for it.
    mine: list[dict[str, object]] = []
    deadline = time.monotonic() + 10
    while not mine and time.monotonic() < deadline:
        lines = live_server.log_path.read_text().splitlines()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        mine = [r for r in records if r.get("request_id") == "trace-me-42" and "path" in r]
        time.sleep(0.05)
    assert mine, "no JSON log line carries the request id"
    assert mine[0]["path"] == "/healthz" and mine[0]["status"] == 200


async def test_pages_carry_security_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/operator/login")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
