"""Help desk benchmark: what the SLA clocks and the knowledge base cost.

1. SLA arithmetic, pure: ``--histories`` (10,000) case histories of two weeks each (six
   status changes, ten customer messages and the agents' replies) evaluated against three
   targets in business hours (Paris, 09:00-18:00 on weekdays, two holidays): microseconds
   per case, all three metrics.
2. The sweep, on the database: ``--cases`` (1,000) active cases under a business-hours
   policy, each with a chat of four messages, swept once by the job's own function (every
   case read with its messages, evaluated, stored, alerts raised): milliseconds per case.
3. Knowledge base search: ``--articles`` (2,000) published articles, half English, half
   French, words drawn from a vocabulary of 3,000; 200 searches of two words (each a
   prefix) and 200 suggestions of eight words ("any") in English: p50 and p99 in
   milliseconds.

The platform runs in this process on PostgreSQL when it answers on 127.0.0.1:5432 (a
temporary database migrated by the real migrations, dropped at the end), else on SQLite
(``--backend`` forces one). Prints JSON with the load average at the start and the end.
"""

# ruff: noqa: E402  (the path is fixed before anything imports the standard library's email)
from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on the path, and bench/email.py would
# hide the standard library's email package: the folder goes.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PLATEAUX_HELPDESK_SLA_BATCH", "10000")
os.environ.setdefault("PLATEAUX_HELPDESK_SLA_SWEEP_SECONDS", "3600")
RUN_ID = uuid.uuid4().hex[:8]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def office() -> Any:
    from plateaux.helpdesk.business_time import Calendar
    from plateaux.tenants.hours import Interval

    return Calendar("Europe/Paris", tuple(Interval(d, clock(9), clock(18)) for d in range(5)),
                    frozenset({date(2025, 5, 1), date(2025, 5, 8)}))


def history(rng: random.Random, start: datetime) -> Any:
    from plateaux.helpdesk.sla import History

    statuses = [(start, "new")]
    at = start
    for status in ("open", "pending", "open", "pending", "open"):
        at += timedelta(hours=rng.uniform(2, 40))
        statuses.append((at, status))
    customer = sorted(start + timedelta(hours=rng.uniform(0, 300)) for _ in range(10))
    agent = sorted(c + timedelta(minutes=rng.uniform(5, 600)) for c in customer[::2])
    return History(created_at=start, statuses=statuses, customer=customer, agent=agent)


def bench_arithmetic(count: int, rng: random.Random) -> dict[str, Any]:
    from plateaux.helpdesk.sla import Targets, evaluate

    calendar = office()
    targets = Targets(first_response=3600, next_response=4 * 3600, resolution=16 * 3600)
    base = datetime(2025, 4, 22, 8, tzinfo=UTC)
    histories = [history(rng, base + timedelta(hours=rng.uniform(0, 48)))
                 for _ in range(count)]
    now = base + timedelta(days=14)
    started = time.perf_counter()
    for found in histories:
        evaluate(targets, calendar, found, now)
    elapsed = time.perf_counter() - started
    return {"histories": count, "us_per_case": round(elapsed / count * 1e6, 1)}


async def bench_database(args: argparse.Namespace, database: Any, tmp: Path,
                         rng: random.Random) -> dict[str, Any]:
    from plateaux.channels.chat.models import Conversation, ConversationMessage
    from plateaux.helpdesk import kb_search, tasks
    from plateaux.helpdesk.models import Case, CaseContact, KbArticle, KbTranslation, SlaPolicy
    from plateaux.platform.app import create_app
    from plateaux.routing.models import Contact
    from plateaux.tenants.models import BusinessHours, Holiday
    from tests.support.factories import TenantFactory
    from tests.support.settings import make_settings

    result: dict[str, Any] = {}
    app = create_app(make_settings(database, tmp / "data", base_url="http://127.0.0.1:1"))
    services = app.state.services
    async with app.router.lifespan_context(app):
        world = await TenantFactory(services).create()
        tenant_id = world.tenant.id
        now = datetime.now(UTC)
        async with services.unit_of_work(tenant_id=tenant_id) as session:
            for day in range(5):
                session.add(BusinessHours(tenant_id=tenant_id, weekday=day, opens=clock(9),
                                          closes=clock(18)))
            session.add(Holiday(tenant_id=tenant_id, day=date(2030, 1, 1), name="New year"))
            policy = SlaPolicy(tenant_id=tenant_id, name="Standard",
                               first_response_minutes=60, next_response_minutes=240,
                               resolution_minutes=960, escalate_at_risk=False,
                               escalate_on_breach=False)
            session.add(policy)
            await session.flush()
            for number in range(1, args.cases + 1):
                opened = now - timedelta(hours=rng.uniform(1, 72))
                contact = Contact(tenant_id=tenant_id, channel="chat", status="completed",
                                  created_at=opened)
                session.add(contact)
                await session.flush()
                conversation = Conversation(tenant_id=tenant_id, contact_id=contact.id)
                session.add(conversation)
                await session.flush()
                for seq in range(1, 5):
                    session.add(ConversationMessage(
                        tenant_id=tenant_id, conversation_id=conversation.id, seq=seq,
                        author_type="visitor" if seq % 2 else "agent", text=f"message {seq}",
                        created_at=opened + timedelta(minutes=seq * 7)))
                case = Case(tenant_id=tenant_id, number=number, subject=f"Case {number}",
                            status="open", sla_policy_id=policy.id, channel="chat",
                            status_log=[[opened.isoformat(), "open"]], created_at=opened)
                session.add(case)
                await session.flush()
                session.add(CaseContact(tenant_id=tenant_id, case_id=case.id,
                                        contact_id=contact.id, channel="chat",
                                        conversation_id=conversation.id))
        started = time.perf_counter()
        done = await tasks.sweep_tenant(services, tenant_id, now=now)
        elapsed = time.perf_counter() - started
        result["sweep"] = {"cases": done["checked"],
                           "ms_per_case": round(elapsed / max(1, done["checked"]) * 1000, 2),
                           "seconds": round(elapsed, 2)}

        vocabulary = [f"w{n:04d}" for n in range(3000)]
        async with services.unit_of_work(tenant_id=tenant_id) as session:
            for n in range(args.articles):
                language = "en" if n % 2 else "fr"
                article = KbArticle(tenant_id=tenant_id, status="published")
                session.add(article)
                await session.flush()
                title = " ".join(rng.choices(vocabulary, k=5))
                body = " ".join(rng.choices(vocabulary, k=200))
                keywords = ",".join(rng.choices(vocabulary, k=4))
                session.add(KbTranslation(
                    tenant_id=tenant_id, article_id=article.id, language=language,
                    title=title, slug=f"a-{n}", body_html=f"<p>{body}</p>", body_text=body,
                    keywords=keywords, search_text=f"{title} {keywords} {body}"))
        if database.backend == "postgresql":
            # As autovacuum would have by then: the GIN indexes' pending lists merged and
            # statistics taken (a fresh bulk load is planned around the indexes until).
            from tests.support.database import psql

            psql("VACUUM ANALYZE helpdesk_kb_translations", database=database.name)
            psql("VACUUM ANALYZE helpdesk_kb_articles", database=database.name)
        timings: dict[str, list[float]] = {"search": [], "suggest": []}
        found: dict[str, int] = {"search": 0, "suggest": 0}
        for _ in range(200):
            async with services.unit_of_work(tenant_id=tenant_id) as session:
                query = " ".join(rng.choices(vocabulary, k=2))
                started = time.perf_counter()
                hits = await kb_search.search(session, tenant_id, query, language="en")
                timings["search"].append((time.perf_counter() - started) * 1000)
                found["search"] += len(hits)
                words = rng.choices(vocabulary, k=8)
                started = time.perf_counter()
                hits = await kb_search.related(session, tenant_id, words, language="en")
                timings["suggest"].append((time.perf_counter() - started) * 1000)
                found["suggest"] += len(hits)
        result["kb"] = {"articles": args.articles, **{
            kind: {"p50_ms": round(statistics.median(values), 2),
                   "p99_ms": round(percentile(values, 0.99), 2),
                   "mean_hits": round(found[kind] / len(values), 1)}
            for kind, values in timings.items()}}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", type=int, default=10_000)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default=None)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    from tests.support.database import create_test_database, psql

    backend = args.backend or "sqlite"
    if args.backend is None:
        with contextlib.suppress(Exception):
            psql("SELECT 1")
            backend = "postgresql"
    rng = random.Random(args.seed)
    result: dict[str, Any] = {"backend": backend,
                              "load_average_at_start": os.getloadavg()[0],
                              "sla_arithmetic": bench_arithmetic(args.histories, rng)}
    tmp = Path(tempfile.mkdtemp(prefix="plateaux-helpdesk-bench-"))
    os.environ["PYTEST_XDIST_WORKER"] = f"helpdeskbench_{RUN_ID}"
    database = create_test_database(backend, tmp)
    try:
        result.update(asyncio.run(bench_database(args, database, tmp, rng)))
    finally:
        database.drop()
    result["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
