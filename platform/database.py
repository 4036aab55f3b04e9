"""Engine, sessions and the per-transaction tenant binding.

On PostgreSQL every tenant table has row-level security FORCEd (see the migrations), and the
application role is subject to it. The tenant a transaction may see is set with
``set_config('app.tenant_id', ..., true)`` at the start of *each* transaction: transaction
local, so a pooled connection never carries one request's tenant into the next. A session
bound to a tenant re-applies it whenever SQLAlchemy begins a new transaction on it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from plateaux.platform.settings import Settings

TENANT_KEY = "tenant_id"
POST_COMMIT_KEY = "post_commit"


def create_engine(settings: Settings, *, url: str | None = None,
                  pool_size: int | None = None) -> AsyncEngine:
    url = url or settings.database_url
    pool_size = pool_size or settings.db_pool_size
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        if ":///" in url and ":memory:" not in url:
            path = url.split(":///", 1)[1]
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": 30}}
    else:
        kwargs.update(
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args={"server_settings": {"application_name": "plateaux"}},
        )
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


async def start_writing(session: AsyncSession) -> None:
    """On SQLite, make the unit of work's transaction a writer now. The driver opens a
    transaction only at the first write, so a savepoint taken before any write starts a
    transaction of its own, which its release commits: a request that later fails would
    keep what its savepoints did. And a transaction that read first and writes after
    another connection committed is refused at once instead of waiting its turn. A write
    that touches nothing opens the transaction and takes the lock, waiting for it like
    any write. (PostgreSQL: nothing to do.)"""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("UPDATE tenants SET status = status WHERE 0 = 1"))


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """A savepoint in the unit of work's transaction: what fails inside it is undone and
    the rest of the unit of work goes on. On SQLite the transaction is made a writer first
    (:func:`start_writing`), else a savepoint taken before any write would be a
    transaction of its own, committed when released."""
    await start_writing(session)
    async with session.begin_nested():
        yield


def is_postgres(session_or_conn: AsyncSession | Connection) -> bool:
    bind = session_or_conn.bind if isinstance(session_or_conn, AsyncSession) else session_or_conn
    return bind is not None and bind.dialect.name == "postgresql"


@event.listens_for(Session, "after_begin")
def _apply_tenant(session: Session, _tx: SessionTransaction, connection: Connection) -> None:
    tenant_id = session.info.get(TENANT_KEY)
    if tenant_id is not None and connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT set_config('app.tenant_id', :tenant, true)"), {"tenant": str(tenant_id)}
        )


async def bind_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Scope every following transaction of this session to one tenant.

    Binding a session to a second, different tenant is a programming error: it would let
    one request's data leak into another tenant's view.
    """
    current = session.info.get(TENANT_KEY)
    if current is not None and current != tenant_id:
        raise RuntimeError("session already bound to another tenant")
    session.info[TENANT_KEY] = tenant_id
    if session.in_transaction() and is_postgres(session):
        await session.execute(
            text("SELECT set_config('app.tenant_id', :tenant, true)"), {"tenant": str(tenant_id)}
        )


def bound_tenant(session: AsyncSession) -> uuid.UUID | None:
    value = session.info.get(TENANT_KEY)
    return value if isinstance(value, uuid.UUID) else None


def after_commit(session: AsyncSession, callback: Callable[[], Any]) -> None:
    """Run ``callback`` (sync, or returning an awaitable) once the session has committed.

    Events and jobs are announced only after the data they refer to is durable (DESIGN.md
    decisions 4 and 6); on rollback they are dropped.
    """
    session.info.setdefault(POST_COMMIT_KEY, []).append(callback)


# What a driver pool's connection goes through as it opens (``Database.driver_pool``).
DriverInit = Callable[[asyncpg.Connection], Awaitable[None]]

# Options of SQLAlchemy's asyncpg adapter that asyncpg itself does not take.
_ADAPTER_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")


class Database:
    def __init__(self, settings: Settings, *, pool_size: int | None = None) -> None:
        self.settings = settings
        self.engine = create_engine(settings, pool_size=pool_size)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._pool_size = pool_size or settings.db_pool_size
        self._driver_pool: asyncpg.Pool | None = None
        self._driver_pool_lock = asyncio.Lock()

    async def driver_pool(self, *, init: DriverInit | None = None) -> asyncpg.Pool | None:
        """Bare asyncpg connections to the same database (None on SQLite), for the few hot
        paths where the ORM's cost per statement is most of the work (a chat message:
        ``channels/chat/writer.py``, whose ``connections`` every caller goes through).

        Opened on first use with all its connections (as many as the main pool), each put
        through ``init`` as it opens (the first call's: its users prepare their statements
        there), and kept however long they stay idle. A connection opened on demand would
        make the message waiting for it pay its opening and its first statement's preparing
        (about 7 ms each, docs/benchmarks.md; a warm store takes under 1 ms), at every
        burst above the pool's size so far, and after each quiet spell if idle ones closed.

        No ping on checkout and no reset query on release, so a use costs only its own
        round trips. That is safe because every user opens its own transaction, binds the
        tenant inside it (``set_config(..., true)``, transaction-local) and ends it before
        releasing: nothing of one use reaches the next. A connection found broken is
        replaced on the next acquire; its user sees the error, as with any lost connection.
        """
        if self.engine.dialect.name != "postgresql":
            return None
        if self._driver_pool is None:
            async with self._driver_pool_lock:
                if self._driver_pool is None:
                    _, options = self.engine.dialect.create_connect_args(self.engine.url)
                    for name in _ADAPTER_ONLY:
                        options.pop(name, None)
                    self._driver_pool = await asyncpg.create_pool(
                        min_size=self._pool_size, max_size=self._pool_size,
                        max_inactive_connection_lifetime=0, init=init,
                        reset=_keep_session,
                        server_settings={"application_name": "plateaux"}, **options)
        return self._driver_pool

    @asynccontextmanager
    async def session(self, *, tenant_id: uuid.UUID | None = None) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends normally, rolled back otherwise.

        Post-commit callbacks (events, jobs) run after the commit succeeded.
        """
        async with self.sessionmaker() as session:
            if tenant_id is not None:
                session.info[TENANT_KEY] = tenant_id
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            await run_post_commit(session)

    async def dispose(self) -> None:
        if self._driver_pool is not None:
            pool, self._driver_pool = self._driver_pool, None
            await pool.close()
        await self.engine.dispose()


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The driver pool's reset on release, instead of asyncpg's reset query (RESET ALL,
    UNLISTEN, CLOSE ALL...): its users change no session state. A transaction a use left
    open (cut short mid-way) is rolled back by asyncpg before this runs."""
    return None


async def run_post_commit(session: AsyncSession) -> None:
    import inspect

    callbacks = session.info.pop(POST_COMMIT_KEY, [])
    for callback in callbacks:
        result = callback()
        if inspect.isawaitable(result):
            await result
