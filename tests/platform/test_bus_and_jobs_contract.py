"""One contract for both implementations of the event bus and of the job queue:
in-process (embedded default) and Redis/arq (production)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.worker import Worker

from plateaux.platform.events import Event, EventBus, InProcessEventBus, RedisEventBus
from plateaux.platform.jobs import (
    ArqJobQueue,
    InProcessJobQueue,
    JobContext,
    JobQueue,
    JobRegistry,
    arq_worker_settings,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    instance: EventBus = InProcessEventBus() if request.param == "memory" else RedisEventBus(
        REDIS_URL)
    await instance.start()
    yield instance
    await instance.close()


def event(tenant: uuid.UUID, audience: str = "tenant", n: int = 0) -> Event:
    return Event(tenant_id=tenant, type="probe", audience=audience, payload={"n": n})


async def test_delivers_to_the_right_audience_only(bus: EventBus) -> None:
    tenant = uuid.uuid4()
    async with bus.subscribe(tenant, ["role:supervisor"]) as supervisors, \
            bus.subscribe(tenant, ["user:1"]) as user:
        await bus.publish(event(tenant, "role:supervisor", 1))
        got = await supervisors.get(timeout=5)
        assert got is not None and got.payload == {"n": 1} and got.tenant_id == tenant
        assert await user.get(timeout=0.3) is None


async def test_tenants_never_see_each_other(bus: EventBus) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    async with bus.subscribe(a, ["tenant"]) as sub_a:
        await bus.publish(event(b, "tenant", 1))
        await bus.publish(event(a, "tenant", 2))
        got = await sub_a.get(timeout=5)
        assert got is not None and got.payload == {"n": 2}
        assert await sub_a.get(timeout=0.3) is None


async def test_several_subscribers_and_order(bus: EventBus) -> None:
    tenant = uuid.uuid4()
    async with bus.subscribe(tenant, ["tenant"]) as one, bus.subscribe(tenant, ["tenant"]) as two:
        for n in range(20):
            await bus.publish(event(tenant, n=n))
        for sub in (one, two):
            received = [await sub.get(timeout=5) for _ in range(20)]
            assert [e.payload["n"] for e in received if e] == list(range(20))


async def test_unsubscribe_on_exit(bus: EventBus) -> None:
    tenant = uuid.uuid4()
    async with bus.subscribe(tenant, ["tenant"]) as sub:
        pass
    await bus.publish(event(tenant))
    assert await sub.get(timeout=0.3) is None


async def test_json_round_trip() -> None:
    original = event(uuid.uuid4(), "conversation:x", 5)
    assert Event.from_json(original.to_json()) == original


async def test_two_redis_buses_see_each_other() -> None:
    # As two server processes would.
    first, second = RedisEventBus(REDIS_URL), RedisEventBus(REDIS_URL)
    await first.start()
    await second.start()
    try:
        tenant = uuid.uuid4()
        async with second.subscribe(tenant, ["tenant"]) as sub:
            await first.publish(event(tenant, n=7))
            got = await sub.get(timeout=5)
            assert got is not None and got.payload == {"n": 7}
    finally:
        await first.close()
        await second.close()


# --- jobs -----------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, dict[str, Any]]] = []
        self.done = asyncio.Event()


def make_registry(recorder: Recorder, prefix: str) -> JobRegistry:
    registry = JobRegistry()

    @registry.job(f"{prefix}.record", max_tries=3)
    async def record(ctx: JobContext, **kwargs: Any) -> None:
        recorder.calls.append(("record", ctx.attempt, kwargs))
        assert ctx.services["marker"] == "services"
        recorder.done.set()

    @registry.job(f"{prefix}.flaky", max_tries=3)
    async def flaky(ctx: JobContext, **kwargs: Any) -> None:
        recorder.calls.append(("flaky", ctx.attempt, kwargs))
        if ctx.attempt < 2:
            raise RuntimeError("first attempt fails")
        recorder.done.set()

    @registry.job(f"{prefix}.broken", max_tries=2)
    async def broken(ctx: JobContext, **kwargs: Any) -> None:
        recorder.calls.append(("broken", ctx.attempt, kwargs))
        if ctx.attempt == 2:
            recorder.done.set()
        raise RuntimeError("always fails")

    return registry


@pytest.fixture(params=["memory", "arq"])
async def jobs(request: pytest.FixtureRequest) -> AsyncIterator[tuple[JobQueue, Recorder, str]]:
    recorder = Recorder()
    prefix = f"t{uuid.uuid4().hex[:8]}"
    registry = make_registry(recorder, prefix)
    services = {"marker": "services"}
    if request.param == "memory":
        queue: JobQueue = InProcessJobQueue(registry=registry, services=services,
                                            backoff_base=0.01)
        await queue.start()
        yield queue, recorder, prefix
        await queue.close()
        return

    async def services_factory() -> dict[str, Any]:
        return services

    queue_name = f"plateaux:test:{prefix}"
    settings = arq_worker_settings(redis_url=REDIS_URL, registry=registry,
                                   services_factory=services_factory, queue_name=queue_name,
                                   backoff_base=0.01)
    worker = Worker(functions=settings.functions, redis_settings=settings.redis_settings,
                    on_startup=settings.on_startup, queue_name=queue_name, poll_delay=0.01,
                    max_tries=settings.max_tries, handle_signals=False)
    task = asyncio.create_task(worker.async_run())
    queue = ArqJobQueue(REDIS_URL, queue_name=queue_name)
    await queue.start()
    yield queue, recorder, prefix
    await queue.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    with contextlib.suppress(asyncio.CancelledError):
        await worker.close()


async def test_a_job_runs_with_its_arguments(jobs: tuple[JobQueue, Recorder, str]) -> None:
    queue, recorder, prefix = jobs
    assert await queue.enqueue(f"{prefix}.record", thing_id="42")
    await asyncio.wait_for(recorder.done.wait(), 10)
    assert recorder.calls == [("record", 1, {"thing_id": "42"})]


async def test_a_failing_job_is_retried(jobs: tuple[JobQueue, Recorder, str]) -> None:
    queue, recorder, prefix = jobs
    await queue.enqueue(f"{prefix}.flaky", n=1)
    await asyncio.wait_for(recorder.done.wait(), 10)
    assert [attempt for _, attempt, _ in recorder.calls] == [1, 2]


async def test_retries_stop_at_max_tries(jobs: tuple[JobQueue, Recorder, str]) -> None:
    queue, recorder, prefix = jobs
    await queue.enqueue(f"{prefix}.broken")
    await asyncio.wait_for(recorder.done.wait(), 10)
    await asyncio.sleep(0.5)
    assert [attempt for _, attempt, _ in recorder.calls] == [1, 2]


async def test_the_same_job_id_runs_once(jobs: tuple[JobQueue, Recorder, str]) -> None:
    queue, recorder, prefix = jobs
    first = await queue.enqueue(f"{prefix}.record", job_id=f"{prefix}-once", defer_by=0.3)
    second = await queue.enqueue(f"{prefix}.record", job_id=f"{prefix}-once", defer_by=0.3)
    assert first and not second
    await asyncio.wait_for(recorder.done.wait(), 10)
    await asyncio.sleep(0.5)
    assert len(recorder.calls) == 1


async def test_defer_by_delays(jobs: tuple[JobQueue, Recorder, str]) -> None:
    queue, recorder, prefix = jobs
    loop = asyncio.get_running_loop()
    started = loop.time()
    await queue.enqueue(f"{prefix}.record", defer_by=0.5)
    await asyncio.wait_for(recorder.done.wait(), 10)
    assert loop.time() - started >= 0.45
