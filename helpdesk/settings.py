"""Help desk settings, from the environment with the ``PLATEAUX_HELPDESK_`` prefix."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HelpdeskEnv(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLATEAUX_HELPDESK_", env_file=".env",
                                      extra="ignore")

    # How often the SLA sweep runs (it also closes solved cases after the tenant's delay).
    sla_sweep_seconds: float = Field(default=30.0, gt=0)
    # An active case is looked at again at least this often: a customer's new message
    # starts a next-response clock without the case itself changing.
    sla_recheck_seconds: float = Field(default=120.0, gt=0)
    # Cases evaluated per tenant and sweep (the rest wait for the next sweep).
    sla_batch: int = Field(default=500, ge=1, le=10000)
    # Public pages (help center, satisfaction survey): requests per address and minute.
    public_requests_per_minute: int = Field(default=120, ge=1)


@lru_cache(maxsize=1)
def helpdesk_settings() -> HelpdeskEnv:
    return HelpdeskEnv()
