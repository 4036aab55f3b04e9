"""Signed identities: the tenant vouches for its logged-in customer.

The tenant's server signs ``{sub, email?, name?, exp}`` with the site's secret (HS256 JWT)
and its page hands the token to the loader. Anything that does not verify, has no expiry
or has expired is ignored: the visitor stays anonymous rather than being refused, since a
stale token on a cached page is an everyday event, not an attack to report.
"""

from __future__ import annotations

from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 4000
# A little slack for clocks that disagree between the tenant's servers and ours.
LEEWAY_SECONDS = 30


@dataclass(frozen=True, slots=True)
class Identity:
    external_id: str
    email: str | None
    name: str | None


def sign_identity(secret: str, claims: dict[str, object]) -> str:
    """What a tenant's server does (kept here for the documentation and the tests)."""
    return jwt.encode({"alg": ALGORITHM}, claims, OctKey.import_key(secret))


def verify_identity(secret: str, token: str) -> Identity | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        decoded = jwt.decode(token, OctKey.import_key(secret), algorithms=[ALGORITHM])
        jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS, exp={"essential": True}, sub={"essential": True}
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError):
        return None
    claims = decoded.claims
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        return None
    email = claims.get("email")
    name = claims.get("name")
    return Identity(
        external_id=sub.strip()[:200],
        email=email.strip()[:320] if isinstance(email, str) and email.strip() else None,
        name=name.strip()[:200] if isinstance(name, str) and name.strip() else None,
    )
