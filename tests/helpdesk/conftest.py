"""The help desk tests' application: the platform with its outgoing mail going to an SMTP
server on loopback (notifications and satisfaction surveys are read from there), jobs in
process so a test waits for them with ``drain``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

# The SLA sweep is driven by the tests with fixed clocks; the background one stays away.
os.environ.setdefault("PLATEAUX_HELPDESK_SLA_SWEEP_SECONDS", "3600")
# Email replies go to the SMTP server of the tests, on loopback.
os.environ["PLATEAUX_EMAIL_ALLOW_PRIVATE_HOSTS"] = "true"

from plateaux.channels.email.settings import email_settings
from plateaux.helpdesk.settings import helpdesk_settings
from plateaux.platform.app import create_app
from plateaux.platform.services import Services

# The tenant's own system receiving webhooks on loopback: the CRM tests' receiver.
from tests.crm.test_webhooks import receiver  # noqa: F401
from tests.support.console_pages import SmtpSink
from tests.support.database import TestDatabase
from tests.support.factories import TenantFactory
from tests.support.servers import loopback_address
from tests.support.settings import make_settings

helpdesk_settings.cache_clear()
email_settings.cache_clear()


@pytest.fixture(scope="session")
def desk_smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
async def desk_app(test_database: TestDatabase, desk_smtp: SmtpSink,
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    data: Path = tmp_path_factory.mktemp("desk")
    settings = make_settings(test_database, data, smtp_host="127.0.0.1",
                             smtp_port=desk_smtp.port, smtp_starttls=False,
                             mail_from="desk@plateaux.example.com",
                             # The webhook receiver of the tests listens on loopback.
                             crm_private_networks=["127.0.0.1/32"])
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def desk_services(desk_app: FastAPI) -> Services:
    found: Services = desk_app.state.services
    return found


@pytest.fixture
async def desk(desk_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=desk_app, client=(loopback_address(), 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def desk_tenants(desk_services: Services) -> TenantFactory:
    return TenantFactory(desk_services)


async def delivered(services: Services) -> None:
    """Wait for the jobs queued so far (mail, webhooks) to run."""
    await services.jobs.drain()  # type: ignore[attr-defined]
