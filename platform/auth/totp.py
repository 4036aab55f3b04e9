"""Time-based one-time passwords (RFC 6238) as an optional second factor."""

from __future__ import annotations

import pyotp
import segno

from plateaux.platform.security import decrypt_secret, encrypt_secret

ISSUER = "Plateaux"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_code_data_uri(uri: str) -> str:
    return str(segno.make(uri, error="m").svg_data_uri(scale=4, border=2))


def verify(secret: str, code: str) -> bool:
    code = code.replace(" ", "").strip()
    # One step of drift either way: phone clocks are rarely exact.
    return code.isdigit() and pyotp.TOTP(secret).verify(code, valid_window=1)


def seal(secret_key: str, secret: str) -> str:
    return encrypt_secret(secret_key, secret)


def unseal(secret_key: str, sealed: str) -> str:
    return decrypt_secret(secret_key, sealed)
