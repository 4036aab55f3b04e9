"""Every route of the versioned HTTP API (``/api/v1``)."""

from __future__ import annotations

from fastapi import APIRouter

from plateaux.api import auth_endpoints, users
from plateaux.channels.chat import endpoints as chat_endpoints
from plateaux.console import endpoints as console_endpoints
from plateaux.console import live_endpoints as console_live
from plateaux.embed import admin_endpoints as embed_endpoints
from plateaux.platform.auth import sso_endpoints
from plateaux.reporting import endpoints as reporting_endpoints
from plateaux.routing import config_endpoints, contact_endpoints
from plateaux.tenants import endpoints as tenant_endpoints

api_router = APIRouter()
api_router.include_router(auth_endpoints.router)
api_router.include_router(users.router)
api_router.include_router(tenant_endpoints.router)
api_router.include_router(sso_endpoints.api)
api_router.include_router(contact_endpoints.router)
api_router.include_router(config_endpoints.router)
api_router.include_router(console_endpoints.router)
api_router.include_router(console_live.router)
api_router.include_router(reporting_endpoints.router)
api_router.include_router(chat_endpoints.router)
api_router.include_router(embed_endpoints.router)
