"""Sending a stored outgoing message through the mailbox's SMTP server (aiosmtplib).

The job may run more than once (a retry, a worker killed after the server accepted the
mail): a message already sent is not sent again, and a resend after an unlucky crash
carries the same Message-ID, so the customer's client shows it once. A permanent refusal
(5xx) fails at once; anything else is retried with backoff, and the last failure stays on
the message for the agent to see and retry.
"""

from __future__ import annotations

import logging
import uuid

import aiosmtplib

from plateaux.channels.email import events as ev
from plateaux.channels.email import repository as repo
from plateaux.channels.email.ingest import storage_of
from plateaux.channels.email.models import EmailMessage, Mailbox, MessageStatus, Security
from plateaux.channels.email.net import ConnectionProblem, check_host, describe, tls_context
from plateaux.channels.email.outbound import build_mime
from plateaux.channels.email.settings import email_settings
from plateaux.platform.publish import publish
from plateaux.platform.security import decrypt_secret
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow

logger = logging.getLogger(__name__)


class PermanentFailure(Exception):
    pass


def smtp_options(services: Services, mailbox: Mailbox) -> dict[str, object]:
    password = (decrypt_secret(services.settings.secret_key, mailbox.smtp_password_encrypted)
                if mailbox.smtp_password_encrypted else None)
    security = mailbox.smtp_security
    return {
        "hostname": mailbox.smtp_host, "port": mailbox.smtp_port,
        "username": mailbox.smtp_username or None, "password": password,
        "use_tls": security == Security.SSL, "start_tls": security == Security.STARTTLS,
        "tls_context": tls_context() if security != Security.NONE else None,
        "timeout": email_settings().connect_timeout,
    }


async def smtp_check(services: Services, mailbox: Mailbox) -> None:
    """Connect and log in (test connection); ConnectionProblem says what failed."""
    settings = email_settings()
    if mailbox.smtp_security == Security.NONE and not settings.allow_private_hosts:
        raise ConnectionProblem("tls", "plain SMTP is refused: use STARTTLS or TLS")
    await check_host(mailbox.smtp_host, mailbox.smtp_port,
                     allow_private=settings.allow_private_hosts,
                     timeout=settings.connect_timeout)
    options = smtp_options(services, mailbox)
    client = aiosmtplib.SMTP(
        hostname=mailbox.smtp_host, port=mailbox.smtp_port,
        use_tls=bool(options["use_tls"]), start_tls=bool(options["start_tls"]),
        tls_context=options["tls_context"], timeout=settings.connect_timeout)  # type: ignore[arg-type]
    try:
        await client.connect()
    except aiosmtplib.SMTPException as exc:
        raise ConnectionProblem("connect", str(exc)) from exc
    except Exception as exc:
        raise describe(exc) from exc
    try:
        if options["username"]:
            try:
                await client.login(str(options["username"]), str(options["password"] or ""))
            except aiosmtplib.SMTPException as exc:
                raise ConnectionProblem("login", f"the server refused the login: {exc}") from exc
    finally:
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()


async def _publish_status(services: Services, message: EmailMessage) -> None:
    if message.thread_id is None:
        return
    async with services.unit_of_work(tenant_id=message.tenant_id) as session:
        publish(session, message.tenant_id, ev.STATUS, ev.status_frame(message),
                audience=ev.thread_audience(message.thread_id))


async def _set(services: Services, tenant_id: uuid.UUID, message_id: uuid.UUID, *,
               status: MessageStatus, error: str | None = None,
               count_attempt: bool = False) -> EmailMessage:
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        message = await repo.get_message(session, tenant_id, message_id)
        message.status = status.value
        message.last_error = error[:1000] if error else None
        if count_attempt:
            message.attempts += 1
        if status is MessageStatus.SENT:
            message.sent_at = utcnow()
        session.add(message)
        publish(session, tenant_id, ev.STATUS, ev.status_frame(message),
                audience=ev.thread_audience(message.thread_id) if message.thread_id
                else "email")
    return message


async def send_message(services: Services, tenant_id: uuid.UUID, message_id: uuid.UUID, *,
                       final_attempt: bool) -> None:
    """One attempt; raises to be retried, unless it was the last or the failure is final."""
    settings = email_settings()
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        message = await repo.get_message(session, tenant_id, message_id)
        if message.status in (MessageStatus.SENT, MessageStatus.BOUNCED):
            return
        if message.mailbox_id is None:
            message.status, message.last_error = MessageStatus.FAILED.value, "No mailbox."
            session.add(message)
            return
        mailbox = await repo.get_mailbox(session, tenant_id, message.mailbox_id)
        thread = (await repo.get_thread(session, tenant_id, message.thread_id)
                  if message.thread_id else None)
        storage = storage_of(services)
        files = [(a, await storage.open(a.storage_key))
                 for a in await repo.message_attachments(session, tenant_id, message.id)]
        mime = build_mime(message, thread, mailbox, files)
        options = smtp_options(services, mailbox)
    await _set(services, tenant_id, message_id, status=MessageStatus.SENDING,
               count_attempt=True)
    try:
        if mailbox.smtp_security == Security.NONE and not settings.allow_private_hosts:
            raise PermanentFailure("plain SMTP is refused: use STARTTLS or TLS")
        await check_host(mailbox.smtp_host, mailbox.smtp_port,
                         allow_private=settings.allow_private_hosts,
                         timeout=settings.connect_timeout)
        try:
            await aiosmtplib.send(mime, **options)  # type: ignore[arg-type]
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(f"The server refused the recipients: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentFailure(f"The server refused the message: {exc.code} "
                                       f"{exc.message}") from exc
            raise
    except PermanentFailure as exc:
        await _set(services, tenant_id, message_id, status=MessageStatus.FAILED, error=str(exc))
        return
    except Exception as exc:
        problem = str(describe(exc)) if not isinstance(exc, aiosmtplib.SMTPException) else str(exc)
        logger.warning("sending email %s failed: %s", message_id, problem)
        await _set(services, tenant_id, message_id,
                   status=MessageStatus.FAILED if final_attempt else MessageStatus.QUEUED,
                   error=problem if final_attempt else f"{problem} (retrying)")
        if final_attempt:
            return
        raise
    await _set(services, tenant_id, message_id, status=MessageStatus.SENT)
