"""The admin console's Mailboxes section: add a mailbox by form, test its connection (the
failed step named), see the quarantine with the raw source, clear a bounced address."""

from __future__ import annotations

import re
import uuid

import httpx

from plateaux.channels.email import repository as repo
from plateaux.channels.email.outbound import mark_bounced
from plateaux.platform.services import Services
from tests.channels.email.email_world import CREATED, email_world
from tests.routing.test_live_routing import make_queue
from tests.support.console_pages import page_csrf, sign_in
from tests.support.dovecot import Dovecot
from tests.support.factories import PASSWORD, TenantFactory
from tests.support.smtp_sink import SmtpSink


async def test_admins_manage_mailboxes_in_the_console(
        client: httpx.AsyncClient, services: Services, tenants: TenantFactory,
        dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    world = await tenants.create()
    queue = await make_queue(services, world, "Mail")
    assert (await sign_in(client, world.slug, world.admin.email, PASSWORD)).status_code == 303
    page_url = f"/t/{world.slug}/admin/mailboxes"
    page = await client.get(page_url)
    assert page.status_code == 200 and "No mailbox yet" in page.text
    assert f'href="{page_url}"' in page.text  # in the navigation
    login, password = dovecot.add_account()
    address = f"desk-{uuid.uuid4().hex[:6]}@acme-support.com"
    form = {"csrf_token": await page_csrf(client, page_url), "name": "Desk", "address": address,
            "target": f"queue:{queue.id}", "imap_host": dovecot.host,
            "imap_port": str(dovecot.port), "imap_security": "none", "imap_username": login,
            "imap_password": password, "imap_folder": "INBOX", "smtp_host": smtp_sink.host,
            "smtp_port": str(smtp_sink.port), "smtp_security": "none", "poll_seconds": "60",
            "enabled": "on", "use_idle": "on"}
    created = await client.post(page_url, data=form)
    assert created.status_code == 303, created.text
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        [mailbox] = await repo.mailboxes(session, world.tenant.id)
    CREATED.append((world.tenant.id, mailbox.id))
    assert mailbox.address == address and password not in mailbox.imap_password_encrypted
    # A refused form says why, with a 4xx, and stores nothing.
    refused = await client.post(page_url, data={**form, "address": "nope"})
    assert refused.status_code == 422 and "address" in refused.text
    tested = await client.post(f"{page_url}/{mailbox.id}/test",
                               data={"csrf_token": await page_csrf(client, page_url)})
    assert tested.status_code == 200 and "Connection works." in tested.text
    edit = f"{page_url}/{mailbox.id}"
    saved = await client.post(edit, data={**form, "csrf_token": await page_csrf(client, edit),
                                          "imap_password": "wrong"})
    assert saved.status_code == 303, saved.text
    tested = await client.post(f"{page_url}/{mailbox.id}/test",
                               data={"csrf_token": await page_csrf(client, page_url)})
    assert "Connection failed." in tested.text and re.search(r"IMAP · login:", tested.text)


async def test_quarantine_and_bounced_addresses_in_the_console(
        client: httpx.AsyncClient, services: Services, tenants: TenantFactory,
        dovecot: Dovecot, smtp_sink: SmtpSink) -> None:
    box = await email_world(services, tenants, dovecot, smtp_sink)
    await box.deliver(b"no headers at all")
    await box.fetch()
    async with services.unit_of_work(tenant_id=box.tenant_id) as session:
        await mark_bounced(session, box.tenant_id, ["lost@example.net"], "550 no such user")
    assert (await sign_in(client, box.world.slug, box.world.admin.email,
                          PASSWORD)).status_code == 303
    page_url = f"/t/{box.world.slug}/admin/mailboxes"
    page = await client.get(page_url)
    assert "no sender address" in page.text and "lost@example.net" in page.text
    held = re.search(r'data-quarantine="([^"]+)"', page.text)
    assert held
    raw = await client.get(f"{page_url}/quarantine/{held.group(1)}/raw")
    assert raw.status_code == 200 and raw.content == b"no headers at all"
    assert raw.headers["content-disposition"].startswith("attachment")
    cleared = await client.post(f"{page_url}/bounced/clear", data={
        "csrf_token": await page_csrf(client, page_url), "address": "lost@example.net"})
    assert cleared.status_code == 303
    discarded = await client.post(f"{page_url}/quarantine/{held.group(1)}/discard",
                                  data={"csrf_token": await page_csrf(client, page_url)})
    assert discarded.status_code == 303
    page = await client.get(page_url)
    assert "lost@example.net" not in page.text and "Nothing held." in page.text
