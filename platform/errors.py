"""Domain errors carry their HTTP status and render as ``application/problem+json``.

RFC 9457 problem details: ``type``, ``title``, ``status``, ``detail`` and, for validation
errors, the list of offending fields. Browser pages get the same status with an HTML page.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger(__name__)


class ProblemError(Exception):
    status: int = 400
    title: str = "Bad request"
    type: str = "about:blank"

    def __init__(
        self,
        detail: str = "",
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(ProblemError):
    status, title = 400, "Bad request"


class Unauthorized(ProblemError):
    status, title = 401, "Authentication required"


class Forbidden(ProblemError):
    status, title = 403, "Forbidden"


class NotFound(ProblemError):
    status, title = 404, "Not found"


class Conflict(ProblemError):
    status, title = 409, "Conflict"


class Gone(ProblemError):
    status, title = 410, "Gone"


class PayloadTooLarge(ProblemError):
    status, title = 413, "Payload too large"


class UnprocessableContent(ProblemError):
    status, title = 422, "Unprocessable content"


class TooManyRequests(ProblemError):
    status, title = 429, "Too many requests"


def problem_response(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept


def _html_error(
    request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None
) -> Response:
    from plateaux.platform.web import render_error_page

    return render_error_page(request, status=status, title=title, detail=detail, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> Response:
        if _wants_html(request):
            return _html_error(request, exc.status, exc.title, exc.detail, exc.headers)
        return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
            for err in exc.errors()
        ]
        if _wants_html(request):
            return _html_error(
                request, 422, "Invalid input", "; ".join(str(e["msg"]) for e in errors), None
            )
        return problem_response(422, "Invalid input", "The request is not valid.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        headers = dict(exc.headers) if exc.headers else None
        detail = str(exc.detail) if exc.detail else title
        if _wants_html(request):
            return _html_error(request, exc.status_code, title, detail, headers)
        return problem_response(exc.status_code, title, detail, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error", exc_info=exc)
        return problem_response(500, "Internal error", "An unexpected error occurred.")
