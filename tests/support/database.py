"""Per-session test databases on the real servers, migrated by the real migrations.

On PostgreSQL two roles mirror production: ``plateaux_owner`` owns the schema and runs the
migrations; ``plateaux_app`` is what the application connects as: not a superuser, no
BYPASSRLS, so row-level security applies to every query the tests make through the app.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from plateaux.platform.migrate import upgrade
from plateaux.platform.settings import Environment, Settings

PG_HOST = "127.0.0.1"
PG_PORT = 5432
OWNER_ROLE = "plateaux_owner"
APP_ROLE = "plateaux_app"


def psql(sql: str, *, database: str = "postgres") -> str:
    result = subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            PG_HOST,
            "-p",
            str(PG_PORT),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"PostgreSQL is required for these tests: {result.stderr.strip()}")
    return result.stdout.strip()


@dataclass
class TestDatabase:
    __test__ = False  # a fixture's value, not a test class

    backend: str
    app_url: str
    owner_url: str
    name: str

    def drop(self) -> None:
        if self.backend == "postgresql":
            psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def superuser_sql(self, sql: str) -> str:
        """Run SQL as the superuser on this database (assertions that bypass RLS)."""
        return psql(sql, database=self.name)


def _ensure_roles() -> None:
    for role, extra in ((OWNER_ROLE, "CREATEDB"), (APP_ROLE, "")):
        psql(
            f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {role} LOGIN {extra}; END IF; END$$"
        )
    psql(f"ALTER ROLE {APP_ROLE} NOSUPERUSER NOBYPASSRLS")


def create_test_database(backend: str, tmp: Path) -> TestDatabase:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'plateaux-test.db'}"
        db = TestDatabase(backend=backend, app_url=url, owner_url=url, name=str(tmp))
    elif backend == "postgresql":
        _ensure_roles()
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
        name = f"plateaux_test_{worker}_{uuid.uuid4().hex[:8]}"
        psql(f'CREATE DATABASE "{name}" OWNER {OWNER_ROLE}')
        db = TestDatabase(
            backend=backend,
            app_url=f"postgresql+asyncpg://{APP_ROLE}@{PG_HOST}:{PG_PORT}/{name}",
            owner_url=f"postgresql+asyncpg://{OWNER_ROLE}@{PG_HOST}:{PG_PORT}/{name}",
            name=name,
        )
    else:
        raise RuntimeError(f"unknown PLATEAUX_TEST_DATABASE {backend!r}")
    upgrade(
        Settings(
            environment=Environment.TEST,
            database_url=db.app_url,
            migration_database_url=db.owner_url,
            data_dir=tmp,
            secret_key="x" * 40,
        )
    )
    return db
