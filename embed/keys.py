"""Site keys: ``pk_<tenant hex>_<random>``.

The key is public (it is in every page of the tenant's site); carrying the tenant's id lets
the public endpoints bind the tenant for row-level security before looking the site up,
with no table readable across tenants. Knowing a tenant's id gives nothing: the random
part is what is looked up.
"""

from __future__ import annotations

import secrets
import uuid

KEY_PREFIX = "pk"


def new_public_key(tenant_id: uuid.UUID) -> str:
    return f"{KEY_PREFIX}_{tenant_id.hex}_{secrets.token_hex(12)}"


def tenant_of_key(public_key: str) -> uuid.UUID | None:
    parts = public_key.split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 32 or not parts[2]:
        return None
    try:
        return uuid.UUID(hex=parts[1])
    except ValueError:
        return None


def new_widget_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"
