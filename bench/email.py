"""Email benchmark: mail on a real IMAP server (dovecot, started here on loopback) ingested
into routed contacts.

Two phases on one mailbox, with the platform in one process (PostgreSQL when it answers
on 127.0.0.1:5432, else SQLite; in-process routing state, bus and jobs):

1. Backlog: ``--messages`` (5,000) mixed messages are put on the server first (70 % short
   plain text, 20 % HTML with a plain alternative and a quoted reply, 10 % with a PDF-like
   attachment of 50-200 KB), then one fetcher (what one worker runs for one mailbox: the
   mailbox's ingestion is serialised) fetches and ingests them all: messages per second
   per worker, every message parsed, stored with its files and raw source, threaded and
   made a routed contact (committed, then handed to the router).
2. Arrivals: the mailbox is enabled, so the scheduler watches it with IMAP IDLE and queues
   fetch jobs; ``--arrivals`` (500) messages are delivered at ``--rate`` (10 a second), and
   for each the time from its APPEND completing on the server to its contact's row being
   created in the committing transaction, and to the routing engine's "queued" event for
   it (recorded from the routing log, with the engine's own timestamp): p50, p99, max.

Prints JSON.
"""

# ruff: noqa: E402  (the path is fixed before the standard library's email is imported)
from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on the path, and this module's name
# would hide the standard library's email package: the folder goes.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PLATEAUX_EMAIL_ALLOW_PRIVATE_HOSTS", "true")
RUN_ID = uuid.uuid4().hex[:8]


def note(text: str) -> None:
    print(f"[email bench] {text}", file=sys.stderr, flush=True)


def make_message(n: int, kind: str, rng: random.Random, to: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"Customer {n} <customer{n % 700}@example.org>"
    message["To"] = to
    message["Subject"] = f"Question {n} about order {rng.randrange(10**6)}"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<bench-{RUN_ID}-{n}@example.org>"
    words = " ".join(rng.choice(("order", "parcel", "refund", "size", "delivery", "thanks",
                                 "please", "when", "colour", "invoice")) for _ in range(200))
    if kind == "plain":
        message.set_content(f"Hello,\n\n{words[:rng.randrange(300, 2500)]}\n\n-- \nCustomer {n}\n")
    else:
        quoted = "\n".join(f"> {words[i:i + 70]}" for i in range(0, 1400, 70))
        message.set_content(f"Hello,\n\n{words}\n\nOn Mon, Support wrote:\n{quoted}\n")
        paragraphs = "".join(f"<p>{words[i:i + 300]}</p>" for i in range(0, len(words), 300))
        message.add_alternative(f"<html><body>{paragraphs * 4}<blockquote>{quoted}"
                                "</blockquote></body></html>", subtype="html")
    if kind == "attachment":
        size = rng.randrange(50_000, 200_000)
        message.add_attachment(b"%PDF-1.4\n" + rng.randbytes(size), maintype="application",
                               subtype="pdf", filename=f"scan-{n}.pdf")
    return message.as_bytes()


def kinds(count: int, rng: random.Random) -> list[str]:
    return [rng.choices(("plain", "html", "attachment"), weights=(70, 20, 10))[0]
            for _ in range(count)]


async def deliver(dovecot: Any, login: str, messages: list[bytes],
                  rate: float | None = None) -> dict[str, float]:
    """APPEND each message; when each one was on the server (monotonic)."""
    import aioimaplib

    imap = aioimaplib.IMAP4(host=dovecot.host, port=dovecot.port, timeout=60)
    await imap.wait_hello_from_server()
    await imap.login(login, dovecot.accounts[login])
    arrived: dict[str, float] = {}
    start = time.monotonic()
    try:
        for index, raw in enumerate(messages):
            if rate:
                await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
            response = await imap.append(raw, mailbox="INBOX")
            assert response.result == "OK", response
            key = raw.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].strip().decode()
            arrived[key] = time.monotonic()
    finally:
        await imap.logout()
    return arrived


async def run(args: argparse.Namespace, database: Any, tmp: Path) -> dict[str, Any]:
    from sqlmodel import col, select

    from plateaux.channels.email import service as email_service
    from plateaux.channels.email.fetcher import sync_mailbox
    from plateaux.channels.email.models import EmailMessage as Stored
    from plateaux.channels.email.models import EmailThread
    from plateaux.channels.email.schemas import MailboxIn, MailboxPatch
    from plateaux.channels.email.settings import email_settings
    from plateaux.platform.app import create_app
    from plateaux.platform.auth.subject import Subject
    from plateaux.routing.models import Contact, ContactEvent, RoutingQueue
    from plateaux.tenants.models import Role
    from tests.support.dovecot import Dovecot
    from tests.support.factories import TenantFactory
    from tests.support.settings import make_settings

    email_settings.cache_clear()
    rng = random.Random(args.seed)
    result: dict[str, Any] = {"backend": database.backend, "messages": args.messages,
                              "load_average_at_start": os.getloadavg()[0]}
    if True:
        settings = make_settings(database, tmp / "data", base_url="http://127.0.0.1:1")
        app = create_app(settings)
        services = app.state.services
        with Dovecot.start() as dovecot:
            async with app.router.lifespan_context(app):
                world = await TenantFactory(services).create()
                tenant_id = world.tenant.id
                async with services.unit_of_work(tenant_id=tenant_id) as session:
                    queue = RoutingQueue(tenant_id=tenant_id, name="Email")
                    session.add(queue)
                login, password = dovecot.add_account()
                address = f"support-{RUN_ID}@acme-support.com"
                subject = Subject(tenant_id=tenant_id, kind="user", principal_id=world.admin.id,
                                  role=Role.ADMIN, scopes=frozenset(), label="bench")
                async with services.unit_of_work(tenant_id=tenant_id) as session:
                    mailbox = await email_service.create_mailbox(session, subject, MailboxIn(
                        name="Support", address=address, imap_host=dovecot.host,
                        imap_port=dovecot.port, imap_security="none", imap_username=login,
                        imap_password=password, smtp_host="127.0.0.1", smtp_port=1,
                        smtp_security="none", queue_id=queue.id, enabled=False))
                mix = kinds(args.messages, rng)
                raws = [make_message(n, kind, rng, address) for n, kind in enumerate(mix)]
                note(f"delivering {len(raws)} messages ({sum(map(len, raws)) / 1e6:.1f} MB)")
                started = time.monotonic()
                await deliver(dovecot, login, raws)
                result["append_seconds"] = round(time.monotonic() - started, 2)
                note("fetching the backlog with one fetcher")
                started = time.monotonic()
                report = await sync_mailbox(services, tenant_id, mailbox.id)
                elapsed = time.monotonic() - started
                async with services.unit_of_work(tenant_id=tenant_id) as session:
                    contacts = len((await session.scalars(select(Contact.id).where(
                        Contact.tenant_id == tenant_id))).all())
                    stored = len((await session.scalars(select(Stored.id).where(
                        Stored.tenant_id == tenant_id))).all())
                result["backlog"] = {
                    "outcomes": report.outcomes, "error": report.error,
                    "stored": stored, "contacts": contacts,
                    "megabytes": round(sum(map(len, raws)) / 1e6, 1),
                    "mix": {k: mix.count(k) for k in ("plain", "html", "attachment")},
                    "seconds": round(elapsed, 2),
                    "messages_per_second_per_worker": round(stored / elapsed, 1),
                }
                note(f"backlog: {result['backlog']}")

                note(f"arrivals: {args.arrivals} at {args.rate}/s through IDLE")
                async with services.unit_of_work(tenant_id=tenant_id) as session:
                    box = await email_service.repo.get_mailbox(session, tenant_id, mailbox.id)
                    await email_service.update_mailbox(session, subject, box,
                                                       MailboxPatch(enabled=True))
                await asyncio.sleep(2)  # the scheduler's IDLE connection opens
                offset = time.time() - time.monotonic()
                later = [make_message(args.messages + n, kind, rng, address)
                         for n, kind in enumerate(kinds(args.arrivals, rng))]
                arrived = await deliver(dovecot, login, later, rate=args.rate)
                deadline = time.monotonic() + 120
                stored: dict[str, float] = {}
                queued: dict[str, float] = {}
                while time.monotonic() < deadline:
                    async with services.unit_of_work(tenant_id=tenant_id) as session:
                        rows = (await session.execute(
                            select(Stored.message_key, Contact.created_at, ContactEvent.at)
                            .join(EmailThread, EmailThread.id == Stored.thread_id)  # type: ignore[arg-type]
                            .join(Contact, Contact.id == EmailThread.contact_id)  # type: ignore[arg-type]
                            .join(ContactEvent, ContactEvent.contact_id == Contact.id)  # type: ignore[arg-type]
                            .where(Stored.tenant_id == tenant_id, ContactEvent.kind == "queued",
                                   col(Stored.message_key).in_(list(arrived))))).all()
                    for key, created, routed in rows:
                        stored[key] = created.timestamp() - offset
                        queued[key] = min(queued.get(key, 1e18), routed.timestamp() - offset)
                    if len(queued) >= len(arrived):
                        break
                    await asyncio.sleep(0.5)

                def figures(done: dict[str, float]) -> dict[str, Any]:
                    latencies = sorted((done[k] - arrived[k]) * 1000 for k in done)
                    if not latencies:
                        return {"count": 0}
                    return {"count": len(latencies),
                            "p50_ms": round(statistics.median(latencies), 1),
                            "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 1),
                            "max_ms": round(latencies[-1], 1)}

                result["arrivals"] = {
                    "messages": len(arrived), "rate_per_second": args.rate,
                    "to_contact_stored": figures(stored),
                    "to_contact_queued": figures(queued),
                }
                note(f"arrivals: {result['arrivals']}")
    result["load_average_at_end"] = os.getloadavg()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--arrivals", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from tests.support.database import create_test_database, psql

    backend = "sqlite"
    with contextlib.suppress(Exception):
        psql("SELECT 1")
        backend = "postgresql"
    tmp = Path(tempfile.mkdtemp(prefix="plateaux-email-bench-"))
    # The test helper names PostgreSQL databases after the test worker: this one's own.
    os.environ["PYTEST_XDIST_WORKER"] = f"emailbench_{RUN_ID}"
    database = create_test_database(backend, tmp)
    try:
        print(json.dumps(asyncio.run(run(args, database, tmp)), indent=2))
    finally:
        database.drop()


if __name__ == "__main__":
    main()
