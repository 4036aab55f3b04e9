"""Bearer tokens for the API: password (and code) for tokens, refresh rotation."""

from __future__ import annotations

from fastapi import APIRouter, Request

from plateaux.api.schemas import RefreshRequest, TokenRequest, TokenResponse, UserOut
from plateaux.platform.auth import service, tokens
from plateaux.platform.deps import CurrentUser, DbSession, ServicesDep
from plateaux.platform.errors import Unauthorized

router = APIRouter(prefix="/auth", tags=["auth"])


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/token", response_model=TokenResponse)
async def issue_token(
    body: TokenRequest, request: Request, session: DbSession, services: ServicesDep
) -> TokenResponse:
    access, refresh, _ = await service.api_login(
        session,
        services,
        workspace=body.workspace,
        email=body.email,
        password=body.password,
        totp_code=body.totp_code,
        ip=client_ip(request),
    )
    return TokenResponse(
        access_token=access,
        refresh_token=refresh,
        expires_in=services.settings.access_token_ttl_seconds,
    )


@router.post("/refresh", response_model=TokenResponse)
async def refresh_token(
    body: RefreshRequest, session: DbSession, services: ServicesDep
) -> TokenResponse:
    from plateaux.platform.auth.sessions import split_cookie
    from plateaux.platform.database import bind_tenant

    parts = split_cookie(body.refresh_token)
    if parts is None:
        raise Unauthorized("The refresh token is invalid.")
    await bind_tenant(session, parts[0])
    rotated = await tokens.rotate_refresh_token(session, services.settings, body.refresh_token)
    if rotated is None:
        # Keep the family revocation even though the answer is an error.
        await session.commit()
        raise Unauthorized("The refresh token is invalid, expired or already used.")
    user, new_refresh = rotated
    return TokenResponse(
        access_token=tokens.issue_access_token(services.settings, user),
        refresh_token=new_refresh,
        expires_in=services.settings.access_token_ttl_seconds,
    )


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)
