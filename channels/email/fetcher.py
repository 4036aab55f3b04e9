"""Fetching a mailbox: new UIDs after the stored progress, in UID order, each message
ingested in its own transaction (which also moves the progress on).

Why nothing is skipped: a fetcher handles UIDs in order and stops at the first one it
cannot store, so the progress (the highest UID stored) never passes a UID that is not
stored, whichever of several fetchers moved it. Why nothing is doubled: the receipt per
(mailbox, UIDVALIDITY, UID) and the unique Message-ID key per tenant.

A UIDVALIDITY change means the server renumbered the folder: the progress starts again at
zero under the new value, and the Message-IDs (read first, without the bodies) tell the
messages already stored from new ones, which alone are fetched whole.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy

from plateaux.channels.email import repository as repo
from plateaux.channels.email.addresses import normalize_id
from plateaux.channels.email.imap import ImapConfig, ImapSession, imap_session
from plateaux.channels.email.ingest import Fetched, FollowUps, Outcome, ingest, quarantine
from plateaux.channels.email.models import EmailReceipt, Mailbox
from plateaux.channels.email.net import ConnectionProblem, describe
from plateaux.channels.email.settings import email_settings
from plateaux.platform.security import decrypt_secret
from plateaux.platform.services import Services
from plateaux.platform.types import utcnow

logger = logging.getLogger(__name__)


@dataclass
class SyncReport:
    outcomes: dict[str, int] = field(default_factory=dict)
    uid_validity: int | None = None
    resynced: bool = False
    error: str | None = None

    def count(self, outcome: Outcome) -> None:
        self.outcomes[outcome.value] = self.outcomes.get(outcome.value, 0) + 1


def imap_config(services: Services, mailbox: Mailbox) -> ImapConfig:
    return ImapConfig(host=mailbox.imap_host, port=mailbox.imap_port,
                      security=mailbox.imap_security, username=mailbox.imap_username,
                      password=decrypt_secret(services.settings.secret_key,
                                              mailbox.imap_password_encrypted),
                      folder=mailbox.imap_folder)


async def _load(services: Services, tenant_id: uuid.UUID,
                mailbox_id: uuid.UUID) -> tuple[Mailbox, ImapConfig]:
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        mailbox = await repo.get_mailbox(session, tenant_id, mailbox_id)
        return mailbox, imap_config(services, mailbox)


async def _start(services: Services, tenant_id: uuid.UUID, mailbox_id: uuid.UUID,
                 validity: int) -> tuple[int, bool]:
    """The progress to continue from under ``validity``; (last UID, renumbered)."""
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        mailbox = await repo.get_mailbox(session, tenant_id, mailbox_id, lock=True)
        if mailbox.uid_validity == validity:
            return mailbox.last_uid, False
        renumbered = mailbox.uid_validity is not None
        if renumbered:
            logger.warning("mailbox %s: UIDVALIDITY changed from %s to %s; resynchronising",
                           mailbox_id, mailbox.uid_validity, validity)
        mailbox.uid_validity, mailbox.last_uid = validity, 0
        mailbox.failing_uid, mailbox.failing_count = None, 0
        session.add(mailbox)
        return 0, renumbered


async def _record(services: Services, tenant_id: uuid.UUID, mailbox_id: uuid.UUID, *,
                  error: str | None) -> None:
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        mailbox = await repo.get_mailbox(session, tenant_id, mailbox_id)
        mailbox.last_fetch_at = utcnow()
        if error is not None:
            mailbox.last_error, mailbox.last_error_at = error[:1000], utcnow()
        elif mailbox.last_error and not mailbox.last_error.startswith("The mailbox is not"):
            mailbox.last_error = None
        session.add(mailbox)


async def _failed(services: Services, tenant_id: uuid.UUID, mailbox_id: uuid.UUID,
                  item: Fetched, exc: BaseException) -> None:
    """Count a failure at this UID; after a few, hold the message in quarantine so the
    mailbox moves on (never fetched forever)."""
    reason = f"Ingestion failed: {type(exc).__name__}: {exc}"
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        mailbox = await repo.get_mailbox(session, tenant_id, mailbox_id, lock=True)
        if mailbox.uid_validity != item.uid_validity:
            return
        if mailbox.failing_uid == item.uid:
            mailbox.failing_count += 1
        else:
            mailbox.failing_uid, mailbox.failing_count = item.uid, 1
        if mailbox.failing_count >= email_settings().max_ingest_failures:
            if await repo.receipt(session, tenant_id, mailbox_id, item.uid_validity,
                                  item.uid) is None:
                await quarantine(services, session, mailbox, item, reason)
            mailbox.last_uid = max(mailbox.last_uid, item.uid)
            mailbox.failing_uid, mailbox.failing_count = None, 0
        mailbox.last_error, mailbox.last_error_at = reason[:1000], utcnow()
        session.add(mailbox)


async def _skip_known(services: Services, tenant_id: uuid.UUID, mailbox_id: uuid.UUID,
                      imap: ImapSession, validity: int, uids: list[int],
                      report: SyncReport) -> list[int]:
    """After a renumbering: UIDs whose Message-ID is stored already get a receipt without
    their bodies being fetched; the others are returned, to be fetched whole."""
    heads = await imap.fetch(uids, headers_only=True)
    keys: dict[int, str] = {}
    for uid, head in heads.items():
        key = normalize_id(str(BytesHeaderParser(policy=default_policy)
                               .parsebytes(head).get("Message-ID") or ""))
        if key:
            keys[uid] = key
    rest = [uid for uid in uids if uid not in keys]
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        mailbox = await repo.get_mailbox(session, tenant_id, mailbox_id, lock=True)
        if mailbox.uid_validity != validity:
            return []
        known = await repo.known_keys(session, tenant_id, list(keys.values()))
        for uid in uids:
            key = keys.get(uid)
            if key is None:
                continue
            if key not in known:
                rest.append(uid)
                continue
            existing = await repo.message_by_key(session, tenant_id, key)
            if await repo.receipt(session, tenant_id, mailbox_id, validity, uid) is None:
                session.add(EmailReceipt(
                    tenant_id=tenant_id, mailbox_id=mailbox_id, uid_validity=validity,
                    uid=uid, outcome=Outcome.DUPLICATE.value,
                    email_message_id=existing.id if existing else None))
                report.count(Outcome.DUPLICATE)
        # Progress may only pass UIDs that are done: up to the first one still to fetch.
        pending = sorted(rest)
        done_until = (pending[0] - 1) if pending else max(uids)
        mailbox.last_uid = max(mailbox.last_uid, done_until)
        session.add(mailbox)
    return sorted(rest)


async def sync_mailbox(services: Services, tenant_id: uuid.UUID, mailbox_id: uuid.UUID, *,
                       max_messages: int | None = None) -> SyncReport:
    """Fetch and ingest what arrived since the last time; errors are recorded on the
    mailbox (and returned), never raised."""
    settings = email_settings()
    report = SyncReport()
    follow_ups = FollowUps()
    try:
        _mailbox, config = await _load(services, tenant_id, mailbox_id)
        async with imap_session(config, allow_private=settings.allow_private_hosts,
                                timeout=settings.connect_timeout) as imap:
            validity = await imap.select(config.folder)
            report.uid_validity = validity
            last_uid, renumbered = await _start(services, tenant_id, mailbox_id, validity)
            report.resynced = renumbered
            # What arrives while this runs is taken too (a burst costs one connection),
            # for a bounded time so a steady stream does not hold the job forever.
            until = time.monotonic() + settings.drain_seconds
            uids = await imap.uids_after(last_uid)
            while uids:
                if max_messages is not None:
                    uids = uids[:max_messages]
                if not await _ingest_uids(services, tenant_id, mailbox_id, imap, validity,
                                          uids, renumbered, report, follow_ups):
                    break
                if max_messages is not None or time.monotonic() > until:
                    break
                await imap.noop()
                uids = await imap.uids_after(uids[-1])
    except ConnectionProblem as exc:
        report.error = str(exc)
    except Exception as exc:
        logger.exception("fetching mailbox %s failed", mailbox_id)
        report.error = str(describe(exc))
    finally:
        await follow_ups.close()
    try:
        await _record(services, tenant_id, mailbox_id, error=report.error)
    except Exception:
        logger.exception("recording the fetch of mailbox %s failed", mailbox_id)
    return report


async def _ingest_uids(services: Services, tenant_id: uuid.UUID, mailbox_id: uuid.UUID,
                       imap: ImapSession, validity: int, uids: list[int], renumbered: bool,
                       report: SyncReport, follow_ups: FollowUps) -> bool:
    batch_size = email_settings().fetch_batch
    for start in range(0, len(uids), batch_size):
        batch = uids[start:start + batch_size]
        if renumbered:
            batch = await _skip_known(services, tenant_id, mailbox_id, imap, validity, batch,
                                      report)
        if not await _ingest_batch(services, tenant_id, mailbox_id, imap, validity, batch,
                                   report, follow_ups):
            return False
    return True


async def _ingest_batch(services: Services, tenant_id: uuid.UUID, mailbox_id: uuid.UUID,
                        imap: ImapSession, validity: int, batch: list[int],
                        report: SyncReport, follow_ups: FollowUps) -> bool:
    """Ingest a batch in UID order; False when the fetch must stop here."""
    fetched = await imap.fetch(batch)
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        own = await repo.own_addresses(session, tenant_id)
    for uid in sorted(fetched):
        item = Fetched(uid_validity=validity, uid=uid, raw=fetched[uid])
        try:
            outcome = await ingest(services, tenant_id, mailbox_id, item, own=own,
                                   follow_ups=follow_ups)
        except Exception as exc:
            logger.exception("ingesting uid %s of mailbox %s failed", uid, mailbox_id)
            await _failed(services, tenant_id, mailbox_id, item, exc)
            report.error = f"Ingestion failed at UID {uid}: {exc}"
            return False
        report.count(outcome)
        if outcome is Outcome.STALE:
            return False
    return True
