"""Reading the mail the platform sends when no SMTP server is configured (it logs it)."""

from __future__ import annotations

import asyncio

import pytest


async def logged_mail(caplog: pytest.LogCaptureFixture, recipient: str, *,
                      timeout: float = 15.0) -> str:
    """The body of the latest mail logged for ``recipient``, waiting for the send job."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        mails = [r.getMessage() for r in caplog.records
                 if r.name == "plateaux.platform.mail" and f"To: {recipient}" in r.getMessage()]
        if mails:
            return mails[-1].split("\n\n", 1)[1]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no mail was sent to {recipient}")
        await asyncio.sleep(0.05)
