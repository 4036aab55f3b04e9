"""A fetcher in a process of its own, for a test to kill: ``python -m
tests.channels.email.fetch_process TENANT MAILBOX`` with the platform's settings in the
environment. Starts the services a fetch uses (database, bus, jobs, routing; not the whole
application), prints "started", then fetches the mailbox once."""

from __future__ import annotations

import asyncio
import sys
import uuid


async def main(tenant_id: uuid.UUID, mailbox_id: uuid.UUID) -> None:
    from plateaux.channels.email.fetcher import sync_mailbox
    from plateaux.platform.app import _import_task_modules, build_services
    from plateaux.platform.settings import Settings

    _import_task_modules()
    services = build_services(Settings())
    assert services.routing is not None
    await services.bus.start()
    await services.jobs.start()
    await services.routing.start()
    try:
        print("started", flush=True)
        report = await sync_mailbox(services, tenant_id, mailbox_id)
        print(f"done {report.outcomes} {report.error}", flush=True)
    finally:
        await services.routing.stop()
        await services.jobs.close()
        await services.bus.close()
        await services.db.dispose()


if __name__ == "__main__":
    asyncio.run(main(uuid.UUID(sys.argv[1]), uuid.UUID(sys.argv[2])))
