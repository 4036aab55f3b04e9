"""The OpenID Connect test provider behaves as a relying party expects: discovery, the
authorization code flow with PKCE, signed ID tokens with the accounts' email claims."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.oidc import (
    LoginRejected,
    OidcProvider,
    OidcProviderError,
    complete_login,
    ensure_oidc_provider_installed,
)

CLIENT_ID = "harness-client"
CLIENT_SECRET = "harness-client-secret"
# Never requested: complete_login stops at the redirect to it.
REDIRECT_URI = "http://testserver/sso/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    ensure_oidc_provider_installed()
    with OidcProvider(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[REDIRECT_URI]
    ) as running:
        yield running


def _oauth_client() -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scope="openid email profile",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        timeout=10,
    )


async def _discovery(provider: OidcProvider) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(provider.discovery_url)
    assert response.status_code == 200
    metadata: dict[str, Any] = response.json()
    return metadata


async def _authorize(
    provider: OidcProvider, login: str, *, password: str = "secret"
) -> tuple[dict[str, Any], AsyncOAuth2Client, str, str, str]:
    """Runs the front channel; returns discovery, the client, code, verifier and nonce."""
    metadata = await _discovery(provider)
    oauth = _oauth_client()
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    async with httpx.AsyncClient(timeout=10) as browser:
        final = await complete_login(browser, url, login=login, password=password)
    assert final.startswith(REDIRECT_URI + "?"), final
    query = parse_qs(urlsplit(final).query)
    assert query["state"] == [state]
    assert query["iss"] == [provider.issuer]  # RFC 9207, advertised in discovery
    return metadata, oauth, query["code"][0], verifier, nonce


async def _sign_in(provider: OidcProvider, login: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The whole flow as a relying party runs it; returns the ID token's claims and userinfo."""
    metadata, oauth, code, verifier, nonce = await _authorize(provider, login)
    async with oauth:
        token = await oauth.fetch_token(
            metadata["token_endpoint"], code=code, code_verifier=verifier
        )
        jwks = (await oauth.get(metadata["jwks_uri"])).json()
        userinfo = (await oauth.get(metadata["userinfo_endpoint"])).json()

    decoded = jwt.decode(token["id_token"], KeySet.import_key_set(jwks), algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        now=int(time.time()),
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": CLIENT_ID},
        sub={"essential": True, "value": login},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
    ).validate(decoded.claims)
    return dict(decoded.claims), userinfo


async def test_discovery_names_the_loopback_issuer(provider: OidcProvider) -> None:
    assert provider.issuer.startswith("http://127.0.0.1:")
    metadata = await _discovery(provider)
    assert metadata["issuer"] == provider.issuer
    assert metadata["authorization_endpoint"].startswith(provider.issuer + "/")
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert {"openid", "email", "profile"} <= set(metadata["scopes_supported"])


async def test_alice_signs_in_with_a_verified_email(provider: OidcProvider) -> None:
    claims, userinfo = await _sign_in(provider, "alice")
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice Example"
    assert userinfo["sub"] == "alice"
    assert userinfo["email"] == "alice@example.com"
    assert userinfo["email_verified"] is True


async def test_mallory_claims_someone_elses_email_unverified(provider: OidcProvider) -> None:
    claims, userinfo = await _sign_in(provider, "mallory")
    assert claims["sub"] == "mallory"
    assert claims["email"] == "victim@example.com"
    assert claims["email_verified"] is False
    assert userinfo["email_verified"] is False


async def test_bob_signs_in(provider: OidcProvider) -> None:
    claims, _ = await _sign_in(provider, "bob")
    assert (claims["email"], claims["email_verified"]) == ("bob@example.com", True)


async def test_the_code_needs_the_pkce_verifier(provider: OidcProvider) -> None:
    metadata, oauth, code, _, _ = await _authorize(provider, "alice")
    async with oauth:
        with pytest.raises(OAuthError, match="invalid_grant"):
            await oauth.fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=generate_token(48)
            )


async def test_a_wrong_password_is_refused(provider: OidcProvider) -> None:
    with pytest.raises(LoginRejected):
        await _authorize(provider, "alice", password="not-the-password")


async def test_an_unregistered_redirect_uri_is_refused(provider: OidcProvider) -> None:
    metadata = await _discovery(provider)
    oauth = _oauth_client()
    url, _ = oauth.create_authorization_url(
        metadata["authorization_endpoint"],
        redirect_uri="http://testserver/elsewhere",
        code_verifier=generate_token(48),
        nonce=generate_token(20),
    )
    async with httpx.AsyncClient(timeout=10) as browser:
        with pytest.raises(OidcProviderError, match="redirect_uri"):
            await complete_login(browser, url, login="alice")


def test_a_provider_that_cannot_start_reports_its_stderr() -> None:
    ensure_oidc_provider_installed()
    broken = OidcProvider(client_id="x", client_secret="y", redirect_uris=[])
    with pytest.raises(OidcProviderError, match="OIDC_REDIRECT_URIS"):
        broken.start()
