"""Property-based fuzzing of the whole API from its OpenAPI schema: never a 5xx."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from plateaux.platform.app import build_services
from tests.support.database import TestDatabase
from tests.support.factories import PASSWORD, TenantFactory
from tests.support.servers import LiveServer
from tests.support.settings import make_settings


@pytest.fixture(scope="module")
def api_schema(live_server: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")


@pytest.fixture(scope="module")
def admin_headers(
    live_server: LiveServer, test_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    async def make_world() -> tuple[str, str]:
        services = build_services(make_settings(test_database, Path(tmp_path_factory.mktemp("s"))))
        try:
            world = await TenantFactory(services).create()
            return world.slug, world.admin.email
        finally:
            await services.db.dispose()

    slug, email = asyncio.run(make_world())
    response = httpx.post(
        f"{live_server.url}/api/v1/auth/token",
        json={"workspace": slug, "email": email, "password": PASSWORD},
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_input_makes_the_server_fail(
    case: schemathesis.Case, live_server: LiveServer, admin_headers: dict[str, str]
) -> None:
    headers = dict(admin_headers)
    if case.headers:
        headers.update({k: v for k, v in case.headers.items() if k.lower() != "authorization"})
    response = case.call(base_url=live_server.url, headers=headers)
    assert response.status_code < 500, f"{case.method} {case.path}: {response.text[:500]}"
    if response.status_code >= 400:
        assert response.headers.get("content-type", "").startswith("application/problem+json")
