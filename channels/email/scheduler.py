"""When mailboxes are fetched: one scheduler leads (a lease in Redis when several server
processes run, else this process), watches each enabled mailbox with IMAP IDLE, and
queues a fetch job for a mailbox when IDLE announces mail or its poll interval has passed
(the fallback when IDLE is not offered or its connection keeps failing). The fetch itself
runs as a job in the worker (in-process in the embedded default), one per mailbox at once.

Mailboxes are found by reading each tenant's list at start and every few minutes, and at
once when a mailbox is saved (``notify``: a Redis set read by the leader, or this
process's scheduler).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import select

from plateaux.channels.email import repository as repo
from plateaux.channels.email.fetcher import imap_config
from plateaux.channels.email.imap import imap_session
from plateaux.channels.email.outbound import SEND_JOB, send_job_id
from plateaux.channels.email.settings import email_settings
from plateaux.channels.email.tasks import FETCH_JOB, fetch_job_id
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow
from plateaux.tenants.models import Tenant, TenantStatus

logger = logging.getLogger(__name__)

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
LEASE_SECONDS = 15.0
_local: dict[int, MailScheduler] = {}


@dataclass
class Watched:
    tenant_id: uuid.UUID
    mailbox_id: uuid.UUID
    use_idle: bool
    poll_seconds: float
    next_fetch: float = 0.0
    wanted: bool = True  # a fetch to queue (retried while one is still running)
    idle_ok: bool = False
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


class MailScheduler:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.process = uuid.uuid4().hex
        self.watched: dict[uuid.UUID, Watched] = {}
        self._task: asyncio.Task[None] | None = None
        self._redis = None
        self._changed: set[tuple[uuid.UUID, uuid.UUID]] = set()
        self._wake = asyncio.Event()
        self._lease_until = 0.0
        self.tenants: set[uuid.UUID] = set()  # with a mailbox, enabled or not
        prefix = services.settings.job_queue_name
        self._lease_key = f"{prefix}:email:leader"
        self._changes_key = f"{prefix}:email:changed"

    async def start(self) -> None:
        if self.services.settings.redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis.from_url(self.services.settings.redis_url)
        _local[id(self.services)] = self
        self._task = asyncio.create_task(self._run(), name="email-scheduler")

    async def stop(self) -> None:
        _local.pop(id(self.services), None)
        tasks = [t for t in [self._task, *(w.watcher for w in self.watched.values())] if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.watched.clear()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.eval(
                    "if redis.call('get', KEYS[1]) == ARGV[1] then "
                    "return redis.call('del', KEYS[1]) end return 0",
                    1, self._lease_key, self.process)
            await self._redis.aclose()

    # --- leadership and discovery ---------------------------------------------------------

    async def _lead(self) -> bool:
        if self._redis is None:
            return True
        if time.monotonic() < self._lease_until:
            return True
        leading = await self._take_lease()
        self._lease_until = time.monotonic() + LEASE_SECONDS / 3 if leading else 0.0
        return leading

    async def _take_lease(self) -> bool:
        assert self._redis is not None
        ttl = int(LEASE_SECONDS * 1000)
        if await self._redis.set(self._lease_key, self.process, nx=True, px=ttl):
            return True
        renewed = await self._redis.eval(_RENEW, 1, self._lease_key, self.process, str(ttl))
        return bool(renewed)

    async def _rescan(self) -> None:
        async with self.services.unit_of_work() as session:
            tenants = list((await session.scalars(select(Tenant.id).where(
                Tenant.status == TenantStatus.ACTIVE))).all())
        found: set[uuid.UUID] = set()
        for tenant_id in tenants:
            found |= await self._read(tenant_id, None)
        for mailbox_id in set(self.watched) - found:
            self._forget(mailbox_id)

    async def _read(self, tenant_id: uuid.UUID, mailbox_id: uuid.UUID | None) -> set[uuid.UUID]:
        async with self.services.unit_of_work(tenant_id=tenant_id) as session:
            rows = await repo.mailboxes(session, tenant_id)
        if rows:
            self.tenants.add(tenant_id)
        found = set()
        for mailbox in rows:
            if mailbox_id is not None and mailbox.id != mailbox_id:
                continue
            if not mailbox.enabled:
                self._forget(mailbox.id)
                continue
            found.add(mailbox.id)
            entry = self.watched.get(mailbox.id)
            if entry is None:
                self.watched[mailbox.id] = Watched(
                    tenant_id=tenant_id, mailbox_id=mailbox.id, use_idle=mailbox.use_idle,
                    poll_seconds=float(mailbox.poll_seconds))
            else:
                entry.use_idle, entry.poll_seconds = mailbox.use_idle, float(mailbox.poll_seconds)
                entry.wanted = True
        if mailbox_id is not None and mailbox_id not in found:
            self._forget(mailbox_id)
        return found

    def _forget(self, mailbox_id: uuid.UUID) -> None:
        entry = self.watched.pop(mailbox_id, None)
        if entry is not None and entry.watcher is not None:
            entry.watcher.cancel()

    async def _take_changes(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        changes, self._changed = list(self._changed), set()
        if self._redis is not None:
            raw = await self._redis.spop(self._changes_key, 100)
            for item in raw or []:
                tenant, _, mailbox = (item.decode() if isinstance(item, bytes) else item
                                      ).partition(":")
                with contextlib.suppress(ValueError):
                    changes.append((uuid.UUID(tenant), uuid.UUID(mailbox)))
        return changes

    # --- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        settings = email_settings()
        # The first full read waits a little: a process starting is busy enough, and one
        # that lives only seconds (a deploy rolling on) never needs it. A mailbox saved
        # meanwhile is read at once (``notify``).
        next_scan = time.monotonic() + settings.start_delay_seconds
        next_sweep = time.monotonic() + settings.sweep_seconds
        leading = False
        while True:
            try:
                leading_now = await self._lead()
                if not leading_now:
                    if leading:
                        for mailbox_id in list(self.watched):
                            self._forget(mailbox_id)
                    leading = False
                    await asyncio.sleep(LEASE_SECONDS / 3)
                    continue
                if not leading:
                    next_scan = min(next_scan, time.monotonic() + settings.start_delay_seconds)
                leading = True
                now = time.monotonic()
                if now >= next_scan:
                    await self._rescan()
                    next_scan = now + settings.rescan_seconds
                for tenant_id, mailbox_id in await self._take_changes():
                    await self._read(tenant_id, mailbox_id)
                await self._tick()
                if now >= next_sweep:
                    await self.sweep()
                    next_sweep = now + settings.sweep_seconds
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("email scheduler round failed")
            # Woken at once by mail announced or a mailbox saved; else the next tick.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), settings.tick_seconds)
            self._wake.clear()

    async def _tick(self) -> None:
        settings = email_settings()
        now = time.monotonic()
        for entry in list(self.watched.values()):
            if entry.use_idle and (entry.watcher is None or entry.watcher.done()):
                entry.watcher = asyncio.create_task(self._watch(entry))
            if now >= entry.next_fetch:
                entry.wanted = True
            if entry.wanted:
                queued = await self.services.jobs.enqueue(
                    FETCH_JOB, job_id=fetch_job_id(entry.mailbox_id),
                    tenant_id=str(entry.tenant_id), mailbox_id=str(entry.mailbox_id))
                if queued:
                    entry.wanted = False
                    every = settings.idle_poll_seconds if entry.idle_ok else entry.poll_seconds
                    entry.next_fetch = now + every

    async def sweep(self) -> int:
        """Queue again the replies whose send job was lost (a process stopped between the
        commit and the enqueue, or an in-process job queue that did not survive a
        restart); a job still queued or waiting for its retry keeps its id, so this never
        makes a second sender."""
        settings = email_settings()
        before = utcnow() - timedelta(seconds=settings.stuck_send_seconds)
        queued = 0
        for tenant_id in list(self.tenants):
            async with self.services.unit_of_work(tenant_id=tenant_id) as session:
                stuck = await repo.stuck_outbound(session, tenant_id, before)
            for message in stuck:
                if await self.services.jobs.enqueue(
                        SEND_JOB, job_id=send_job_id(message.id), tenant_id=str(tenant_id),
                        message_id=str(message.id)):
                    queued += 1
        if queued:
            logger.warning("%d email replies queued again after their job was lost", queued)
        return queued

    async def _watch(self, entry: Watched) -> None:
        """Hold an IDLE connection; mail announced means a fetch is wanted."""
        settings = email_settings()
        pause = 5.0
        while True:
            try:
                async with self.services.unit_of_work(tenant_id=entry.tenant_id) as session:
                    mailbox = await repo.get_mailbox(session, entry.tenant_id, entry.mailbox_id)
                config = imap_config(self.services, mailbox)
                async with imap_session(config, allow_private=settings.allow_private_hosts,
                                        timeout=settings.connect_timeout) as imap:
                    if not imap.can_idle:
                        entry.idle_ok = False
                        return
                    await imap.select(config.folder)
                    entry.idle_ok = True
                    pause = 5.0
                    while True:
                        if await imap.wait_for_mail(settings.idle_seconds):
                            entry.wanted = True
                            self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                entry.idle_ok = False
                logger.info("IDLE on mailbox %s stopped: %s", entry.mailbox_id, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 300.0)


async def notify(services: Services, tenant_id: uuid.UUID, mailbox_id: uuid.UUID) -> None:
    """A mailbox was created or changed: the leading scheduler reads it again."""
    local = _local.get(id(services))
    if local is not None:
        local._changed.add((tenant_id, mailbox_id))
        local._wake.set()
    if services.settings.redis_url:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(services.settings.redis_url)
        try:
            await client.sadd(f"{services.settings.job_queue_name}:email:changed",
                              f"{tenant_id}:{mailbox_id}")
        finally:
            await client.aclose()
