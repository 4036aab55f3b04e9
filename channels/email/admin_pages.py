"""The admin console's Mailboxes section (``/t/{slug}/admin/mailboxes``): mailboxes with
their fetch status, a connection test that names the failed step, the quarantine with
each message's raw source, and addresses that bounced. Same services as the API."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from plateaux.channels.email import repository as repo
from plateaux.channels.email import service as svc
from plateaux.channels.email.endpoints import file_response
from plateaux.channels.email.schemas import MailboxIn, MailboxPatch
from plateaux.channels.email.tasks import FETCH_JOB, fetch_job_id
from plateaux.platform.deps import AdminConsole, ConsoleContext, DbSession, ServicesDep
from plateaux.routing import config_repository as routing_repo
from plateaux.tenants.console import ADMIN, REFUSED, _attempt, _back, _field, _page

router = APIRouter(include_in_schema=False)
SECTION = ADMIN + "/mailboxes"
CHECKBOXES = ("enabled", "use_idle", "ack_enabled")


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("name", "address", "display_name", "imap_host", "imap_port", "imap_security",
                 "imap_username", "imap_password", "imap_folder", "smtp_host", "smtp_port",
                 "smtp_security", "smtp_username", "smtp_password", "poll_seconds",
                 "ack_subject", "ack_text"):
        value = _field(form, name)
        if value or name in ("display_name", "ack_subject", "ack_text", "smtp_username"):
            values[name] = value
    target = _field(form, "target")
    kind, _, ident = target.partition(":")
    values["queue_id"] = ident if kind == "queue" and ident else None
    values["workflow_id"] = ident if kind == "workflow" and ident else None
    for name in CHECKBOXES:
        values[name] = form.get(name) == "on"
    return values


async def _list(request: Request, console: ConsoleContext, session: DbSession, *,
                failure: BaseException | None = None, report: Any = None,
                tested: uuid.UUID | None = None) -> Response:
    tenant_id = console.tenant.id
    return _page(request, console, "mailboxes/mailboxes.html", section="mailboxes",
                 failure=failure, mailboxes=await repo.mailboxes(session, tenant_id),
                 queues=await routing_repo.all_queues(session, tenant_id),
                 workflows=await routing_repo.all_workflows(session, tenant_id),
                 quarantine=await repo.quarantined(session, tenant_id),
                 bounced=await repo.bounced_addresses(session, tenant_id),
                 report=report, tested=tested)


@router.get(SECTION)
async def mailboxes(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _list(request, console, session)


@router.post(SECTION)
async def create(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def run() -> str:
        body = MailboxIn.model_validate(_form_values(form))
        return (await svc.create_mailbox(session, console.subject, body)).address

    try:
        address = await _attempt(session, run)
    except REFUSED as exc:
        return await _list(request, console, session, failure=exc)
    return _back(request, console, "mailboxes", f"Mailbox {address} added.")


@router.get(SECTION + "/{mailbox_id}")
async def edit(mailbox_id: uuid.UUID, request: Request, console: AdminConsole,
               session: DbSession) -> Response:
    return await _edit_page(mailbox_id, request, console, session)


async def _edit_page(mailbox_id: uuid.UUID, request: Request, console: ConsoleContext,
                     session: DbSession, failure: BaseException | None = None) -> Response:
    tenant_id = console.tenant.id
    mailbox = await repo.get_mailbox(session, tenant_id, mailbox_id)
    return _page(request, console, "mailboxes/mailbox.html", section="mailboxes",
                 failure=failure, mailbox=mailbox,
                 queues=await routing_repo.all_queues(session, tenant_id),
                 workflows=await routing_repo.all_workflows(session, tenant_id))


@router.post(SECTION + "/{mailbox_id}")
async def update(mailbox_id: uuid.UUID, request: Request, console: AdminConsole,
                 session: DbSession) -> Response:
    form = await request.form()
    mailbox = await repo.get_mailbox(session, console.tenant.id, mailbox_id)

    async def run() -> str:
        values = _form_values(form)
        values.pop("address", None)
        for secret in ("imap_password", "smtp_password"):
            if not values.get(secret):
                values.pop(secret, None)  # blank: keep the stored one
        body = MailboxPatch.model_validate(values)
        return (await svc.update_mailbox(session, console.subject, mailbox, body)).address

    try:
        address = await _attempt(session, run)
    except REFUSED as exc:
        await session.refresh(mailbox)
        return await _edit_page(mailbox_id, request, console, session, failure=exc)
    return _back(request, console, f"mailboxes/{mailbox_id}", f"Mailbox {address} saved.")


@router.post(SECTION + "/{mailbox_id}/test")
async def test(mailbox_id: uuid.UUID, request: Request, console: AdminConsole,
               session: DbSession, services: ServicesDep) -> Response:
    mailbox = await repo.get_mailbox(session, console.tenant.id, mailbox_id)
    report = await svc.check_connection(services, mailbox)
    return await _list(request, console, session, report=report, tested=mailbox.id)


@router.post(SECTION + "/{mailbox_id}/fetch")
async def fetch(mailbox_id: uuid.UUID, request: Request, console: AdminConsole,
                session: DbSession, services: ServicesDep) -> Response:
    mailbox = await repo.get_mailbox(session, console.tenant.id, mailbox_id)
    await services.jobs.enqueue(FETCH_JOB, job_id=fetch_job_id(mailbox.id),
                                tenant_id=str(mailbox.tenant_id), mailbox_id=str(mailbox.id))
    return _back(request, console, "mailboxes", f"Fetching {mailbox.address} now.")


@router.post(SECTION + "/{mailbox_id}/delete")
async def delete(mailbox_id: uuid.UUID, request: Request, console: AdminConsole,
                 session: DbSession) -> Response:
    mailbox = await repo.get_mailbox(session, console.tenant.id, mailbox_id)
    await svc.delete_mailbox(session, console.subject, mailbox)
    return _back(request, console, "mailboxes", f"Mailbox {mailbox.address} removed.")


@router.get(SECTION + "/quarantine/{quarantine_id}/raw")
async def quarantine_raw(quarantine_id: uuid.UUID, console: AdminConsole,
                         session: DbSession) -> Response:
    held = await repo.get_quarantined(session, console.tenant.id, quarantine_id)
    data = await svc.read_file(session, held.raw_key)
    return file_response(f"quarantined-{held.uid}.eml", "message/rfc822", data)


@router.post(SECTION + "/quarantine/{quarantine_id}/discard")
async def discard(quarantine_id: uuid.UUID, request: Request, console: AdminConsole,
                  session: DbSession) -> Response:
    held = await repo.get_quarantined(session, console.tenant.id, quarantine_id)
    await svc.discard(session, console.subject, held)
    return _back(request, console, "mailboxes", "Quarantined message discarded.")


@router.post(SECTION + "/bounced/clear")
async def clear_bounce(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()
    address = _field(form, "address")
    try:
        await _attempt(session, lambda: svc.clear_bounce(session, console.subject, address))
    except REFUSED as exc:
        return await _list(request, console, session, failure=exc)
    return _back(request, console, "mailboxes", f"{address} may be written to again.")
