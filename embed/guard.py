"""Who may call a site's public endpoints, and how often.

The widget's own requests come from the platform's origin (it runs in the platform's
iframe); a tenant may also call from its own pages. A browser request from any other
origin is refused, whatever it carries. Requests with no Origin at all (not from a
browser) are left to the rate limits, which count per site and client address.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from plateaux.embed.domains import origin_allowed
from plateaux.embed.models import Widget
from plateaux.platform.errors import Forbidden
from plateaux.platform.ratelimit import Limit
from plateaux.platform.services import Services

VISITORS = Limit(count=30, seconds=60)
PAGES = Limit(count=120, seconds=60)
FRAMES = Limit(count=60, seconds=60)
# For the chat channel: conversations one visitor may open.
CONVERSATIONS_PER_VISITOR = Limit(count=10, seconds=3600)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def platform_origins(request: Request, services: Services) -> set[str]:
    return {origin_of(services.settings.base_url), origin_of(str(request.base_url))}


def check_origin(request: Request, services: Services, widget: Widget) -> None:
    origin = request.headers.get("origin")
    if origin is None:
        return
    if origin.lower() in platform_origins(request, services):
        return
    if origin_allowed(origin, widget.allowed_domains or []):
        return
    raise Forbidden("This site does not accept requests from this origin.")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def rate_limit(request: Request, services: Services, widget: Widget, *, bucket: str,
                     limit: Limit) -> None:
    key = f"embed:{bucket}:{widget.public_key}:{client_address(request)}"
    await services.limiter.check(key, limit)
