"""Per-tenant single sign-on with OpenID Connect (authorization code flow with PKCE).

An account is linked only through the identity provider's stable (issuer, subject) pair,
or once, by email, when the provider asserts the email is verified. An unverified email
never links to an existing account: otherwise anyone able to create an account with that
address at the provider would take over the platform account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from plateaux.platform.auth.models import SsoProvider, UserIdentity
from plateaux.platform.errors import BadRequest, Forbidden, Unauthorized
from plateaux.platform.netguard import check_public_url
from plateaux.platform.security import decrypt_secret, signing_key
from plateaux.platform.settings import Settings
from plateaux.platform.types import utcnow
from plateaux.tenants import repository
from plateaux.tenants.models import Role, Tenant, User
from plateaux.tenants.service import audit, create_user

STATE_COOKIE = "plateaux_sso"
STATE_TTL_SECONDS = 600
HTTP_TIMEOUT = 10.0
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


@dataclass(frozen=True, slots=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


async def discover(settings: Settings, issuer: str) -> Metadata:
    issuer = issuer.rstrip("/")
    await check_public_url(issuer, allow_private=settings.allow_private_sso_issuers)
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
            response = await client.get(url)
            response.raise_for_status()
            data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise BadRequest(f"The identity provider's discovery document failed: {exc}") from exc
    if data.get("issuer", "").rstrip("/") != issuer:
        raise BadRequest("The discovery document names a different issuer.")
    try:
        meta = Metadata(
            issuer=data["issuer"],
            authorization_endpoint=data["authorization_endpoint"],
            token_endpoint=data["token_endpoint"],
            jwks_uri=data["jwks_uri"],
        )
    except KeyError as exc:
        raise BadRequest(f"The discovery document lacks {exc}.") from exc
    for endpoint in (meta.token_endpoint, meta.jwks_uri):
        await check_public_url(endpoint, allow_private=settings.allow_private_sso_issuers)
    return meta


def _sign(settings: Settings, payload: dict[str, Any]) -> str:
    raw = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    mac = hmac.new(
        signing_key(settings.secret_key, "sso-state"), raw.encode(), hashlib.sha256
    ).hexdigest()
    return f"{raw}.{mac}"


def _unsign(settings: Settings, value: str) -> dict[str, Any]:
    raw, _, mac = value.rpartition(".")
    expected = hmac.new(
        signing_key(settings.secret_key, "sso-state"), raw.encode(), hashlib.sha256
    ).hexdigest()
    if not raw or not hmac.compare_digest(mac, expected):
        raise Unauthorized("The sign-in attempt is not valid; start again.")
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(raw))
    if payload.get("exp", 0) < time.time():
        raise Unauthorized("The sign-in attempt has expired; start again.")
    return payload


async def get_provider(session: AsyncSession, tenant_id: Any) -> SsoProvider | None:
    result = await session.scalars(
        select(SsoProvider).where(SsoProvider.tenant_id == tenant_id, SsoProvider.enabled)
    )
    return result.first()


def redirect_uri(settings: Settings, tenant: Tenant) -> str:
    return f"{settings.base_url}/t/{tenant.slug}/sso/callback"


async def start(
    settings: Settings, tenant: Tenant, provider: SsoProvider, next_path: str
) -> tuple[str, str]:
    """Return (URL to send the browser to, signed state cookie)."""
    meta = await discover(settings, provider.issuer)
    state, nonce, verifier = (
        secrets.token_urlsafe(24),
        secrets.token_urlsafe(24),
        secrets.token_urlsafe(48),
    )
    client = AsyncOAuth2Client(
        client_id=provider.client_id,
        scope="openid email profile",
        redirect_uri=redirect_uri(settings, tenant),
        code_challenge_method="S256",
    )
    url, _ = client.create_authorization_url(
        meta.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier
    )
    cookie = _sign(
        settings,
        {
            "t": str(tenant.id),
            "s": state,
            "n": nonce,
            "v": verifier,
            "next": next_path,
            "exp": time.time() + STATE_TTL_SECONDS,
        },
    )
    return url, cookie


async def finish(
    session: AsyncSession,
    settings: Settings,
    tenant: Tenant,
    provider: SsoProvider,
    *,
    cookie: str | None,
    code: str,
    state: str,
) -> tuple[User, str]:
    """Exchange the code, check the ID token, and find or link the account."""
    if not cookie:
        raise Unauthorized("The sign-in attempt is not valid; start again.")
    saved = _unsign(settings, cookie)
    if saved.get("t") != str(tenant.id) or not hmac.compare_digest(saved.get("s", ""), state):
        raise Unauthorized("The sign-in attempt is not valid; start again.")
    meta = await discover(settings, provider.issuer)
    secret = decrypt_secret(settings.secret_key, provider.client_secret_encrypted)
    try:
        async with AsyncOAuth2Client(
            client_id=provider.client_id,
            client_secret=secret,
            redirect_uri=redirect_uri(settings, tenant),
            timeout=HTTP_TIMEOUT,
        ) as client:
            token = await client.fetch_token(
                meta.token_endpoint,
                code=code,
                code_verifier=saved["v"],
                grant_type="authorization_code",
            )
            jwks = (await client.get(meta.jwks_uri)).json()
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise Unauthorized(f"The identity provider refused the sign-in: {exc}") from exc
    except Exception as exc:  # authlib raises its own OAuth errors for provider refusals
        raise Unauthorized(f"The identity provider refused the sign-in: {exc}") from exc
    claims = _validate_id_token(
        token.get("id_token"), jwks, meta.issuer, provider.client_id, saved["n"]
    )
    user = await _account_for(session, tenant, provider, claims)
    return user, str(saved.get("next") or "")


def _validate_id_token(
    id_token: Any, jwks: dict[str, Any], issuer: str, client_id: str, nonce: str
) -> dict[str, Any]:
    if not isinstance(id_token, str):
        raise Unauthorized("The identity provider sent no ID token.")
    registry = jwt.JWTClaimsRegistry(
        now=int(time.time()),
        leeway=60,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        decoded = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
        registry.validate(decoded.claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise Unauthorized(f"The ID token is not valid: {exc}") from exc
    return dict(decoded.claims)


async def _account_for(
    session: AsyncSession, tenant: Tenant, provider: SsoProvider, claims: dict[str, Any]
) -> User:
    subject = str(claims["sub"])
    linked = (
        await session.scalars(
            select(UserIdentity).where(
                UserIdentity.tenant_id == tenant.id,
                UserIdentity.issuer == provider.issuer,
                UserIdentity.subject == subject,
            )
        )
    ).first()
    if linked is not None:
        user = await repository.get_user(session, tenant.id, linked.user_id)
        if not user.is_active:
            raise Forbidden("This account is deactivated.")
        return _signed_in(session, user, via="sso")
    email = str(claims.get("email") or "")
    if not email or claims.get("email_verified") is not True:
        raise Forbidden(
            "Your identity provider did not confirm your email address, so it "
            "cannot be linked to an account. Ask your administrator."
        )
    user_or_none = await repository.find_user_by_email(session, tenant.id, email)
    if user_or_none is None:
        if not provider.auto_provision_role:
            raise Forbidden("No account matches your email in this workspace.")
        user_or_none = await create_user(
            session,
            tenant.id,
            email=email,
            name=str(claims.get("name") or email),
            role=Role(provider.auto_provision_role),
            actor=f"sso:{provider.issuer}",
        )
    if not user_or_none.is_active:
        raise Forbidden("This account is deactivated.")
    session.add(
        UserIdentity(
            tenant_id=tenant.id, user_id=user_or_none.id, issuer=provider.issuer, subject=subject
        )
    )
    audit(
        session,
        tenant.id,
        actor=f"sso:{provider.issuer}",
        action="user.sso_linked",
        target=user_or_none.email,
        subject=subject,
    )
    await session.flush()
    return _signed_in(session, user_or_none, via="sso")


def _signed_in(session: AsyncSession, user: User, *, via: str) -> User:
    user.last_login_at = utcnow()
    audit(
        session,
        user.tenant_id,
        actor=f"user:{user.email}",
        action="user.login",
        target=user.email,
        via=via,
    )
    return user
