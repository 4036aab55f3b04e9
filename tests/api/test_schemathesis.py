"""Property-based fuzzing of the whole API from its OpenAPI schema: never a 5xx."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from plateaux.platform.app import build_services
from tests.support.database import TestDatabase
from tests.support.factories import PASSWORD, TenantFactory
from tests.support.servers import LiveServer
from tests.support.settings import make_settings

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def api_schema(live_server: LiveServer) -> schemathesis.BaseSchema:
    # Fetched here rather than by schemathesis, whose loader gives up after 10 s: building the
    # schema is the first request's work, and on a loaded machine it can take longer.
    response = httpx.get(f"{live_server.url}/api/v1/openapi.json", timeout=120)
    response.raise_for_status()
    return schemathesis.openapi.from_dict(response.json())


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


def test_no_input_makes_the_server_fail(
    api_schema: schemathesis.BaseSchema, live_server: LiveServer, admin_headers: dict[str, str]
) -> None:
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def probe(case: schemathesis.Case) -> None:
            headers = dict(admin_headers)
            if case.headers:
                headers.update({k: v for k, v in case.headers.items()
                                if k.lower() != "authorization"})
            response = case.call(base_url=live_server.url, headers=headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} "
                                f"{response.text[:300]}")
            elif response.status_code >= 400:
                kind = response.headers.get("content-type") or [""]
                kind = kind[0] if isinstance(kind, list) else kind
                if not kind.startswith("application/problem+json"):
                    failures.append(f"{case.method} {case.formatted_path}: {response.status_code}"
                                    f" answered as {kind}")

        probe()
    assert operations > 10
    assert not failures, "\n".join(sorted(set(failures))[:50])
