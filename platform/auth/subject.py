"""Who is making a request, and what they may do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from plateaux.tenants.models import Role


class Scope(StrEnum):
    """API scopes. Users get them from their role; API keys get the ones chosen."""

    TENANT_READ = "tenant:read"
    TENANT_WRITE = "tenant:write"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    API_KEYS_WRITE = "api_keys:write"
    CONTACTS_READ = "contacts:read"
    CONTACTS_WRITE = "contacts:write"


ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(s.value for s in Scope),
    Role.SUPERVISOR: frozenset({Scope.TENANT_READ, Scope.USERS_READ, Scope.CONTACTS_READ,
                                Scope.CONTACTS_WRITE}),
    Role.AGENT: frozenset({Scope.TENANT_READ, Scope.CONTACTS_READ}),
}


@dataclass(frozen=True, slots=True)
class Subject:
    tenant_id: uuid.UUID
    kind: str  # "user" | "api_key"
    principal_id: uuid.UUID
    role: Role
    scopes: frozenset[str]
    label: str
    user_id: uuid.UUID | None = None
    # Set for cookie sessions, which must present a CSRF token on unsafe methods.
    session_token_hash: str | None = field(default=None, compare=False)

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def principal_key(self) -> str:
        return f"{self.kind}:{self.principal_id}"
