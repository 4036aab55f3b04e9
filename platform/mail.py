"""Outgoing platform mail (invitations, password resets), sent as jobs after commit.

With no SMTP host configured (development) the message is written to the log instead,
so a developer can follow the link it contains.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.platform.database import after_commit
from plateaux.platform.jobs import JobContext, registry
from plateaux.platform.settings import Settings

logger = logging.getLogger(__name__)
SEND_MAIL_JOB = "platform.send_mail"


def build_message(settings: Settings, *, to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=urlsplit(settings.base_url).hostname or "plateaux")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message


async def deliver(settings: Settings, message: EmailMessage) -> None:
    if not settings.smtp_host:
        # Logged decoded (not as the quoted-printable wire form) so links stay whole.
        logger.warning("mail (no SMTP configured)\nTo: %s\nSubject: %s\n\n%s",
                       message["To"], message["Subject"], message.get_content())
        return
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        start_tls=settings.smtp_starttls,
        timeout=30,
    )


def queue_mail(session: AsyncSession, *, to: str, subject: str, text: str) -> None:
    """Send once the current transaction has committed."""
    services = session.info.get("services")

    async def _enqueue() -> None:
        if services is None:
            raise RuntimeError("session has no services attached")
        await services.jobs.enqueue(SEND_MAIL_JOB, to=to, subject=subject, text=text)

    after_commit(session, _enqueue)


@registry.job(SEND_MAIL_JOB, max_tries=8)
async def send_mail_job(ctx: JobContext, *, to: str, subject: str, text: str) -> None:
    settings: Settings = ctx.services["services"].settings
    await deliver(settings, build_message(settings, to=to, subject=subject, text=text))


__all__: list[Any] = ["queue_mail", "send_mail_job"]
