"""Alembic environment: runs migrations as the schema owner on either backend."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import plateaux.platform.all_models  # noqa: F401  (fills the metadata)
from plateaux.platform.database import create_engine
from plateaux.platform.settings import get_settings

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    settings = get_settings()
    url = context.config.get_main_option("sqlalchemy.url") or settings.migration_database_url
    engine = create_engine(settings, url=url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


# Alembic loads this file as the module "env_py"; importing it any other way (a test that
# imports every module of the wheel) must not run migrations.
if __name__ == "env_py":
    if context.is_offline_mode():
        raise SystemExit("offline migrations are not supported; run `plateaux migrate`")
    asyncio.run(_run_async())
