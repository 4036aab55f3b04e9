"""Cryptographic primitives: password hashing, opaque tokens, secrets at rest, CSRF.

Passwords use argon2id (argon2-cffi). Opaque tokens (sessions, API keys, resets) are 256-bit
random values, so a plain SHA-256 of them is enough to store: they cannot be brute-forced,
and a database leak does not reveal a usable token. Secrets the platform must read back
(TOTP seeds, identity-provider client secrets, mailbox passwords) are encrypted with a key
derived from the platform secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_hasher = PasswordHasher()
# Verifying against this keeps the time of a login for an unknown account equal to a
# known one, so response times do not reveal which emails exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must have at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 256:
        return "The password is too long."
    if len(set(password)) < 4:
        return "The password is too repetitive."
    return None


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@lru_cache(maxsize=8)
def _derive(secret_key: str, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        secret_key.encode()
    )


def _fernet(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(secret_key, "plateaux/secrets-at-rest")))


def encrypt_secret(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt_secret(secret_key: str, ciphertext: str) -> str:
    try:
        return _fernet(secret_key).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret cannot be decrypted with the current key") from exc


def csrf_token(secret_key: str, session_token_hash: str) -> str:
    """The CSRF token of a cookie session: an HMAC of the session, never stored.

    It is tied to one session, so a token lifted from another session is useless.
    """
    key = _derive(secret_key, "plateaux/csrf")
    return hmac.new(key, session_token_hash.encode(), hashlib.sha256).hexdigest()


def signing_key(secret_key: str, purpose: str) -> bytes:
    return _derive(secret_key, f"plateaux/{purpose}")
