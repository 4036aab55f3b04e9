"""Test fixtures: real databases, the real application, real browsers.

``PLATEAUX_TEST_DATABASE`` picks the backend: ``postgresql`` (default; roles, row-level
security and pools are real) or ``sqlite`` (the embedded default). Each test session gets
its own database, migrated with the real migrations; tests isolate their data by creating
their own tenants through the real services.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from plateaux.platform.app import create_app
from plateaux.platform.services import Services
from plateaux.platform.settings import Settings
from tests.support.database import TestDatabase, create_test_database
from tests.support.factories import TenantFactory
from tests.support.servers import LiveServer, loopback_address
from tests.support.settings import SECRET, drop_redis_keys, make_settings, redis_overrides
from tests.support.worker import running_worker

BACKEND = os.environ.get("PLATEAUX_TEST_DATABASE", "postgresql")
# Test files run in parallel processes, each with its platform and servers: smaller pools
# keep them all within PostgreSQL's connection limit (100 by default). The servers the
# tests start inherit it.
os.environ.setdefault("PLATEAUX_DB_POOL_SIZE", "4")


def pytest_report_header() -> str:
    return f"plateaux database backend: {BACKEND}"


# Files that take tens of seconds, handed out first: the parallel test processes then
# finish together instead of one running them alone at the end.
LONG_FILES = (
    "tests/api/test_cross_tenant_probe.py",
    "tests/api/test_schemathesis.py", "tests/channels/voip/test_browser_calls.py",
    "tests/channels/voip/test_phone_calls.py", "tests/channels/voip/test_in_call.py",
    "tests/test_packaging.py", "tests/channels/voip/test_voice_api.py",
    "tests/routing/test_properties.py", "tests/routing/test_simulator.py",
)


def _order(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return LONG_FILES.index(path) if path in LONG_FILES else len(LONG_FILES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_order)  # stable: the same order in every parallel process
    for item in items:
        if "alone" in item.keywords and "postgres_only" not in item.keywords:
            raise pytest.UsageError(f"{item.nodeid}: tests marked alone run in the PostgreSQL "
                                    "pass only (make test); mark them postgres_only too")
    if BACKEND == "postgresql":
        return
    postgres = pytest.mark.skip(reason="PostgreSQL-only behaviour; runs in the PostgreSQL pass")
    once = pytest.mark.skip(reason="does not depend on the database backend; runs in the "
                                   "PostgreSQL pass")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(postgres)
        elif "backend_independent" in item.keywords or \
                "test_database" not in getattr(item, "fixturenames", ()):
            # Without the test database (directly or through the platform's fixtures) a
            # test cannot see which backend runs: once is enough.
            item.add_marker(once)


@pytest.fixture(scope="session")
def test_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    db = create_test_database(BACKEND, tmp_path_factory.mktemp("db"))
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(scope="session")
def settings(test_database: TestDatabase,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    made = make_settings(test_database, tmp_path_factory.mktemp("data"), **redis_overrides())
    yield made
    if made.redis_url:
        drop_redis_keys(made.routing_key_prefix)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[object]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        if settings.redis_url:
            # Production shape: jobs go through arq on Redis to a worker.
            async with running_worker(settings):
                yield application
        else:
            yield application


@pytest.fixture(scope="session")
def services(app: object) -> Services:
    return app.state.services  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    # Each test its own client address, so per-address rate limits (sign-in attempts)
    # never leak from one test into another.
    address = loopback_address()
    transport = httpx.ASGITransport(app=app, client=(address, 50000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def tenants(services: Services) -> TenantFactory:
    return TenantFactory(services)


@pytest.fixture(scope="session")
def live_server(
    test_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The platform in its own process on a loopback port, as a browser sees it."""
    data_dir = tmp_path_factory.mktemp("live")
    with LiveServer.start(
        test_database=test_database, data_dir=data_dir, secret_key=SECRET
    ) as server:
        yield server


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]
