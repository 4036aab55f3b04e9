"""The live router across several server processes sharing PostgreSQL and Redis: thousands
of contacts served by agents whose consoles are spread over the processes, agents whose
connections drop, and a process killed while it holds offers and the steward lease."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlmodel import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from plateaux.platform.services import Services
from plateaux.routing.models import AgentStateEvent, Contact
from tests.support.database import TestDatabase
from tests.support.factories import TenantFactory, TenantWorld
from tests.support.routing_floor import (
    Console,
    Floor,
    Habits,
    Ledger,
    Profile,
    add_profile,
    add_queue,
    contact_rows,
    history,
    replay_capacity,
    routing_floor,
    sign_in,
    work,
)
from tests.support.settings import REDIS_URL
from tests.support.waiting import until

# Floors of server processes on Redis, timed by their own clients: they run alone, after
# the parallel test files (make test), on a machine not shared with the rest of the suite.
pytestmark = [pytest.mark.postgres_only, pytest.mark.alone]

GRACE = 6.0


@pytest.fixture(scope="module")
def floor(test_database: TestDatabase,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Floor]:
    with routing_floor(test_database=test_database, data_dir=tmp_path_factory.mktemp("floor"),
                       grace=GRACE) as found:
        yield found


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Idle connections are let go well before the servers' keep-alive timeout (5 s), so a
    # request never goes out on a connection the server is closing.
    limits = httpx.Limits(max_connections=90, max_keepalive_connections=90,
                          keepalive_expiry=1.0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        yield client


class Desk:
    """A tenant's people signed in against the floor."""

    def __init__(self, floor: Floor, http: httpx.AsyncClient, world: TenantWorld) -> None:
        self.floor, self.http, self.world = floor, http, world
        self.admin: dict[str, str] = {}
        self._addresses = iter(range(1, 1_000_000))

    def address(self) -> str:
        number = next(self._addresses)
        return f"10.{random.randrange(256)}.{number // 250 % 250}.{number % 250 + 1}"

    async def open(self) -> Desk:
        self.admin = await sign_in(self.http, self.floor.urls[0], self.world,
                                   self.world.admin.email, address=self.address())
        return self

    async def console(self, user: Any, server: int) -> Console:
        headers = await sign_in(self.http, self.floor.urls[server % len(self.floor.urls)],
                                self.world, user.email, address=self.address())
        return Console(user=user, headers=headers, http=self.http, floor=self.floor,
                       server=server)

    async def create(self, body: dict[str, Any], *, server: int | None = None) -> str:
        url = self.floor.urls[server] if server is not None else self.floor.any_url()
        # Sent again after a network error, the same key makes sure of one contact.
        headers = {**self.admin, "Idempotency-Key": uuid.uuid4().hex}
        for attempt in range(3):
            try:
                response = await self.http.post(f"{url}/api/v1/contacts", headers=headers,
                                                json=body)
                break
            except httpx.TransportError:
                if attempt == 2:
                    raise
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def contact(self, contact_id: str) -> dict[str, Any]:
        response = await self.http.get(f"{self.floor.any_url()}/api/v1/contacts/{contact_id}",
                                       headers=self.admin)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def events(self, contact_id: str) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"{self.floor.any_url()}/api/v1/contacts/{contact_id}/events", headers=self.admin)
        assert response.status_code == 200, response.text
        return list(response.json())

    async def presence_of(self, console: Console) -> dict[str, Any]:
        response = await self.http.get(f"{self.floor.any_url()}/api/v1/presence",
                                       headers=self.admin)
        assert response.status_code == 200, response.text
        return next(p for p in response.json() if p["agent_id"] == console.id)


async def queued_everywhere(desk: Desk, contact_id: str) -> bool:
    for url in desk.floor.urls:
        response = await desk.http.get(f"{url}/api/v1/contacts/{contact_id}",
                                       headers=desk.admin)
        if response.json()["status"] != "queued":
            return False
    return True


async def status_is(desk: Desk, contact_id: str, *statuses: str) -> bool:
    return (await desk.contact(contact_id))["status"] in statuses


async def one_agent_line(floor: Floor, http: httpx.AsyncClient, tenants: TenantFactory,
                         services: Services, name: str) -> tuple[Desk, Any, Any]:
    """A tenant with one queue (offers ring 2 minutes) and one agent serving it: the
    signed-in desk, the queue and the agent."""
    world = await tenants.create()
    queue = await add_queue(services, world, "Line", accept_timeout_seconds=120)
    agent = await tenants.add_user(world, name=name)
    await add_profile(services, world, agent, Profile({}, False, (queue.id,)))
    return await Desk(floor, http, world).open(), queue, agent


# --- 4. the console's WebSocket against a live server ---------------------------------------

async def test_the_console_connection_authenticates_pings_and_carries_offers_and_presence(
    floor: Floor, http: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    desk, queue, ann = await one_agent_line(floor, http, tenants, services, "Ann")

    for headers in ({"Authorization": "Bearer not-a-token"}, {}):
        with pytest.raises(ConnectionClosed) as closed:
            async with connect(floor.ws_url(1), additional_headers=headers) as socket:
                await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    console = await desk.console(ann, 1)
    connected = await console.connect()
    assert connected["payload"]["agent_id"] == console.id
    await console.send({"type": "ping"})
    await console.expect("pong")

    await console.presence("available")
    presence = await console.expect("routing.presence")
    assert presence["payload"]["presence"] == "available"
    assert presence["payload"]["previous"] == "offline"

    # Created on another process, offered on this one's connection.
    contact_id = await desk.create({"channel": "chat", "queue_id": str(queue.id)}, server=2)
    offer = await console.expect("routing.offer")
    assert offer["payload"]["contact_id"] == contact_id
    assert offer["payload"]["channel"] == "chat"

    # Closing the console is a disconnect: the offer goes back at once, long before the
    # grace period would take the agent offline.
    await console.close()
    await until(lambda: status_is(desk, contact_id, "queued"), timeout=20,
                what="the offer taken back")
    assert (await desk.presence_of(console))["presence"] == "available"
    events = await until(lambda: _recorded(desk, contact_id, "declined"), timeout=20,
                         what="the decline recorded")
    assert [e["kind"] for e in events] == ["queued", "offered", "declined"]
    assert events[-1]["agent_id"] == console.id
    cancelled = await http.post(f"{floor.urls[0]}/api/v1/contacts/{contact_id}/cancel",
                                headers=desk.admin, json={"reason": "abandoned"})
    assert cancelled.status_code == 200, cancelled.text


async def test_a_console_is_told_the_pending_offers_on_connecting_and_after_lost_events(
    floor: Floor, http: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    desk, queue, bea = await one_agent_line(floor, http, tenants, services, "Bea")
    first = await desk.console(bea, 0)
    await first.connect()
    await first.presence("available")
    contact_id = await desk.create({"channel": "chat", "queue_id": str(queue.id)}, server=2)
    assert (await first.expect("routing.offer"))["payload"]["contact_id"] == contact_id

    # Her second console (another tab, on another process) is told of it on connecting.
    second = await desk.console(bea, 1)
    await second.connect()
    offer = (await second.expect("routing.offer"))["payload"]
    assert offer["contact_id"] == contact_id and offer["channel"] == "chat"
    assert offer["expires_at"] is not None

    # Every process's bus loses its Redis connection: what was published meanwhile is
    # lost, so each console is told the pending offers again once its bus is back.
    async with Redis.from_url(REDIS_URL) as redis:
        assert await redis.client_kill_filter(_type="pubsub") >= 1
    for console in (first, second):
        again = await console.expect("routing.offer", timeout=20)
        assert again["payload"]["contact_id"] == contact_id

    accepted = await first.act(contact_id, "accept")
    assert accepted.status_code == 200, accepted.text
    done = await first.act(contact_id, "complete")
    assert done.status_code == 200, done.text
    await first.close()
    await second.close()


async def _recorded(desk: Desk, contact_id: str, kind: str) -> list[dict[str, Any]] | None:
    events = await desk.events(contact_id)
    return events if any(e["kind"] == kind for e in events) else None


# --- 1. three processes, thousands of contacts ----------------------------------------------

CONTACTS = 2000
AGENTS = 40
CHANNELS = ("chat", "chat", "email", "email", "phone")
CAPACITIES = ({"phone": 1, "chat": 3, "email": 5}, {"phone": 1, "chat": 2, "email": 3},
              {"phone": 0, "chat": 3, "email": 5}, {"phone": 1, "chat": 1, "email": 2})


@pytest.mark.timeout(900)  # a generous bound for a shared machine, not a measure
async def test_three_processes_serve_thousands_of_contacts_within_every_agents_capacity(
    floor: Floor, http: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    rng = random.Random(7)
    world = await tenants.create()
    # An offer nobody answers goes back to its queue after this, and the contact is still
    # served: in some runs one offer of the 2,000 was never answered by its agent's client
    # (cause not found), and with 300 s the run waited five minutes for it.
    queues = [await add_queue(services, world, name, accept_timeout_seconds=60,
                              away_on_timeout=False, follow_business_hours=False)
              for name in ("Sales", "Support", "Billing")]
    profiles: dict[uuid.UUID, Profile] = {}
    users = []
    for number in range(AGENTS):
        user = await tenants.add_user(world, name=f"Agent {number}")
        # Every queue is served by many agents, so a few declines never strand a contact.
        served = tuple(rng.sample(queues, rng.randint(1, 3)))
        served = served if number % 3 else (*served, queues[number % 3])
        profile = Profile(capacity=dict(CAPACITIES[number % len(CAPACITIES)]),
                          chats_beside_calls=number % 5 == 0,
                          queues=tuple(dict.fromkeys(q.id for q in served)))
        await add_profile(services, world, user, profile)
        profiles[user.id] = profile
        users.append(user)
    desk = await Desk(floor, http, world).open()
    consoles = [await desk.console(user, number % 3) for number, user in enumerate(users)]
    for console in consoles:
        await console.connect()
        await console.presence("available")

    ledger = Ledger()
    workers = [asyncio.create_task(work(console, ledger, Habits(), random.Random(n)))
               for n, console in enumerate(consoles)]
    created: list[str] = []
    gate = asyncio.Semaphore(24)

    async def create(number: int) -> None:
        channel = CHANNELS[number % len(CHANNELS)]
        queue = queues[rng.randrange(len(queues))]
        async with gate:
            created.append(await desk.create({"channel": channel, "queue_id": str(queue.id)},
                                             server=number % 3))

    started = asyncio.get_running_loop().time()
    try:
        await asyncio.gather(*(create(n) for n in range(CONTACTS)))

        async def finished() -> bool:
            rows = await contact_rows(services, world.tenant.id)
            return len(rows) == CONTACTS and all(r.status == "completed" for r in rows)

        try:
            await until(finished, timeout=420, every=1.0, what="every contact completed")
        except AssertionError:
            stuck = [r for r in await contact_rows(services, world.tenant.id)
                     if r.status != "completed"]
            trail = [(e.kind, e.agent_id) for e in await history(services, world.tenant.id)
                     if stuck and e.contact_id == stuck[0].id]
            raise AssertionError(f"{len(stuck)} contacts not completed "
                                 f"{Counter(r.status for r in stuck)}; the first: {trail}; "
                                 f"answers {ledger.failures[:10]}") from None
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for console in consoles:
            await console.close()
    elapsed = asyncio.get_running_loop().time() - started

    assert not ledger.failures, ledger.failures[:10]
    assert len(set(created)) == CONTACTS
    # The HTTP answers: every contact accepted by exactly one agent, and completed once.
    for contact_id in created:
        answers = ledger.accepts.get(contact_id, [])
        if [code for _, code in answers].count(200) != 1:
            trail = [(e.kind, e.agent_id, e.details)
                     for e in await history(services, world.tenant.id)
                     if str(e.contact_id) == contact_id]
            raise AssertionError((contact_id, answers, trail))
        assert [code for _, code in ledger.completes[contact_id]] == [200]

    rows = await contact_rows(services, world.tenant.id)
    channels = {row.id: row.channel for row in rows}
    events = await history(services, world.tenant.id)
    kinds: dict[uuid.UUID, Counter[str]] = {}
    for event in events:
        kinds.setdefault(event.contact_id, Counter())[event.kind] += 1
    assert set(kinds) == set(channels)
    for row_id, counted in kinds.items():
        assert counted["queued"] == 1 and counted["assigned"] == 1, (row_id, counted)
        assert counted["completed"] == 1 and counted["requeued"] == 0, (row_id, counted)
        assert counted["offered"] == counted["declined"] + 1, (row_id, counted)
    assert replay_capacity(events, channels=channels, profiles=profiles) == []
    # An accept refused with 409 is right only when that agent's offer had been taken
    # back first (a console that looked gone, under load, has its offers declined).
    for contact_id, agent in ledger.refused:
        taken_back = [e for e in events if str(e.contact_id) == contact_id
                      and e.kind == "declined" and str(e.agent_id) == agent]
        assert taken_back, (contact_id, agent, [(e.kind, e.agent_id) for e in events
                                                 if str(e.contact_id) == contact_id])
    declined = sum(c["declined"] for c in kinds.values())
    print(f"\n{CONTACTS} contacts, {AGENTS} agents on {len(floor.servers)} processes: "
          f"{len(events)} events replayed, {sum(c['assigned'] for c in kinds.values())} "
          f"assignments, {declined} declines, {ledger.offers} offers received, "
          f"{len(ledger.refused)} accepts refused after their offer was taken back, "
          f"served in {elapsed:.1f} s")


# --- 2. an agent's connection drops -------------------------------------------------------

async def test_a_dropped_console_gives_back_its_offer_at_once_and_its_contact_after_grace(
    floor: Floor, http: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    line = await add_queue(services, world, "Line", accept_timeout_seconds=300,
                           away_on_timeout=False, follow_business_hours=False)
    other = await add_queue(services, world, "Other", accept_timeout_seconds=300,
                            away_on_timeout=False, follow_business_hours=False)
    ann = await tenants.add_user(world, name="Ann")
    bob = await tenants.add_user(world, name="Bob")
    cat = await tenants.add_user(world, name="Cat")
    await add_profile(services, world, ann, Profile({}, False, (line.id,)))
    for user in (bob, cat):
        await add_profile(services, world, user, Profile({}, False, (line.id, other.id)))
    desk = await Desk(floor, http, world).open()
    a, b, c = [await desk.console(user, n) for n, user in enumerate((ann, bob, cat))]
    for console in (a, b, c):
        await console.connect()
    await a.presence("available")
    for console in (b, c):
        await console.presence("away", reason="break")

    first = await desk.create({"channel": "phone", "queue_id": str(line.id)}, server=2)
    assert (await a.expect("routing.offer"))["payload"]["contact_id"] == first
    # Created later, in a queue Ann does not serve: it waits behind the first by age.
    second = await desk.create({"channel": "phone", "queue_id": str(other.id)}, server=1)
    assert await status_is(desk, second, "queued")

    a.drop()
    # Every process has seen it back in the queue (Bob's presence may be decided on any).
    await until(lambda: queued_everywhere(desk, first), timeout=20,
                what="the dropped console's offer taken back")
    await b.presence("available")
    offer = await b.expect("routing.offer")
    assert offer["payload"]["contact_id"] == first  # it kept its age
    assert (await b.act(first, "accept")).status_code == 200
    await c.presence("available")
    assert (await c.expect("routing.offer"))["payload"]["contact_id"] == second
    assert (await c.act(second, "accept")).status_code == 200
    assert (await c.act(second, "complete")).status_code == 200

    # Bob's console goes while he handles the first contact: after the grace period he is
    # offline and the same contact waits again, for Cat.
    b.drop()
    offer = await c.expect("routing.offer", timeout=GRACE + 30)
    assert offer["payload"]["contact_id"] == first
    assert (await c.act(first, "accept")).status_code == 200
    assert (await c.act(first, "complete")).status_code == 200

    events = await until(lambda: _recorded(desk, first, "completed"), timeout=30,
                         what="the history recorded")
    assert [(e["kind"], e["agent_id"]) for e in events] == [
        ("queued", None), ("offered", a.id), ("declined", a.id), ("offered", b.id),
        ("assigned", b.id), ("requeued", b.id), ("offered", c.id), ("assigned", c.id),
        ("completed", c.id)]
    assert events[5]["details"] == {"reason": "agent lost"}
    stored = await desk.contact(first)
    assert stored["transfers"] == 0 and stored["agent_id"] == c.id
    assert (await desk.presence_of(b))["presence"] == "offline"
    # Ann's offer went back while she was still signed in, not when her grace ran out.
    offline = await until(lambda: _went_offline(services, world, ann.id), timeout=GRACE + 30,
                          what="Ann offline")
    assert datetime.fromisoformat(events[2]["at"]) < offline
    assert datetime.fromisoformat(events[3]["at"]) < offline


async def _went_offline(services: Services, world: TenantWorld,
                        user_id: uuid.UUID) -> datetime | None:
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        return (await session.scalars(select(AgentStateEvent.at).where(
            AgentStateEvent.tenant_id == world.tenant.id, AgentStateEvent.user_id == user_id,
            AgentStateEvent.presence == "offline"))).first()


# --- 3. a server process killed mid-offer ------------------------------------------------------

async def test_a_killed_process_loses_no_contact_and_its_stewardship_moves(
    test_database: TestDatabase, tmp_path_factory: pytest.TempPathFactory,
    http: httpx.AsyncClient, tenants: TenantFactory, services: Services
) -> None:
    world = await tenants.create()
    line = await add_queue(services, world, "Line", accept_timeout_seconds=300,
                           away_on_timeout=False, follow_business_hours=False)
    quick = await add_queue(services, world, "Quick", accept_timeout_seconds=3,
                            away_on_timeout=False, follow_business_hours=False)
    names = ("Probe 0", "Probe 1", "Probe 2", "Kim", "Kit", "Sid", "Wes", "Wyn")
    users = {name: await tenants.add_user(world, name=name) for name in names}
    for name, user in users.items():
        queues = (quick.id,) if name == "Sid" else (line.id, quick.id) \
            if name.startswith("W") else (line.id,)
        await add_profile(services, world, user, Profile({}, False, queues))
    grace = 4.0
    with routing_floor(test_database=test_database, grace=grace,
                       data_dir=tmp_path_factory.mktemp("killed")) as floor:
        desk = await Desk(floor, http, world).open()
        redis: Redis = Redis.from_url(REDIS_URL, decode_responses=True)
        consoles: dict[str, Console] = {}
        try:
            for number in range(3):
                probe = consoles[f"Probe {number}"] = await desk.console(
                    users[f"Probe {number}"], number)
                await probe.connect()
            process_of = await _processes(redis, floor, world, consoles)
            lease = f"{floor.prefix}:lease:steward:{world.tenant.id}"
            steward = await until(lambda: redis.get(lease), timeout=20, what="a steward")
            victim = process_of[steward]
            survivors = [n for n in range(3) if n != victim]
            for name, server in (("Kim", victim), ("Kit", victim), ("Sid", survivors[0]),
                                 ("Wes", survivors[0]), ("Wyn", survivors[1])):
                consoles[name] = await desk.console(users[name], server)
                await consoles[name].connect()
            kim, kit = consoles["Kim"], consoles["Kit"]
            await kim.presence("available")
            held = await desk.create({"channel": "phone", "queue_id": str(line.id)})
            assert (await kim.expect("routing.offer"))["payload"]["contact_id"] == held
            assert (await kim.act(held, "accept")).status_code == 200
            await kit.presence("available")
            ringing = await desk.create({"channel": "phone", "queue_id": str(line.id)})
            assert (await kit.expect("routing.offer"))["payload"]["contact_id"] == ringing
            waiting = [await desk.create({"channel": "phone", "queue_id": str(line.id)})
                       for _ in range(3)]
            # What a process leaves when it dies between storing a contact and routing it.
            async with services.unit_of_work(tenant_id=world.tenant.id) as session:
                orphan = Contact(tenant_id=world.tenant.id, channel="phone", queue_id=line.id)
                session.add(orphan)
            quick_one = await desk.create({"channel": "chat", "queue_id": str(quick.id)},
                                          server=survivors[1])
            for contact_id in waiting:
                assert await status_is(desk, contact_id, "queued")

            floor.servers[victim].process.send_signal(signal.SIGKILL)
            floor.servers[victim].process.wait()

            # The steward's timers run on whoever leads now: Sid lets an offer ring out.
            sid = consoles["Sid"]
            await sid.presence("available")
            assert (await sid.expect("routing.offer", timeout=60))["payload"][
                "contact_id"] == quick_one
            ledger = Ledger()
            workers = [asyncio.create_task(work(consoles[name], ledger,
                                                Habits(decline_share=0.0), random.Random(n)))
                       for n, name in enumerate(("Wes", "Wyn"))]
            for name in ("Wes", "Wyn"):
                await consoles[name].presence("available")
            everything = {held, ringing, str(orphan.id), quick_one, *waiting}

            async def served() -> bool:
                rows = await contact_rows(services, world.tenant.id)
                return {str(r.id) for r in rows if r.status == "completed"} == everything

            try:
                await until(served, timeout=120, every=0.5, what="every contact served")
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
            assert not ledger.failures, ledger.failures
            new_steward = await redis.get(lease)
            assert new_steward in process_of and process_of[new_steward] in survivors

            events = await history(services, world.tenant.id)
            by_contact: dict[str, list[tuple[str, str | None]]] = {}
            for event in events:
                by_contact.setdefault(str(event.contact_id), []).append(
                    (event.kind, None if event.agent_id is None else str(event.agent_id)))
            assert ("requeued", kim.id) in by_contact[held]
            assert ("declined", kit.id) in by_contact[ringing]
            assert ("declined", sid.id) in by_contact[quick_one]  # rang out
            recovered = next(e for e in events if str(e.contact_id) == str(orphan.id))
            assert recovered.kind == "queued" and recovered.details["reason"] == "recovered"
            for contact_id in everything:
                kinds = [kind for kind, _ in by_contact[contact_id]]
                assert kinds.count("completed") == 1, (contact_id, kinds)
        finally:
            for console in consoles.values():
                with contextlib.suppress(Exception):
                    await console.close()
            await redis.aclose()


async def _processes(redis: Redis, floor: Floor, world: TenantWorld,
                     probes: dict[str, Console]) -> dict[str, int]:
    """Which server process (by its routing id) each server is, from the connections the
    probes' consoles registered."""
    key = f"{floor.prefix}:{{{world.tenant.id}}}:connections"
    server_of = {console.id: console.server for console in probes.values()}

    async def mapped() -> dict[str, int] | None:
        held = await redis.hgetall(key)  # type: ignore[misc]
        found = {process: server_of[agent] for agent, process in
                 (json.loads(value) for value in held.values()) if agent in server_of}
        return found if len(found) == len(probes) else None

    found: dict[str, int] = await until(mapped, timeout=20, what="every probe connected")
    return found
