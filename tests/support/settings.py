"""Settings for the platform under test."""

from __future__ import annotations

from pathlib import Path

from plateaux.platform.settings import Environment, Settings
from tests.support.database import TestDatabase

SECRET = "test-secret-key-that-is-long-enough-for-the-platform"


def make_settings(test_database: TestDatabase, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": Environment.TEST,
        "database_url": test_database.app_url,
        "migration_database_url": test_database.owner_url,
        "secret_key": SECRET,
        "data_dir": data_dir,
        "base_url": "http://testserver",
        "log_json": False,
        "allow_private_sso_issuers": True,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
