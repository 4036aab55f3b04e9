"""A contact-center floor for routing tests: several server processes sharing one database
and one routing state in Redis, agents' consoles connected to them over real WebSockets,
and the recorded history checked against the routing rules."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlmodel import col, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from plateaux.platform.services import Services
from plateaux.routing.capacity import within_capacity
from plateaux.routing.config import capacity_from
from plateaux.routing.models import AgentProfile, Contact, ContactEvent, RoutingQueue
from plateaux.routing.state import CHATS_BESIDE_CALLS, STRICT, AgentState, CapacityPolicy
from plateaux.tenants.models import User
from tests.support.database import TestDatabase
from tests.support.factories import PASSWORD, TenantWorld
from tests.support.servers import LiveServer
from tests.support.settings import REDIS_URL, SECRET

API = "/api/v1"


@dataclass
class Floor:
    """Server processes on loopback that route together (one routing key prefix)."""

    servers: list[LiveServer]
    prefix: str

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def ws_url(self, index: int) -> str:
        return self.servers[index].url.replace("http://", "ws://") + f"{API}/agent/connection"

    def alive(self) -> list[int]:
        return [i for i, s in enumerate(self.servers) if s.process.poll() is None]

    def any_url(self) -> str:
        return self.servers[random.choice(self.alive())].url


@contextmanager
def routing_floor(*, test_database: TestDatabase, data_dir: Path, count: int = 3,
                  grace: float = 5.0) -> Iterator[Floor]:
    prefix = f"plateaux:test-rt:{uuid.uuid4().hex[:12]}"
    env = {"PLATEAUX_ROUTING_KEY_PREFIX": prefix,
           "PLATEAUX_ROUTING_GRACE_SECONDS": str(grace),
           "PLATEAUX_JOB_QUEUE_NAME": f"plateaux:test:{uuid.uuid4().hex}",
           # Each process keeps few pooled connections: three of them share the database.
           "PLATEAUX_DB_POOL_SIZE": "5"}
    with ExitStack() as stack:
        servers = []
        for number in range(count):
            directory = data_dir / f"server-{number}"
            directory.mkdir(parents=True, exist_ok=True)
            servers.append(stack.enter_context(LiveServer.start(
                test_database=test_database, data_dir=directory, secret_key=SECRET,
                redis_url=REDIS_URL, extra_env=env)))
        stack.callback(_forget_state, prefix)
        yield Floor(servers=servers, prefix=prefix)


def _forget_state(prefix: str) -> None:
    """The floor's routing state is its own: nothing of it outlives the test."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
    finally:
        client.close()


# --- the tenant's routing set-up (before any routing call for the tenant) ---------------------

@dataclass(frozen=True)
class Profile:
    capacity: dict[str, int]
    chats_beside_calls: bool
    queues: tuple[uuid.UUID, ...]

    @property
    def policy(self) -> CapacityPolicy:
        return CHATS_BESIDE_CALLS if self.chats_beside_calls else STRICT


async def add_queue(services: Services, world: TenantWorld, name: str,
                    **fields: Any) -> RoutingQueue:
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        queue = RoutingQueue(tenant_id=world.tenant.id, name=name, **fields)
        session.add(queue)
    return queue


async def add_profile(services: Services, world: TenantWorld, user: User,
                      profile: Profile) -> None:
    async with services.unit_of_work(tenant_id=world.tenant.id) as session:
        session.add(AgentProfile(
            tenant_id=world.tenant.id, user_id=user.id, capacity=dict(profile.capacity),
            chats_beside_calls=profile.chats_beside_calls,
            queues={str(q): {"priority": 1, "delay": 0} for q in profile.queues}))


async def sign_in(http: httpx.AsyncClient, url: str, world: TenantWorld, email: str,
                  *, address: str) -> dict[str, str]:
    """A bearer token from one server; ``address`` is the client as the load balancer
    forwards it (so many agents signing in do not share one address's sign-in limit)."""
    response = await http.post(
        f"{url}{API}/auth/token", headers={"X-Forwarded-For": address},
        json={"workspace": world.slug, "email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# --- an agent's console -------------------------------------------------------------------------

@dataclass
class Console:
    """An agent's console: one WebSocket to one server; REST calls to any server."""

    user: User
    headers: dict[str, str]
    http: httpx.AsyncClient
    floor: Floor
    server: int
    messages: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    socket: ClientConnection | None = None
    _reader: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        return str(self.user.id)

    async def connect(self, server: int | None = None) -> dict[str, Any]:
        """Open the console's connection; returns the ``connected`` message."""
        if server is not None:
            self.server = server
        self.messages = asyncio.Queue()
        self.socket = await connect(self.floor.ws_url(self.server),
                                    additional_headers=self.headers, open_timeout=20)
        self._reader = asyncio.create_task(self._read(self.socket, self.messages))
        return await self.expect("connected")

    @staticmethod
    async def _read(socket: ClientConnection, messages: asyncio.Queue[dict[str, Any]]) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in socket:
                await messages.put(json.loads(raw))
        await messages.put({"type": "closed", "payload": {}})

    async def expect(self, kind: str, *, timeout: float = 30.0,
                     where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """The next message of this type (others before it are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.messages.get()
                if message["type"] == kind and (where is None or where(message["payload"])):
                    return message
                assert message["type"] != "closed", f"connection closed waiting for {kind}"

    async def send(self, message: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(message))

    def drop(self) -> None:
        """The network goes: no closing handshake, the server just loses the socket."""
        assert self.socket is not None
        self.socket.transport.abort()

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def call(self, method: str, path: str, *, url: str | None = None,
                   json_body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.request(method, f"{url or self.floor.any_url()}{API}{path}",
                                       headers=self.headers, json=json_body)

    async def presence(self, presence: str, **fields: Any) -> dict[str, Any]:
        response = await self.call("PUT", "/me/presence",
                                   json_body={"presence": presence, **fields})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def act(self, contact_id: str, action: str) -> httpx.Response:
        """POST an action; when the answer is lost on the network, ask again: a 409 then
        means the first one took effect (for an accept: if the contact is now ours)."""
        path = f"/contacts/{contact_id}/{action}"
        try:
            return await self.call("POST", path)
        except httpx.TransportError:
            again = await self.call("POST", path)
        if again.status_code != 409:
            return again
        if action == "accept":
            now = await self.call("GET", f"/contacts/{contact_id}")
            if now.json().get("agent_id") != self.id:
                return again
        return httpx.Response(200, request=again.request, json={"retried": True})


# --- agents at work -------------------------------------------------------------------------------

@dataclass
class Ledger:
    """What the agents were answered, per contact."""

    accepts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    declines: dict[str, list[str]] = field(default_factory=dict)
    completes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    offers: int = 0
    failures: list[str] = field(default_factory=list)
    # (contact, agent) accepts refused with 409: offers withdrawn before the answer came.
    refused: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Habits:
    decline_share: float = 0.05
    wrap_up_share: float = 0.3
    handle_seconds: tuple[float, float] = (0.05, 0.6)


async def work(console: Console, ledger: Ledger, habits: Habits, rng: random.Random) -> None:
    """Answer every offer that arrives until cancelled: accept (on any server), handle a
    moment, maybe wrap up, complete; decline a few first offers."""
    handling: set[asyncio.Task[None]] = set()
    # An offer may be told again (the console connected, or its events may have been
    # lost); one in hand is not answered twice, as the console does.
    in_hand: set[str] = set()

    async def handle(contact_id: str) -> None:
        try:
            if contact_id not in ledger.declines and rng.random() < habits.decline_share:
                ledger.declines[contact_id] = [console.id]
                response = await console.act(contact_id, "decline")
                if response.status_code != 200:
                    ledger.failures.append(f"decline {contact_id}: {response.status_code}"
                                           f" {response.text}")
                return
            response = await console.act(contact_id, "accept")
            ledger.accepts.setdefault(contact_id, []).append((console.id, response.status_code))
            if response.status_code == 409:
                # Legitimate only if the offer was taken back meanwhile (the test checks
                # that against the recorded history).
                ledger.refused.append((contact_id, console.id))
                return
            if response.status_code != 200:
                ledger.failures.append(f"accept {contact_id}: {response.status_code}"
                                       f" {response.text}")
                return
            await asyncio.sleep(rng.uniform(*habits.handle_seconds))
            if rng.random() < habits.wrap_up_share:
                wrapped = await console.act(contact_id, "wrap-up")
                if wrapped.status_code != 200:
                    ledger.failures.append(f"wrap-up {contact_id}: {wrapped.status_code}")
                await asyncio.sleep(rng.uniform(0.0, habits.handle_seconds[0]))
            done = await console.act(contact_id, "complete")
            ledger.completes.setdefault(contact_id, []).append((console.id, done.status_code))
            if done.status_code != 200:
                ledger.failures.append(f"complete {contact_id}: {done.status_code} {done.text}")
        except httpx.HTTPError as error:
            ledger.failures.append(f"{contact_id}: {error!r}")
        finally:
            in_hand.discard(contact_id)

    try:
        while True:
            message = await console.messages.get()
            if message["type"] == "closed":
                return
            if message["type"] == "routing.offer":
                contact_id = message["payload"]["contact_id"]
                if contact_id in in_hand:
                    continue
                in_hand.add(contact_id)
                ledger.offers += 1
                task = asyncio.create_task(handle(contact_id))
                handling.add(task)
                task.add_done_callback(handling.discard)
    finally:
        for task in list(handling):
            task.cancel()


# --- the recorded history -------------------------------------------------------------------------

async def contact_rows(services: Services, tenant_id: uuid.UUID) -> list[Contact]:
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        return list((await session.scalars(
            select(Contact).where(Contact.tenant_id == tenant_id))).all())


async def history(services: Services, tenant_id: uuid.UUID) -> list[ContactEvent]:
    """Every recorded contact event in commit order (the state store's log order)."""
    async with services.unit_of_work(tenant_id=tenant_id) as session:
        events = list((await session.scalars(
            select(ContactEvent).where(ContactEvent.tenant_id == tenant_id)
            .order_by(col(ContactEvent.at)))).all())
    return sorted(events, key=lambda e: (log_position(e.log_id), e.at, STEPS.get(e.kind, 9)))


# Within one commit (and one instant), the order in which one contact's events happen.
STEPS = {"queued": 0, "requeued": 1, "transferred": 1, "step": 2, "declined": 3,
         "offered": 4, "assigned": 5, "wrap_up": 6}


def log_position(log_id: str) -> tuple[int, int]:
    """The state store's log order; events repeated within one entry carry a suffix."""
    millis, _, sequence = log_id.split(".")[0].partition("-")
    return int(millis), int(sequence or 0)


HOLDERS_CLEARED = frozenset({"completed", "abandoned", "cancelled", "overflowed", "requeued",
                             "transferred"})


def replay_capacity(events: list[ContactEvent], *, channels: dict[uuid.UUID, str],
                    profiles: dict[uuid.UUID, Profile]) -> list[str]:
    """Replay the history commit by commit; every agent's holdings (offers included) must
    stay within their per-channel capacity and cross-channel policy after each commit."""
    holders: dict[uuid.UUID, set[uuid.UUID]] = {}
    load: dict[uuid.UUID, dict[str, int]] = {agent: {} for agent in profiles}
    problems: list[str] = []

    def take(agent: uuid.UUID, contact: uuid.UUID) -> None:
        if agent not in holders.setdefault(contact, set()):
            holders[contact].add(agent)
            channel = channels[contact]
            load[agent][channel] = load[agent].get(channel, 0) + 1

    def give(agent: uuid.UUID, contact: uuid.UUID) -> None:
        if agent in holders.get(contact, set()):
            holders[contact].discard(agent)
            load[agent][channels[contact]] -= 1

    position = 0
    while position < len(events):
        log_id = log_position(events[position].log_id)
        touched: set[uuid.UUID] = set()
        while position < len(events) and log_position(events[position].log_id) == log_id:
            event = events[position]
            position += 1
            contact = event.contact_id
            if event.kind == "offered":
                for agent in event.details.get("agents") or [event.agent_id]:
                    take(uuid.UUID(str(agent)), contact)
                    touched.add(uuid.UUID(str(agent)))
            elif event.kind == "declined" and event.agent_id is not None:
                give(event.agent_id, contact)
            elif event.kind == "assigned" and event.agent_id is not None:
                for agent in list(holders.get(contact, set())):
                    if agent != event.agent_id:
                        give(agent, contact)
                take(event.agent_id, contact)
                touched.add(event.agent_id)
            elif event.kind in HOLDERS_CLEARED:
                for agent in list(holders.get(contact, set())):
                    give(agent, contact)
        for agent in touched:
            profile = profiles[agent]
            state = AgentState(id=str(agent), capacity=capacity_from(profile.capacity),
                               load=dict(load[agent]), policy=profile.policy)
            if not within_capacity(state):
                problems.append(f"agent {agent} holds {load[agent]} after log entry {log_id}")
    return problems
