"""Platform settings, read from the environment with the ``PLATEAUX_`` prefix.

With nothing configured the platform runs on its embedded defaults: SQLite in ``var/``,
the in-process event bus and job runner, and a development secret kept in ``var/`` so
sessions survive restarts. Production mode refuses to start without an explicit secret.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLATEAUX_", env_file=".env", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("var")
    database_url: str = ""
    # Migrations run as the schema owner; the application connects as a role that is
    # subject to row-level security. Empty means "same as database_url" (SQLite, dev).
    migration_database_url: str = ""
    redis_url: str | None = None
    # The arq queue the API enqueues to and `plateaux worker` consumes.
    job_queue_name: str = "plateaux:jobs"
    # Routing: how long an agent whose consoles are all gone keeps their contacts before
    # going offline, and the prefix of the routing state's keys in Redis.
    routing_grace_seconds: float = 30.0
    routing_key_prefix: str = "plateaux:rt"
    secret_key: str = ""
    # Public URL used in links and cookies; defaults to the address the server listens on.
    base_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    # Proxies whose X-Forwarded-* headers are believed (the load balancer in production).
    forwarded_allow_ips: str = "127.0.0.1"

    # Outgoing mail. With no SMTP host the message is written to the log (development).
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Plateaux <no-reply@plateaux.localhost>"

    session_max_age_seconds: int = 12 * 3600
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    password_reset_ttl_seconds: int = 3600
    invitation_ttl_seconds: int = 7 * 24 * 3600
    # Loopback identity providers are refused unless the operator allows them (tests).
    allow_private_sso_issuers: bool = False
    db_pool_size: int = Field(default=10, ge=1)
    # Chat attachments: stored under data_dir/attachments; larger or other types refused.
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    attachment_types: list[str] = Field(default_factory=lambda: [
        "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"])
    log_json: bool = True

    # Billing with Stripe. Without an API key billing shows as not configured and nothing is
    # sent, but the usage ledger still records every billable event.
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    # Another address for Stripe's API (a stand-in on loopback in tests); empty for Stripe.
    stripe_api_base: str | None = None
    # How long a tenant whose subscription is unpaid or cancelled keeps working.
    billing_grace_days: float = Field(default=7.0, ge=0)
    # How often usage is reported to Stripe and seats and plans are brought up to date.
    billing_interval_seconds: float = Field(default=60.0, gt=0)

    # Voice (docs/voice.md). Without a SIP port the switch does not run and voice shows as
    # not configured; without a Janus URL browsers cannot call (numbers still can).
    sip_port: int | None = None
    sip_host: str = "127.0.0.1"  # where the switch's SIP and RTP listen
    sip_rtp_port: int = 40000
    sip_rtp_port_range: int = Field(default=2000, ge=20)
    # Where calls to numbers go (host:port of the carrier's SIP trunk).
    sip_trunk: str | None = None
    # Agents' SIP addresses on private networks (tests, a LAN PBX).
    sip_allow_private: bool = False
    janus_url: str | None = None  # ws://host:8188, Janus's WebSocket API
    stun_urls: list[str] = Field(default_factory=list)
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: str | None = None  # coturn's static-auth-secret
    turn_ttl_seconds: int = Field(default=3600, ge=60)
    tts_command: str = "espeak-ng"

    # CRM (docs/crm.md): private networks that tenants' webhooks and CRM lookups may reach
    # (the operator's choice: tests, a CRM on the same LAN); everything private, loopback,
    # link-local or metadata is refused otherwise, also after redirects and at connection.
    crm_private_networks: list[str] = Field(default_factory=list)
    crm_webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    crm_lookup_timeout_seconds: float = Field(default=2.0, gt=0)
    # How often the retention job runs over every tenant.
    crm_retention_interval_seconds: float = Field(default=3600.0, gt=0)

    @property
    def voice_configured(self) -> bool:
        return self.sip_port is not None

    @property
    def billing_enabled(self) -> bool:
        return bool(self.stripe_api_key)

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.base_url:
            self.base_url = f"http://{self.host}:{self.port}"
        self.base_url = self.base_url.rstrip("/")
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'plateaux.db'}"
        if not self.migration_database_url:
            self.migration_database_url = self.database_url
        if not self.secret_key:
            if self.environment is Environment.PRODUCTION:
                raise ValueError("PLATEAUX_SECRET_KEY is required in production")
            self.secret_key = _development_secret(self.data_dir)
        if len(self.secret_key) < 32:
            raise ValueError("PLATEAUX_SECRET_KEY must be at least 32 characters")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def _development_secret(data_dir: Path) -> str:
    """A random secret generated once and kept, so development sessions survive restarts."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
