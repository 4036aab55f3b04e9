"""Email channel settings, from the environment with the ``PLATEAUX_EMAIL_`` prefix."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EmailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLATEAUX_EMAIL_", env_file=".env",
                                      extra="ignore")

    # Tenants name the servers we connect to: private, loopback and link-local addresses
    # are refused (SSRF) unless the operator allows them (a mail server on the LAN, tests).
    allow_private_hosts: bool = False
    # A message larger than this is held in quarantine (raw source kept), not parsed.
    max_message_bytes: int = Field(default=30 * 1024 * 1024, ge=1024)
    # Each attachment or inline image; larger parts are left out and the message says so.
    max_attachment_bytes: int = Field(default=15 * 1024 * 1024, ge=1)
    # Messages fetched per IMAP round trip.
    fetch_batch: int = Field(default=50, ge=1, le=500)
    # A fetch also takes what arrives while it runs, for this long at most.
    drain_seconds: float = Field(default=30.0, ge=0)
    # IDLE is renewed this often (servers drop it after 30 minutes).
    idle_seconds: float = Field(default=300.0, gt=0)
    # With IDLE working, a safety poll this often; without it, the mailbox's own interval.
    idle_poll_seconds: float = Field(default=900.0, gt=0)
    # How often the fetch scheduler looks at its mailboxes, and re-reads the list of them.
    tick_seconds: float = Field(default=0.25, gt=0)
    start_delay_seconds: float = Field(default=15.0, ge=0)
    rescan_seconds: float = Field(default=600.0, gt=0)
    # Acknowledgements to one address per hour at most (the loop guard).
    acks_per_hour: int = Field(default=3, ge=0)
    # Replies still queued or sending after this long (their job lost with a process that
    # stopped) are queued again; how often that is looked for.
    stuck_send_seconds: float = Field(default=120.0, gt=0)
    sweep_seconds: float = Field(default=60.0, gt=0)
    # A UID whose ingestion fails this many times is quarantined.
    max_ingest_failures: int = Field(default=3, ge=1)
    connect_timeout: float = Field(default=20.0, gt=0)
    send_max_tries: int = Field(default=6, ge=1)


@lru_cache(maxsize=1)
def email_settings() -> EmailSettings:
    return EmailSettings()
