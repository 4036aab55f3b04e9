"""Settings for the platform under test."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from plateaux.platform.settings import Environment, Settings
from tests.support.database import TestDatabase

SECRET = "test-secret-key-that-is-long-enough-for-the-platform"


REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_overrides() -> dict[str, str]:
    """The PostgreSQL pass runs in production shape: Redis bus, rate limits and arq jobs,
    on a job queue of its own so parallel runs never take each other's jobs."""
    if os.environ.get("PLATEAUX_TEST_DATABASE", "postgresql") != "postgresql":
        return {}
    run = uuid.uuid4().hex
    return {"redis_url": REDIS_URL, "job_queue_name": f"plateaux:test:{run}",
            "routing_key_prefix": f"{TEST_ROUTING_PREFIX}:{run}"}


# Every test run's routing state lives under this prefix and is dropped at the end.
TEST_ROUTING_PREFIX = "plateaux:test-rt"


def drop_redis_keys(prefix: str) -> None:
    """Delete what a run left in Redis under ``prefix`` (the server outlives the run)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
    finally:
        client.close()


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
