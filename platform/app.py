"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from plateaux.platform import heap
from plateaux.platform.database import Database
from plateaux.platform.errors import install_error_handlers
from plateaux.platform.events import create_event_bus
from plateaux.platform.input_guard import InputGuardMiddleware
from plateaux.platform.jobs import create_job_queue, registry
from plateaux.platform.observability import RequestContextMiddleware, configure_logging
from plateaux.platform.ratelimit import create_rate_limiter
from plateaux.platform.security_headers import SecurityHeadersMiddleware
from plateaux.platform.services import Services
from plateaux.platform.settings import Settings, get_settings
from plateaux.platform.web import LoginRedirect
from plateaux.routing.live import RoutingService, Timing
from plateaux.routing.store import create_store

API_PREFIX = "/api/v1"


ROUTING_POOL_SIZE = 3


def build_services(settings: Settings) -> Services:
    db = Database(settings)
    bus = create_event_bus(settings.redis_url)
    limiter = create_rate_limiter(settings.redis_url)
    services = Services(settings=settings, db=db, bus=bus, jobs=None, limiter=limiter)  # type: ignore[arg-type]
    services.routing = RoutingService(
        services, create_store(settings.redis_url, prefix=settings.routing_key_prefix),
        timing=Timing(grace=settings.routing_grace_seconds),
        # Its own few connections: a request holding one while it waits for a tenant's
        # router to load must never leave the load without one (a deadlock once every
        # pooled connection is held so).
        db=Database(settings, pool_size=ROUTING_POOL_SIZE),
        # Both on settings.redis_url: the store can publish the bus's messages itself.
        publish_in_commit=settings.redis_url is not None)
    services.jobs = create_job_queue(
        settings.redis_url, registry=registry, services={"services": services},
        queue_name=settings.job_queue_name,
    )
    return services


def _import_task_modules() -> None:
    """Job functions register themselves on import; the worker and the app need them all."""
    from plateaux.billing import tasks as billing_tasks  # noqa: F401
    from plateaux.channels.email import tasks as email_tasks  # noqa: F401
    from plateaux.crm import tasks as crm_tasks  # noqa: F401
    from plateaux.helpdesk import tasks as helpdesk_tasks  # noqa: F401
    from plateaux.platform import mail  # noqa: F401


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(json_logs=settings.log_json)
    _import_task_modules()
    services = build_services(settings)
    routing = services.routing
    assert routing is not None
    from plateaux.channels.email.scheduler import MailScheduler

    mail_scheduler = MailScheduler(services)

    from plateaux.billing.tasks import BillingClock

    billing_clock = BillingClock(services)

    from plateaux.channels.voip.runtime import VoiceRuntime
    from plateaux.channels.voip.service import CallFlow

    voice = VoiceRuntime(services)
    CallFlow(voice)

    from plateaux.crm.tasks import RetentionClock

    retention_clock = RetentionClock(services)

    from plateaux.helpdesk.tasks import SweepClock

    helpdesk_clock = SweepClock(services)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        heap.configure()
        await services.bus.start()
        await services.jobs.start()
        await routing.start()
        await billing_clock.start()
        await mail_scheduler.start()
        await voice.start()
        await retention_clock.start()
        await helpdesk_clock.start()
        try:
            yield
        finally:
            await helpdesk_clock.stop()
            await retention_clock.stop()
            await voice.stop()
            await billing_clock.stop()
            await mail_scheduler.stop()
            await routing.stop()
            await services.jobs.close()
            await services.bus.close()
            await services.limiter.close()
            await services.db.dispose()

    app = FastAPI(
        title="Plateaux API",
        version="1.0.0",
        description="Hosted multi-tenant virtual contact center.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.services = services
    app.state.voice = voice
    app.add_middleware(InputGuardMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)

    @app.exception_handler(LoginRedirect)
    async def _login_redirect(_request: Request, exc: LoginRedirect) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    from pathlib import Path

    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    from plateaux.api.router import api_router
    from plateaux.billing.pages import router as billing_pages
    from plateaux.billing.webhooks import router as stripe_webhook
    from plateaux.channels.chat.embed_endpoints import router as chat_visitor
    from plateaux.channels.email.admin_pages import router as email_admin
    from plateaux.channels.email.endpoints import router as email_api
    from plateaux.channels.voip.admin_pages import router as voice_admin
    from plateaux.channels.voip.embed_endpoints import router as voice_visitor
    from plateaux.channels.voip.endpoints import router as voice_api
    from plateaux.console.admin_pages import router as console_admin
    from plateaux.console.pages import router as agent_consoles
    from plateaux.crm.admin_pages import router as crm_admin
    from plateaux.crm.endpoints import router as crm_api
    from plateaux.embed.console import router as embed_console
    from plateaux.embed.demo import router as embed_demo
    from plateaux.embed.public_endpoints import router as embed_public
    from plateaux.helpdesk.admin_pages import router as helpdesk_admin
    from plateaux.helpdesk.console_pages import router as helpdesk_consoles
    from plateaux.helpdesk.endpoints import router as helpdesk_api
    from plateaux.helpdesk.public_pages import router as helpdesk_public
    from plateaux.platform.auth.account_pages import router as account_pages
    from plateaux.platform.auth.operator_pages import router as operator_pages
    from plateaux.platform.auth.pages import router as auth_pages
    from plateaux.platform.auth.sso_endpoints import pages as sso_pages
    from plateaux.platform.health import router as health
    from plateaux.platform.operator_console import router as operator_console
    from plateaux.routing.console import router as routing_console
    from plateaux.tenants.console import router as tenant_console

    app.include_router(health)
    # A request is matched against the routes in this order, each costing a few
    # microseconds: the visitors' routes (every page view, widget load and chat socket of
    # every tenant's site) come first, not after the ~270 routes of the API.
    app.include_router(embed_public)
    app.include_router(chat_visitor)
    app.include_router(voice_visitor)
    app.include_router(stripe_webhook)
    app.include_router(billing_pages)
    app.include_router(api_router, prefix=API_PREFIX)
    app.include_router(email_api, prefix=API_PREFIX)
    app.include_router(voice_api, prefix=API_PREFIX)
    app.include_router(crm_api, prefix=API_PREFIX)
    app.include_router(helpdesk_api, prefix=API_PREFIX)
    app.include_router(auth_pages)
    app.include_router(account_pages)
    app.include_router(operator_pages)
    app.include_router(sso_pages)
    app.include_router(operator_console)
    app.include_router(tenant_console)
    app.include_router(embed_console)
    app.include_router(embed_demo)
    app.include_router(routing_console)
    app.include_router(agent_consoles)
    app.include_router(console_admin)
    app.include_router(email_admin)
    app.include_router(voice_admin)
    app.include_router(crm_admin)
    app.include_router(helpdesk_admin)
    app.include_router(helpdesk_consoles)
    app.include_router(helpdesk_public)
