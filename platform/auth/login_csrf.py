"""CSRF protection for forms posted before anyone is signed in.

Sign-in, forgotten password, reset and invitation forms have no session to tie a token to,
yet a forged cross-site post to them still matters (login CSRF signs the victim into the
attacker's account). They use a double-submit token instead: a random value in the
``plateaux_csrf`` cookie (SameSite=Strict, so other sites cannot make the browser send it)
and, in the form, an HMAC of that value under the platform secret. Signing the field rather
than echoing the cookie means a value planted in the cookie by a sibling host is useless
without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request, Response

from plateaux.platform.security import constant_time_equal, new_token, signing_key
from plateaux.platform.settings import Settings

COOKIE = "plateaux_csrf"
FIELD = "csrf_token"
# Long enough to type a password after a coffee; an expired form is simply shown again.
MAX_AGE_SECONDS = 4 * 3600


@dataclass(frozen=True, slots=True)
class LoginCsrf:
    """The token to put in a form, and the cookie value it was derived from."""

    cookie: str
    field: str
    is_new: bool

    def attach(self, response: Response, settings: Settings) -> Response:
        """Set the cookie on ``response`` when it was not already in the browser."""
        if self.is_new:
            response.set_cookie(
                COOKIE,
                self.cookie,
                max_age=MAX_AGE_SECONDS,
                httponly=True,
                samesite="strict",
                secure=settings.secure_cookies,
                path="/",
            )
        return response


def _field_for(settings: Settings, cookie: str) -> str:
    key = signing_key(settings.secret_key, "login-csrf")
    return hmac.new(key, cookie.encode(), hashlib.sha256).hexdigest()


def _usable(cookie: str | None) -> bool:
    # A token from new_token() is 43 URL-safe characters; anything else was not ours.
    return bool(cookie) and 20 <= len(cookie or "") <= 100 and (cookie or "").isascii()


def issue(request: Request, settings: Settings) -> LoginCsrf:
    """The token for a form about to be shown, reusing the browser's cookie when present:
    several open tabs keep working, and a refused (perhaps forged) post cannot spoil the
    forms the person already has open."""
    cookie = request.cookies.get(COOKIE)
    if cookie is not None and _usable(cookie):
        return LoginCsrf(cookie=cookie, field=_field_for(settings, cookie), is_new=False)
    cookie = new_token()
    return LoginCsrf(cookie=cookie, field=_field_for(settings, cookie), is_new=True)


def is_valid(request: Request, settings: Settings, sent: str | None) -> bool:
    cookie = request.cookies.get(COOKIE)
    if not sent or cookie is None or not _usable(cookie):
        return False
    return constant_time_equal(sent, _field_for(settings, cookie))
