"""One contract for both job queues: in-process (embedded default) and arq on Redis with a
real arq worker (production), then what only one of them has to show."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from arq.worker import create_worker
from redis import Redis as SyncRedis
from redis.exceptions import RedisError

from plateaux.platform.jobs import (
    ArqJobQueue,
    InProcessJobQueue,
    JobContext,
    JobQueue,
    JobRegistry,
    arq_worker_settings,
    backoff_delay,
    create_job_queue,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
BACKOFF = 0.01
SERVICES = {"marker": "the services the app injects"}

# arq's own Worker.close calls a redis-py method deprecated in favour of aclose.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


@dataclass
class Call:
    name: str
    job_id: str
    attempt: int
    services: dict[str, Any]
    kwargs: dict[str, Any]
    at: float


@dataclass
class Journal:
    """What the test jobs did, and a gate that holds the ``gated`` job until opened."""

    calls: list[Call] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    running: int = 0
    most_running: int = 0

    def record(self, ctx: JobContext, kwargs: dict[str, Any]) -> None:
        self.calls.append(Call(ctx.name, ctx.job_id, ctx.attempt, ctx.services, kwargs,
                               asyncio.get_running_loop().time()))

    def attempts(self, name: str) -> list[int]:
        return [call.attempt for call in self.calls if call.name == name]

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        await eventually(lambda: len(self.calls) >= count, timeout)


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def build_registry(journal: Journal) -> JobRegistry:
    registry = JobRegistry()

    @registry.job("record", max_tries=3)
    async def record(ctx: JobContext, **kwargs: Any) -> None:
        journal.record(ctx, kwargs)

    @registry.job("flaky", max_tries=4)
    async def flaky(ctx: JobContext, *, fail_times: int) -> None:
        journal.record(ctx, {"fail_times": fail_times})
        if ctx.attempt <= fail_times:
            raise RuntimeError(f"attempt {ctx.attempt} fails")

    @registry.job("broken", max_tries=3)
    async def broken(ctx: JobContext) -> None:
        journal.record(ctx, {})
        raise RuntimeError("always fails")

    @registry.job("slow", max_tries=2, timeout=0.2)
    async def slow(ctx: JobContext) -> None:
        journal.record(ctx, {})
        if ctx.attempt == 1:
            await asyncio.sleep(30)

    @registry.job("gated", max_tries=1)
    async def gated(ctx: JobContext) -> None:
        journal.record(ctx, {})
        journal.running += 1
        journal.most_running = max(journal.most_running, journal.running)
        try:
            await journal.gate.wait()
        finally:
            journal.running -= 1

    return registry


@pytest.fixture(scope="module")
def redis_available() -> None:
    """Tests that need Redis fail, loudly, when it is not there; they never skip."""
    client = SyncRedis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        pytest.fail(f"these tests need Redis on 127.0.0.1:6379 and it does not answer: {exc}")
    finally:
        client.close()


@contextlib.asynccontextmanager
async def in_process_queue(registry: JobRegistry, **options: Any) -> AsyncIterator[JobQueue]:
    queue = InProcessJobQueue(registry=registry, services=SERVICES, backoff_base=BACKOFF,
                              **options)
    await queue.start()
    try:
        yield queue
    finally:
        await queue.close(grace=0)


@contextlib.asynccontextmanager
async def arq_queue(
    registry: JobRegistry,
    services_factory: Callable[[], Any] | None = None,
) -> AsyncIterator[JobQueue]:
    """An arq worker running in this event loop, as ``plateaux worker`` runs in production,
    on a queue of its own so that concurrent test runs never take each other's jobs."""
    queue_name = f"plateaux:test:jobs:{uuid.uuid4().hex}"

    async def default_services() -> dict[str, Any]:
        return SERVICES

    settings = arq_worker_settings(redis_url=REDIS_URL, registry=registry,
                                   services_factory=services_factory or default_services,
                                   queue_name=queue_name, backoff_base=BACKOFF)
    worker = create_worker(settings, poll_delay=0.01, handle_signals=False, burst=False)
    running = asyncio.create_task(worker.async_run())
    queue = ArqJobQueue(REDIS_URL, queue_name=queue_name, registry=registry)
    await queue.start()
    try:
        yield queue
    finally:
        await queue.close()
        # Let the jobs in hand finish their bookkeeping in Redis before the worker stops:
        # arq's close re-raises the cancellation of any job task it interrupts.
        if worker.tasks:
            await asyncio.wait(list(worker.tasks.values()), timeout=5)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        with contextlib.suppress(asyncio.CancelledError):
            await worker.close()


Harness = tuple[JobQueue, Journal]


@pytest.fixture(params=["in-process", "arq"])
async def jobs(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    journal = Journal()
    registry = build_registry(journal)
    if request.param == "arq":
        request.getfixturevalue("redis_available")
        factory = arq_queue(registry)
    else:
        factory = in_process_queue(registry)
    async with factory as queue:
        try:
            yield queue, journal
        finally:
            journal.gate.set()


def unique_id(label: str) -> str:
    # arq keeps job ids in one namespace for every queue of a Redis database.
    return f"{label}-{uuid.uuid4().hex}"


# --- the contract, for both implementations -------------------------------------------


async def test_a_job_runs_with_its_arguments_and_a_context(jobs: Harness) -> None:
    queue, journal = jobs
    job_id = unique_id("record")
    assert await queue.enqueue("record", job_id=job_id, ticket_id="42", tags=["a"]) is True
    await journal.wait_for(1)
    [call] = journal.calls
    assert call == Call("record", job_id, 1, SERVICES, {"ticket_id": "42", "tags": ["a"]},
                        call.at)


async def test_a_failing_job_is_retried_until_it_succeeds(jobs: Harness) -> None:
    queue, journal = jobs
    await queue.enqueue("flaky", fail_times=2)
    await journal.wait_for(3)
    await asyncio.sleep(0.2)
    assert journal.attempts("flaky") == [1, 2, 3]


async def test_retries_back_off(jobs: Harness) -> None:
    queue, journal = jobs
    await queue.enqueue("flaky", fail_times=3)
    await journal.wait_for(4)
    starts = [call.at for call in journal.calls]
    pauses = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # BACKOFF, 2·BACKOFF, 4·BACKOFF: each pause at least its share of the schedule.
    for attempt, pause in enumerate(pauses, start=1):
        assert pause >= backoff_delay(attempt, BACKOFF) * 0.9


async def test_a_job_that_always_fails_stops_at_max_tries_and_is_logged(
    jobs: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    queue, journal = jobs
    job_id = unique_id("broken")

    def errors() -> list[logging.LogRecord]:
        return [r for r in caplog.records
                if r.name == "plateaux.platform.jobs" and r.levelno == logging.ERROR]

    with caplog.at_level(logging.ERROR, logger="plateaux.platform.jobs"):
        await queue.enqueue("broken", job_id=job_id)
        await journal.wait_for(3)
        await eventually(lambda: bool(errors()))
        await asyncio.sleep(0.3)
    assert journal.attempts("broken") == [1, 2, 3]
    [record] = errors()
    assert "broken" in record.getMessage() and job_id in record.getMessage()


async def test_a_timeout_is_a_failure_and_is_retried(jobs: Harness) -> None:
    queue, journal = jobs
    await queue.enqueue("slow")
    await journal.wait_for(2)
    first, second = journal.calls
    assert (first.attempt, second.attempt) == (1, 2)
    assert second.at - first.at < 2


async def test_the_same_job_id_is_queued_once(jobs: Harness) -> None:
    queue, journal = jobs
    job_id = unique_id("once")
    assert await queue.enqueue("record", job_id=job_id, defer_by=0.2, n=1) is True
    assert await queue.enqueue("record", job_id=job_id, defer_by=0.2, n=2) is False
    await journal.wait_for(1)
    await asyncio.sleep(0.3)
    assert [call.kwargs for call in journal.calls] == [{"n": 1}]


async def test_a_running_job_is_not_queued_again(jobs: Harness) -> None:
    queue, journal = jobs
    job_id = unique_id("gated")
    assert await queue.enqueue("gated", job_id=job_id)
    await journal.wait_for(1)
    assert await queue.enqueue("gated", job_id=job_id) is False
    journal.gate.set()
    await asyncio.sleep(0.2)
    assert len(journal.calls) == 1


async def test_a_finished_job_id_can_run_again(jobs: Harness) -> None:
    queue, journal = jobs
    job_id = unique_id("again")
    await queue.enqueue("record", job_id=job_id, n=1)
    await journal.wait_for(1)
    # The worker releases the id an instant after the function returns.
    async with asyncio.timeout(5):
        while not await queue.enqueue("record", job_id=job_id, n=2):
            await asyncio.sleep(0.01)
    await journal.wait_for(2)
    assert [call.kwargs for call in journal.calls] == [{"n": 1}, {"n": 2}]


async def test_defer_by_delays_the_job(jobs: Harness) -> None:
    queue, journal = jobs
    enqueued_at = asyncio.get_running_loop().time()
    await queue.enqueue("record", defer_by=0.5)
    await asyncio.sleep(0.25)
    assert journal.calls == []
    await journal.wait_for(1)
    assert journal.calls[0].at - enqueued_at >= 0.45


async def test_an_unknown_job_is_refused_at_enqueue(jobs: Harness) -> None:
    queue, _ = jobs
    with pytest.raises(LookupError, match="no-such-job"):
        await queue.enqueue("no-such-job")


async def test_arguments_must_be_json_values(jobs: Harness) -> None:
    queue, journal = jobs
    with pytest.raises(TypeError, match="JSON"):
        await queue.enqueue("record", ticket_id=uuid.uuid4())
    with pytest.raises(TypeError, match="reserved"):
        await queue.enqueue("record", _expires=10)
    # Both implementations hand the job the JSON copy: a tuple arrives as a list.
    await queue.enqueue("record", ids=("a", "b"))
    await journal.wait_for(1)
    assert journal.calls[0].kwargs == {"ids": ["a", "b"]}


# --- in-process only -------------------------------------------------------------------


async def test_in_process_jobs_that_exhaust_their_tries_are_kept() -> None:
    journal = Journal()
    async with in_process_queue(build_registry(journal)) as queue:
        assert isinstance(queue, InProcessJobQueue)
        await queue.enqueue("broken", job_id="b-1")
        await queue.drain(timeout=5)
        assert [(f.name, f.job_id, f.attempts) for f in queue.failed] == [("broken", "b-1", 3)]
        assert "always fails" in queue.failed[0].error


async def test_in_process_concurrency_is_bounded() -> None:
    journal = Journal()
    async with in_process_queue(build_registry(journal), concurrency=2) as queue:
        assert isinstance(queue, InProcessJobQueue)
        for _ in range(5):
            await queue.enqueue("gated")
        await journal.wait_for(2)
        await asyncio.sleep(0.1)
        assert journal.running == 2
        journal.gate.set()
        await queue.drain(timeout=5)
        assert (len(journal.calls), journal.most_running, queue.pending) == (5, 2, 0)


async def test_in_process_drain_gives_up_after_its_timeout() -> None:
    journal = Journal()
    async with in_process_queue(build_registry(journal)) as queue:
        assert isinstance(queue, InProcessJobQueue)
        await queue.enqueue("gated")
        with pytest.raises(TimeoutError):
            await queue.drain(timeout=0.1)
        journal.gate.set()
        await queue.drain(timeout=5)


async def test_in_process_close_cancels_what_is_left_and_refuses_new_jobs() -> None:
    journal = Journal()
    queue = InProcessJobQueue(registry=build_registry(journal), services=SERVICES)
    await queue.enqueue("gated")
    await queue.enqueue("record", defer_by=60)
    await journal.wait_for(1)
    await asyncio.wait_for(queue.close(grace=0.1), 5)
    assert queue.pending == 0
    with pytest.raises(RuntimeError):
        await queue.enqueue("record")


# --- arq only --------------------------------------------------------------------------


def test_the_worker_settings_run_every_registered_job() -> None:
    registry = build_registry(Journal())

    async def services_factory() -> dict[str, Any]:
        return SERVICES

    settings = arq_worker_settings(redis_url=REDIS_URL, registry=registry,
                                   services_factory=services_factory)
    functions = {function.name: function for function in settings.functions}
    assert sorted(functions) == sorted(registry.names())
    assert {name: f.max_tries for name, f in functions.items()} == {
        spec.name: spec.max_tries for spec in registry.all()}
    assert settings.queue_name == "arq:queue"


async def test_the_worker_builds_its_services_once_at_startup(redis_available: None) -> None:
    journal = Journal()
    built: list[int] = []

    async def services_factory() -> dict[str, Any]:
        built.append(1)
        return {"built": len(built)}

    async with arq_queue(build_registry(journal), services_factory) as queue:
        for n in range(3):
            await queue.enqueue("record", n=n)
        await journal.wait_for(3)
    assert built == [1]
    assert [call.services for call in journal.calls] == [{"built": 1}] * 3


# --- shared pieces ---------------------------------------------------------------------


def test_create_job_queue_picks_the_implementation() -> None:
    registry = JobRegistry()
    assert isinstance(create_job_queue(None, registry=registry, services=SERVICES),
                      InProcessJobQueue)
    assert isinstance(create_job_queue(REDIS_URL, registry=registry, services=SERVICES),
                      ArqJobQueue)


def test_a_name_belongs_to_one_job() -> None:
    registry = JobRegistry()

    async def first(ctx: JobContext) -> None: ...

    async def second(ctx: JobContext) -> None: ...

    registry.job("tickets.close")(first)
    registry.job("tickets.close")(first)  # importing a module twice is harmless
    with pytest.raises(ValueError, match="already registered"):
        registry.job("tickets.close")(second)
    assert registry.get("tickets.close").func is first
    with pytest.raises(LookupError):
        registry.get("tickets.open")


def test_a_job_is_named_after_its_function_by_default() -> None:
    registry = JobRegistry()

    @registry.job(max_tries=2, timeout=10)
    async def close_idle_conversations(ctx: JobContext) -> None: ...

    [spec] = registry.all()
    assert spec.name == f"{__name__}.{close_idle_conversations.__qualname__}"
    assert (spec.max_tries, spec.timeout) == (2, 10)
    assert spec.name in registry


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay(attempt, 1.0) for attempt in range(1, 6)] == [1, 2, 4, 8, 16]
    assert backoff_delay(30, 1.0) == 300
