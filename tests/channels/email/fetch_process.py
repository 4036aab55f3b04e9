"""A fetcher in a process of its own, for a test to kill: ``python -m
tests.channels.email.fetch_process TENANT MAILBOX`` with the platform's settings in the
environment. Prints "started" once its app is up, then fetches the mailbox once."""

from __future__ import annotations

import asyncio
import sys
import uuid


async def main(tenant_id: uuid.UUID, mailbox_id: uuid.UUID) -> None:
    from plateaux.channels.email.fetcher import sync_mailbox
    from plateaux.platform.app import create_app
    from plateaux.platform.settings import Settings

    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        print("started", flush=True)
        report = await sync_mailbox(app.state.services, tenant_id, mailbox_id)
        print(f"done {report.outcomes} {report.error}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(uuid.UUID(sys.argv[1]), uuid.UUID(sys.argv[2])))
