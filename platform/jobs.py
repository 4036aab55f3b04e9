"""Background jobs: registered by name, carrying ids (not objects), idempotent.

Callers enqueue after commit (``platform.database.after_commit``), so a job never looks for
a row that is not there yet. In production jobs go through arq on Redis and run in
``plateaux worker`` processes; in the embedded default they run as asyncio tasks inside the
server. Both give a job the same things: its keyword arguments as JSON values, a
``JobContext``, a retry with exponential backoff on any exception (a timeout included) up
to the job's ``max_tries``, and at most one queued or running job per job id.

Because a job may run more than once (a retry after a partial success, a worker killed
mid-job), every job must be idempotent (DESIGN.md decision 6).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from arq import Retry, create_pool, func
from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name
from arq.typing import WorkerCoroutine

logger = logging.getLogger(__name__)

JobFunc = Callable[..., Awaitable[Any]]

MAX_BACKOFF = 300.0
# arq's own timeout is only a backstop: the job's timeout is enforced inside the wrapper,
# where it can become a retry as it does in-process.
ARQ_TIMEOUT_MARGIN = 5.0


@dataclass
class JobContext:
    job_id: str
    attempt: int
    services: dict[str, Any]
    name: str = ""


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: JobFunc
    max_tries: int
    timeout: float


@dataclass(frozen=True)
class FailedJob:
    name: str
    job_id: str
    attempts: int
    error: str


class JobRegistry:
    """Jobs by name. Domain ``tasks.py`` modules register on the module-level ``registry``."""

    def __init__(self) -> None:
        self._jobs: dict[str, JobSpec] = {}

    def job(
        self, name: str | None = None, *, max_tries: int = 5, timeout: float = 300
    ) -> Callable[[JobFunc], JobFunc]:
        """Register ``async def fn(ctx: JobContext, **kwargs)``; the function is unchanged."""
        if max_tries < 1:
            raise ValueError("max_tries must be at least 1")
        if timeout <= 0:
            raise ValueError("timeout must be positive")

        def register(func: JobFunc) -> JobFunc:
            job_name = name or f"{func.__module__}.{func.__qualname__}"
            existing = self._jobs.get(job_name)
            # Two functions under one name would make the worker run whichever was
            # imported last; re-importing the same module is harmless.
            if existing is not None and _origin(existing.func) != _origin(func):
                raise ValueError(f"job name {job_name!r} is already registered")
            self._jobs[job_name] = JobSpec(job_name, func, max_tries, timeout)
            return func

        return register

    def get(self, name: str) -> JobSpec:
        try:
            return self._jobs[name]
        except KeyError:
            raise LookupError(f"no job named {name!r} is registered") from None

    def __contains__(self, name: object) -> bool:
        return name in self._jobs

    def names(self) -> list[str]:
        return list(self._jobs)

    def all(self) -> list[JobSpec]:
        return list(self._jobs.values())


def _origin(func: JobFunc) -> tuple[str, str]:
    return (getattr(func, "__module__", ""), getattr(func, "__qualname__", repr(func)))


registry = JobRegistry()


def backoff_delay(attempt: int, base: float) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): base, 2·base, 4·base..., capped."""
    return float(min(base * 2 ** (attempt - 1), MAX_BACKOFF))


def encode_arguments(name: str, kwargs: dict[str, Any]) -> str:
    """The job's arguments as JSON, the form in which the job will receive them.

    Jobs carry ids, not objects. Checking at enqueue makes passing an object fail the same
    way in both implementations, in the caller, instead of only in production inside the
    worker; decoding the JSON for each attempt gives a job in-process the same values
    (lists, not tuples) and no state shared with its caller or its earlier attempts.
    """
    reserved = [key for key in kwargs if key.startswith("_")]
    if reserved:
        raise TypeError(f"job {name!r}: argument names starting with '_' are reserved")
    try:
        return json.dumps(kwargs, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"job {name!r}: arguments must be JSON values (pass ids as strings): {exc}"
        ) from exc


def _log_retry(spec: JobSpec, job: JobContext, exc: BaseException, delay: float) -> None:
    logger.warning("job %s (%s) attempt %d/%d failed, retrying in %.2fs: %r",
                   spec.name, job.job_id, job.attempt, spec.max_tries, delay, exc)


def _log_exhausted(spec: JobSpec, job: JobContext, exc: BaseException) -> None:
    logger.error("job %s (%s) failed after %d tries: %r",
                 spec.name, job.job_id, job.attempt, exc, exc_info=exc)


class JobQueue(ABC):
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @abstractmethod
    async def enqueue(
        self, name: str, *, job_id: str | None = None, defer_by: float | None = None, **kwargs: Any
    ) -> bool:
        """Queue job ``name``; False when a job with that id is already queued or running.

        Raises LookupError for an unknown job (where the registry is known) and TypeError
        for arguments that are not JSON values.
        """


class InProcessJobQueue(JobQueue):
    """Jobs as asyncio tasks of this process (the embedded default).

    Nothing survives a restart: a job still waiting (deferred or between retries) when the
    process stops is lost, which is acceptable only because this queue serves single-process
    installations and development.
    """

    def __init__(
        self,
        *,
        registry: JobRegistry,
        services: dict[str, Any],
        backoff_base: float = 1.0,
        concurrency: int = 16,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._registry = registry
        self._services = services
        self._backoff_base = backoff_base
        # Bounds running attempts, not queued jobs: a deferred job or one waiting for its
        # retry holds no slot.
        self._slots = asyncio.Semaphore(concurrency)
        self._active: dict[str, asyncio.Task[None]] = {}
        self._closed = False
        self.failed: list[FailedJob] = []

    async def start(self) -> None:
        self._closed = False

    async def enqueue(
        self, name: str, *, job_id: str | None = None, defer_by: float | None = None, **kwargs: Any
    ) -> bool:
        if self._closed:
            raise RuntimeError("the job queue is closed")
        spec = self._registry.get(name)
        arguments = encode_arguments(name, kwargs)
        job_id = job_id or uuid.uuid4().hex
        if job_id in self._active:
            return False
        self._active[job_id] = asyncio.create_task(
            self._run(spec, job_id, defer_by or 0.0, arguments), name=f"job:{name}:{job_id}"
        )
        return True

    async def _run(self, spec: JobSpec, job_id: str, delay: float, arguments: str) -> None:
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            for attempt in range(1, spec.max_tries + 1):
                job = JobContext(job_id=job_id, attempt=attempt, services=self._services,
                                 name=spec.name)
                try:
                    async with self._slots:
                        await asyncio.wait_for(spec.func(job, **json.loads(arguments)),
                                               spec.timeout)
                    return
                except Exception as exc:
                    if attempt == spec.max_tries:
                        _log_exhausted(spec, job, exc)
                        self.failed.append(FailedJob(spec.name, job_id, attempt, repr(exc)))
                        return
                    pause = backoff_delay(attempt, self._backoff_base)
                    _log_retry(spec, job, exc, pause)
                    await asyncio.sleep(pause)
        finally:
            # Removed here rather than in a done callback, which runs a loop turn later:
            # the id must be free again as soon as the job is over.
            if self._active.get(job_id) is asyncio.current_task():
                del self._active[job_id]

    @property
    def pending(self) -> int:
        """Jobs queued, waiting for a retry, or running."""
        return len(self._active)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until no job is queued or running, including jobs enqueued meanwhile."""
        async with asyncio.timeout(timeout):
            while self._active:
                await asyncio.wait(list(self._active.values()))

    async def close(self, grace: float = 5.0) -> None:
        """Refuse new jobs, let running ones finish for ``grace`` seconds, cancel the rest."""
        self._closed = True
        tasks = list(self._active.values())
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        leftover = [task for task in tasks if not task.done()]
        if leftover:
            logger.warning("%d in-process jobs dropped at shutdown", len(leftover))
            for task in leftover:
                task.cancel()
            await asyncio.gather(*leftover, return_exceptions=True)


class ArqJobQueue(JobQueue):
    """Enqueues to arq on Redis; ``arq_worker_settings`` builds the worker that runs them."""

    def __init__(
        self,
        redis_url: str,
        *,
        queue_name: str | None = None,
        registry: JobRegistry | None = None,
    ) -> None:
        self._url = redis_url
        self._queue_name = queue_name
        self._registry = registry
        self._pool: ArqRedis | None = None
        self._start_lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._start_lock:
            if self._pool is None:
                self._pool = await create_pool(
                    RedisSettings.from_dsn(self._url),
                    default_queue_name=self._queue_name or default_queue_name,
                )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()

    async def enqueue(
        self, name: str, *, job_id: str | None = None, defer_by: float | None = None, **kwargs: Any
    ) -> bool:
        # The worker would only report an unknown name once the job is due, far from the
        # caller; where the registry is known the mistake surfaces here, as in-process.
        if self._registry is not None:
            self._registry.get(name)
        arguments = json.loads(encode_arguments(name, kwargs))
        if self._pool is None:
            await self.start()
        assert self._pool is not None
        job = await self._pool.enqueue_job(name, _job_id=job_id, _defer_by=defer_by,
                                           **arguments)
        return job is not None


def arq_worker_settings(
    *,
    redis_url: str,
    registry: JobRegistry,
    services_factory: Callable[[], Awaitable[dict[str, Any]]],
    queue_name: str | None = None,
    backoff_base: float = 1.0,
) -> type:
    """An arq ``WorkerSettings`` class running every job of ``registry``.

    Run it with ``arq.worker.run_worker`` (or ``create_worker`` in tests): each job gets a
    ``JobContext`` whose ``services`` come from ``services_factory``, called once at worker
    startup.
    """
    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["services"] = await services_factory()

    specs = registry.all()
    attributes: dict[str, Any] = {
        "functions": [
            # keep_result=0: a finished job leaves no result behind, so its id can be
            # enqueued again at once, as in-process (dedupe covers queued and running jobs).
            func(_arq_job(spec, backoff_base), name=spec.name, max_tries=spec.max_tries,
                 timeout=spec.timeout + ARQ_TIMEOUT_MARGIN, keep_result=0)
            for spec in specs
        ],
        "redis_settings": RedisSettings.from_dsn(redis_url),
        "on_startup": on_startup,
        "queue_name": queue_name or default_queue_name,
        "max_tries": max((spec.max_tries for spec in specs), default=5),
        "keep_result": 0,
    }
    return type("WorkerSettings", (), attributes)


def _arq_job(spec: JobSpec, backoff_base: float) -> WorkerCoroutine:
    async def run(ctx: dict[Any, Any], *args: Any, **kwargs: Any) -> Any:
        job = JobContext(job_id=str(ctx["job_id"]), attempt=int(ctx["job_try"]),
                         services=ctx["services"], name=spec.name)
        try:
            return await asyncio.wait_for(spec.func(job, *args, **kwargs), spec.timeout)
        except Exception as exc:
            if job.attempt >= spec.max_tries:
                _log_exhausted(spec, job, exc)
                raise
            pause = backoff_delay(job.attempt, backoff_base)
            _log_retry(spec, job, exc, pause)
            raise Retry(defer=pause) from exc

    run.__name__ = run.__qualname__ = spec.name
    return run


def create_job_queue(
    redis_url: str | None,
    *,
    registry: JobRegistry,
    services: dict[str, Any],
    queue_name: str | None = None,
) -> JobQueue:
    """arq when a Redis URL is configured, else the in-process queue."""
    if redis_url:
        return ArqJobQueue(redis_url, queue_name=queue_name, registry=registry)
    return InProcessJobQueue(registry=registry, services=services)


__all__ = [
    "ArqJobQueue",
    "FailedJob",
    "InProcessJobQueue",
    "JobContext",
    "JobFunc",
    "JobQueue",
    "JobRegistry",
    "JobSpec",
    "arq_worker_settings",
    "backoff_delay",
    "create_job_queue",
    "encode_arguments",
    "registry",
]
