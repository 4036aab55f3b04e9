"""A month of synthetic traffic through the metering API and the reporting job, with
replays, a Stripe outage and a crash of the job between Stripe's answer and its own
record: the ledger, what was reported and what Stripe counted all come out exact."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from plateaux.billing import reporting, service
from plateaux.billing.gateway import StripeGateway
from plateaux.billing.metering import meter_finished_contacts, record_voice_leg
from plateaux.billing.meters import Meter, billable_minutes, event_name
from plateaux.billing.models import UsageRecord, UsageReport
from plateaux.platform.services import Services
from plateaux.routing.models import Contact
from tests.support.factories import TenantFactory
from tests.support.localstripe_helper import LocalStripe

METER_EVENTS = "/v1/billing/meter_events"


class CrashAfterStripe:
    """The job's gateway, killed right after Stripe accepted the ``crash_at``-th event."""

    def __init__(self, gateway: StripeGateway, crash_at: int) -> None:
        self.gateway, self.crash_at, self.calls = gateway, crash_at, 0

    async def report_usage(self, **kwargs: Any) -> dict[str, Any]:
        answer = await self.gateway.report_usage(**kwargs)
        self.calls += 1
        if self.calls == self.crash_at:
            raise RuntimeError("worker killed")
        return answer


async def _day_of_traffic(services: Services, tenant_id: uuid.UUID, day: datetime,
                          rng: random.Random, expected: Counter[Meter]) -> None:
    """Chats, emails and forms, calls with transfers and callbacks, some abandoned; every
    event of the day reported twice (a retried job, a replayed log)."""
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        contacts: list[uuid.UUID] = []
        for channel, count, meter in (("chat", 8, Meter.CHAT), ("email", 4, Meter.EMAIL),
                                      ("form", 1, Meter.EMAIL), ("callback", 1, Meter.CALLBACKS),
                                      ("phone", 2, None)):
            for _ in range(count):
                answered = rng.random() > 0.2
                contact = Contact(
                    tenant_id=tenant_id, channel=channel,
                    status="completed" if answered else "abandoned",
                    transfers=rng.choice((0, 0, 1, 3)) if answered else 0,
                    created_at=day, answered_at=day if answered else None, ended_at=day)
                session.add(contact)
                contacts.append(contact.id)
                if answered and meter is not None:
                    expected[meter] += 1
                if answered and channel in ("phone", "callback"):
                    # The customer's leg, then one agent leg per agent the call reached.
                    direction = "inbound" if channel == "phone" else "outbound"
                    legs = [(f"{contact.id}:customer", direction, rng.randint(30, 900))]
                    legs += [(f"{contact.id}:agent{n}", "browser", rng.randint(5, 600))
                             for n in range(contact.transfers + 1)]
                    for leg_id, leg_direction, seconds in legs + legs:  # each leg twice
                        await record_voice_leg(session, tenant_id, leg_id=leg_id,
                                               direction=leg_direction, seconds=seconds,
                                               ended_at=day, contact_id=contact.id)
                    for _leg, leg_direction, seconds in legs:
                        expected[Meter(f"voice_{leg_direction}_minutes")] += billable_minutes(
                            seconds)
        await session.flush()
        for _ in range(2):
            await meter_finished_contacts(session, tenant_id, contacts)


async def test_a_month_of_traffic_is_reported_exactly_once(
        billing: Services, gateway: StripeGateway, tenants: TenantFactory,
        localstripe: LocalStripe) -> None:
    world = await tenants.create()
    tenant_id = world.tenant.id
    await service.sync_tenant(billing, gateway, tenant_id)
    rng = random.Random(8)
    expected: Counter[Meter] = Counter()
    outage = 0
    start = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(
        days=30)
    for day in range(30):
        await _day_of_traffic(billing, tenant_id, start + timedelta(days=day), rng, expected)
        if day == 9:
            # Stripe is down for this run: every report waits, none is lost.
            localstripe.fail(METER_EVENTS, 1000)
            outcome = await reporting.report_tenant(billing, gateway, tenant_id)
            assert outcome.sent == 0 and outcome.failed == outcome.made > 0
            outage = outcome.failed
            localstripe.fail(METER_EVENTS, 0)
        elif day == 19:
            # The job dies after Stripe took its second event, before recording it.
            with pytest.raises(RuntimeError, match="worker killed"):
                await reporting.report_tenant(
                    billing, CrashAfterStripe(gateway, crash_at=2), tenant_id)  # type: ignore[arg-type]
        elif day % 3 == 0:
            await reporting.report_tenant(billing, gateway, tenant_id)
    await reporting.report_tenant(billing, gateway, tenant_id)
    assert (await reporting.report_tenant(billing, gateway, tenant_id)).made == 0

    async with billing.unit_of_work(tenant_id=tenant_id) as session:
        records = list((await session.scalars(select(UsageRecord).where(
            UsageRecord.tenant_id == tenant_id))).all())
        reports = list((await session.scalars(select(UsageReport).where(
            UsageReport.tenant_id == tenant_id))).all())
        account = await service.account_of(session, tenant_id)
    assert account is not None
    in_ledger: Counter[Meter] = Counter()
    for record in records:
        in_ledger[Meter(record.meter)] += record.quantity
        assert record.report_id is not None
    assert +in_ledger == +expected
    assert all(report.sent_at is not None for report in reports)
    reported: Counter[Meter] = Counter()
    for report in reports:
        reported[Meter(report.meter)] += report.quantity
    assert +reported == +expected
    assert sum(r.records for r in reports) == len(records)
    assert any(r.attempts > 1 and r.last_error is None for r in reports)  # retried

    # What the stand-in received: one identifier per report; the crashed one sent twice
    # (same idempotency key), counted once; the outage's ones tried, then sent.
    mine = [e for e in localstripe.meter_events()
            if e["payload"]["stripe_customer_id"] == account.stripe_customer_id]
    assert sorted(e["identifier"] for e in mine) == sorted(
        r.identifier for r in reports if r.quantity)
    sent = Counter(r["idempotency_key"] for r in localstripe.requests(METER_EVENTS)
                   if r["form"]["payload[stripe_customer_id]"] == account.stripe_customer_id)
    assert set(sent) == {e["identifier"] for e in mine}
    assert Counter(sent.values()) == Counter({1: len(mine) - 1 - outage, 2: 1 + outage})
    counted: Counter[Meter] = Counter()
    for identifier, event in {e["identifier"]: e for e in mine}.items():
        assert identifier.startswith("plx_")
        counted[Meter(event["event_name"].removeprefix("plateaux_"))] += int(
            event["payload"]["value"])
    assert +counted == +expected
    assert {e["event_name"] for e in mine} <= {event_name(m) for m in Meter}
