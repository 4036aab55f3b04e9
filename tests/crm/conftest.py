"""The CRM tests' real mail servers (the end-to-end test writes as a customer would)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Loopback mail servers are allowed for the tests only (read when first needed).
os.environ["PLATEAUX_EMAIL_ALLOW_PRIVATE_HOSTS"] = "true"

from plateaux.channels.email.settings import email_settings
from tests.support.dovecot import Dovecot
from tests.support.smtp_sink import SmtpSink

email_settings.cache_clear()


@pytest.fixture(scope="session")
def crm_dovecot() -> Iterator[Dovecot]:
    with Dovecot.start() as server:
        yield server


@pytest.fixture(scope="session")
def crm_smtp() -> Iterator[SmtpSink]:
    with SmtpSink.start() as sink:
        yield sink
