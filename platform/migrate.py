"""Schema migrations (Alembic) and the grants that go with them on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url

from plateaux.platform.database import create_engine
from plateaux.platform.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", settings.migration_database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the schema to ``revision`` and let the application role use it.

    Alembic drives its own event loop, so this is a plain function, called from a thread
    when the caller is already async.
    """
    command.upgrade(alembic_config(settings), revision)
    asyncio.run(grant_application_role(settings))


async def grant_application_role(settings: Settings) -> None:
    """Give the (non-owner) application role DML rights on every table.

    The application role is the user of ``database_url``; when it differs from the
    migration user it gets data rights only, so row-level security applies to it.
    """
    if settings.is_sqlite:
        return
    app_role = make_url(settings.database_url).username
    owner = make_url(settings.migration_database_url).username
    if not app_role or app_role == owner:
        return
    engine = create_engine(settings, url=settings.migration_database_url)
    try:
        async with engine.begin() as conn:
            role = conn.dialect.identifier_preparer.quote(app_role)
            await conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
            dml = "SELECT, INSERT, UPDATE, DELETE"
            await conn.execute(text(f"GRANT {dml} ON ALL TABLES IN SCHEMA public TO {role}"))
            await conn.execute(
                text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
            )
            await conn.execute(text(f"REVOKE ALL ON alembic_version FROM {role}"))
    finally:
        await engine.dispose()
