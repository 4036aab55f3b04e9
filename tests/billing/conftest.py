"""Billing tests: the platform configured for Stripe, Stripe being PyPI's localstripe on
loopback (one process per test session, from scratch)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import pytest

from plateaux.billing.gateway import StripeGateway, install_gateway
from plateaux.platform.demo import seed_plans
from plateaux.platform.services import Services
from plateaux.platform.settings import Settings
from tests.support.localstripe_helper import API_KEY, LocalStripe, running_localstripe

WEBHOOK_SECRET = "whsec_plateaux_test_secret"


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    with running_localstripe() as stand_in:
        yield stand_in


@pytest.fixture
async def billing(services: Services, settings: Settings, localstripe: LocalStripe,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Services]:
    """The running platform with Stripe configured for this test (then as it was)."""
    monkeypatch.setattr(settings, "stripe_api_key", API_KEY)
    monkeypatch.setattr(settings, "stripe_api_base", localstripe.url)
    monkeypatch.setattr(settings, "stripe_webhook_secret", WEBHOOK_SECRET)
    await seed_plans(services.db)
    yield services
    install_gateway(settings, None)


@pytest.fixture
def gateway(billing: Services) -> StripeGateway:
    # No retries inside the library: the tests see each failure as the job sees it.
    gateway = StripeGateway(billing.settings, max_network_retries=0)
    install_gateway(billing.settings, gateway)
    return gateway


def with_settings(services: Services, **changes: object) -> Services:
    return dataclasses.replace(services,
                               settings=services.settings.model_copy(update=changes))
