"""An arq worker inside the test process, as `plateaux worker` runs in production."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from arq.worker import Worker

from plateaux.platform.settings import Settings
from plateaux.platform.worker import worker_settings


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[Worker]:
    config = worker_settings(settings)
    worker = Worker(functions=config.functions, redis_settings=config.redis_settings,
                    on_startup=config.on_startup, queue_name=config.queue_name,
                    max_tries=config.max_tries, poll_delay=0.05, handle_signals=False)
    task = asyncio.create_task(worker.async_run())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(asyncio.CancelledError):
            await worker.close()
