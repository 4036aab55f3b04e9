"""Background jobs: registered by name, carrying ids (not objects), idempotent.

Callers enqueue after commit (``platform.database.after_commit``). In production jobs go
through arq on Redis and run in ``plateaux worker`` processes; in the embedded default they
run as asyncio tasks inside the server, with the same retry semantics.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

JobFunc = Callable[..., Awaitable[Any]]


@dataclass
class JobContext:
    job_id: str
    attempt: int
    services: dict[str, Any]


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: JobFunc
    max_tries: int
    timeout: float


class JobRegistry:
    def __init__(self) -> None:
        self._jobs: dict[str, JobSpec] = {}

    def job(
        self, name: str | None = None, *, max_tries: int = 5, timeout: float = 300
    ) -> Callable[[JobFunc], JobFunc]:
        def register(func: JobFunc) -> JobFunc:
            job_name = name or f"{func.__module__}.{func.__name__}"
            self._jobs[job_name] = JobSpec(job_name, func, max_tries, timeout)
            return func

        return register

    def get(self, name: str) -> JobSpec:
        try:
            return self._jobs[name]
        except KeyError:
            raise LookupError(f"no job named {name!r} is registered") from None

    def all(self) -> list[JobSpec]:
        return list(self._jobs.values())


registry = JobRegistry()


def backoff_delay(attempt: int, base: float) -> float:
    """Exponential backoff: base, 2·base, 4·base ... capped at five minutes."""
    return float(min(base * (2 ** (attempt - 1)), 300.0))


class JobQueue(ABC):
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @abstractmethod
    async def enqueue(
        self, name: str, *, job_id: str | None = None, defer_by: float | None = None, **kwargs: Any
    ) -> bool:
        """Queue a job; False when a job with that id is already queued or running."""


@dataclass
class FailedJob:
    name: str
    job_id: str
    error: str


class InProcessJobQueue(JobQueue):
    def __init__(
        self,
        *,
        registry: JobRegistry,
        services: dict[str, Any],
        backoff_base: float = 1.0,
        concurrency: int = 16,
    ) -> None:
        self._registry = registry
        self._services = services
        self._backoff = backoff_base
        self._slots = asyncio.Semaphore(concurrency)
        self._active: dict[str, asyncio.Task[None]] = {}
        self.failed: list[FailedJob] = []

    async def enqueue(
        self, name: str, *, job_id: str | None = None, defer_by: float | None = None, **kwargs: Any
    ) -> bool:
        spec = self._registry.get(name)
        job_id = job_id or uuid.uuid4().hex
        if job_id in self._active:
            return False
        task = asyncio.create_task(self._run(spec, job_id, defer_by or 0.0, kwargs))
        self._active[job_id] = task
        task.add_done_callback(lambda _task: self._active.pop(job_id, None))
        return True

    async def _run(self, spec: JobSpec, job_id: str, delay: float, kwargs: dict[str, Any]) -> None:
        if delay:
            await asyncio.sleep(delay)
        for attempt in range(1, spec.max_tries + 1):
            ctx = JobContext(job_id=job_id, attempt=attempt, services=self._services)
            try:
                async with self._slots:
                    await asyncio.wait_for(spec.func(ctx, **kwargs), spec.timeout)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt == spec.max_tries:
                    logger.error(
                        "job %s (%s) failed after %d tries: %r", spec.name, job_id, attempt, exc
                    )
                    self.failed.append(FailedJob(spec.name, job_id, repr(exc)))
                    return
                logger.warning("job %s (%s) attempt %d failed: %r", spec.name, job_id, attempt, exc)
                await asyncio.sleep(backoff_delay(attempt, self._backoff))

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until no job is queued or running (tests, shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._active:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._active)} jobs still running")
            await asyncio.wait(list(self._active.values()), timeout=remaining)

    async def close(self) -> None:
        with_timeout = list(self._active.values())
        if with_timeout:
            await asyncio.wait(with_timeout, timeout=5)
        for task in self._active.values():
            task.cancel()


class ArqJobQueue(JobQueue):
    def __init__(self, redis_url: str, *, queue_name: str | None = None) -> None:
        self._url = redis_url
        self._queue_name = queue_name
        self._pool: Any = None

    async def start(self) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        self._pool = await create_pool(RedisSettings.from_dsn(self._url))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    async def enqueue(
        self, name: str, *, job_id: str | None = None, defer_by: float | None = None, **kwargs: Any
    ) -> bool:
        if self._pool is None:
            await self.start()
        extra: dict[str, Any] = {}
        if self._queue_name:
            extra["_queue_name"] = self._queue_name
        job = await self._pool.enqueue_job(
            name, _job_id=job_id, _defer_by=defer_by, **extra, **kwargs
        )
        return job is not None


def arq_worker_settings(
    *,
    redis_url: str,
    registry: JobRegistry,
    services_factory: Callable[[], Awaitable[dict[str, Any]]],
    queue_name: str | None = None,
    backoff_base: float = 1.0,
) -> type:
    """An arq ``WorkerSettings`` class running every job of ``registry``."""
    from arq import Retry, func
    from arq.connections import RedisSettings

    def wrap(spec: JobSpec) -> Any:
        async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
            attempt = int(ctx.get("job_try", 1))
            job_ctx = JobContext(
                job_id=str(ctx.get("job_id")), attempt=attempt, services=ctx["services"]
            )
            try:
                return await spec.func(job_ctx, **kwargs)
            except Exception as exc:
                if attempt >= spec.max_tries:
                    logger.error(
                        "job %s (%s) failed after %d tries: %r",
                        spec.name,
                        job_ctx.job_id,
                        attempt,
                        exc,
                    )
                    raise
                raise Retry(defer=backoff_delay(attempt, backoff_base)) from exc

        run.__qualname__ = run.__name__ = spec.name
        return func(run, name=spec.name, max_tries=spec.max_tries, timeout=spec.timeout)

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["services"] = await services_factory()

    attrs: dict[str, Any] = {
        "functions": [wrap(spec) for spec in registry.all()],
        "redis_settings": RedisSettings.from_dsn(redis_url),
        "on_startup": on_startup,
        "max_tries": max((s.max_tries for s in registry.all()), default=5),
    }
    if queue_name:
        attrs["queue_name"] = queue_name
    return type("WorkerSettings", (), attrs)


def create_job_queue(
    redis_url: str | None, *, registry: JobRegistry, services: dict[str, Any],
    queue_name: str | None = None,
) -> JobQueue:
    if redis_url:
        return ArqJobQueue(redis_url, queue_name=queue_name)
    return InProcessJobQueue(registry=registry, services=services)
