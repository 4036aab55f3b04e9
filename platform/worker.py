"""The arq worker process (production): runs every registered job."""

from __future__ import annotations

from typing import Any

from plateaux.platform.settings import Settings


def worker_settings(settings: Settings) -> type:
    from plateaux.platform.app import _import_task_modules, build_services
    from plateaux.platform.jobs import arq_worker_settings, registry

    _import_task_modules()

    async def services_factory() -> dict[str, Any]:
        services = build_services(settings)
        await services.bus.start()
        return {"services": services}

    assert settings.redis_url
    return arq_worker_settings(
        redis_url=settings.redis_url, registry=registry, services_factory=services_factory,
        queue_name=settings.job_queue_name,
    )
