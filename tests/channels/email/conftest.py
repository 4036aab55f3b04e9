"""The email tests' real servers: one dovecot and one SMTP sink for the whole session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

# Loopback mail servers: allowed for the tests only (read when first needed).
os.environ["PLATEAUX_EMAIL_ALLOW_PRIVATE_HOSTS"] = "true"

from plateaux.channels.email.settings import email_settings
from plateaux.platform.services import Services
from tests.channels.email.email_world import switch_off_created
from tests.support.dovecot import Dovecot
from tests.support.smtp_sink import SmtpSink

email_settings.cache_clear()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    with Dovecot.start() as server:
        yield server


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink.start() as sink:
        yield sink


@pytest.fixture(autouse=True)
async def _switch_off_mailboxes(services: Services) -> AsyncIterator[None]:
    yield
    await switch_off_created(services)
