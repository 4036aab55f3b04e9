"""Chat benchmark: end-to-end latency of a message from a visitor's WebSocket to the agent's,
through 1 and 2 server processes behind Redis, beside a bare WebSocket relay measured in the
same run on the same machine.

``--conversations`` concurrent conversations (1,000 by default): each has a visitor socket
and an agent socket (with 2 processes, the visitor on one and the agent on the other, the
pairs alternating so both processes carry both sides). Each visitor sends ``--rounds``
messages (2), the first at a random moment of the first ``--interval`` seconds (15) and
then one every ``--interval`` seconds, so the floor sends a steady conversations/interval
messages a second (about 67). The latency is from the visitor's send to the
agent receiving the message frame: the platform checks the sender, stores the message with
its sequence number, commits, publishes it and forwards it (through Redis to the other
process with 2; with 1, the process's own subscribers get it without the trip through
Redis, which it is still published to). The visitor's ack (stored, committed and
published) is timed too.

Warm-up, declared and reported apart (``warm_up``): the conversations are created, the
database's statistics taken (ANALYZE, as autovacuum keeps them on a live database), then
every socket opens, then ``--settle`` seconds (3) pass before the first message, for relay
and platform alike; the latencies are of the steady state that follows, with 1,000
conversations open. ``windows`` gives them per 5 seconds of the sending, so a slow start
or a stall shows where it happened. ``server_cpu_ms_per_message`` is the CPU time the
server processes used while the messages flowed, per message.

The agent side is a supervisor watching the conversation (the agents' audience, the frames
an assigned agent gets): routing 1,000 chats to agents is bench/routing.py's business.

The relay is the floor without the platform: the same uvicorn/websockets stack, a visitor
socket and an agent socket per conversation, a message forwarded as it comes: in memory with
one process; with two, through Redis pub/sub on one listening connection per process (as the
platform's event bus does), the visitor and agent on different processes. Target: the
platform's p99 at most 3 times the relay's.

The durable relay (``durable_relay``, on PostgreSQL) is that relay committing one row per
message (one INSERT from an asyncpg pool, in a database of its own) before forwarding it:
the least any design that stores a message before delivering it can do, on this machine
in this run. ``durable_relay_p99_ratio`` is its p99 over the bare relay's.

``commit_floor`` is what the platform cannot go below on this machine at that moment: the
database's own durable commit, one INSERT committed per round trip from asyncpg at the
same pace as the messages (the relay writes nothing; the platform commits every message
before it is acknowledged or delivered), measured in the same run on the same database.
``store_floor`` is the platform's own statement alone: the call that numbers, stores and
commits a message (``channels/chat/writer.py``), from a bare connection as the application's
role, at the same pace, on the run's conversations. Between the two is the cost of the
statement itself (the conversation's row, the message's indexes and keys, the tenant's
binding); between it and the platform's latency is the platform's own path in Python.

Needs Redis (``PLATEAUX_BENCH_REDIS_URL``, default redis://127.0.0.1:6379/0) and PostgreSQL
on 127.0.0.1:5432 (a temporary database, migrated by the real migrations, dropped at the
end); without PostgreSQL only the 1-process run is made, on SQLite. Every key and channel
it uses in Redis carries a prefix of its own. Also prints the gzip size of the embed loader
and widget. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import gzip
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, its own folder comes first on the path, where a benchmark's name
# (bench/email.py) would shadow the standard library module of the same name.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

REDIS_URL = os.environ.get("PLATEAUX_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:10]
# How many sockets are being opened (and conversations created) at once.
OPENING = 50
CREATING = 20
# The latencies are also given per window of this many seconds of the sending.
WINDOW = 5.0

Pair = tuple[str, str, dict[str, str]]


def note(text: str) -> None:
    print(f"[chat bench] {text}", file=sys.stderr, flush=True)


# --- the bare relay (run as a subprocess: ``chat.py --relay PORT``) -----------------------

def relay_app(redis_url: str | None, prefix: str, commit_dsn: str | None = None) -> Any:
    import asyncpg
    from redis.asyncio import Redis
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    agents: dict[str, WebSocket] = {}
    redis = Redis.from_url(redis_url) if redis_url else None
    listener: dict[str, Any] = {}
    subscribing = asyncio.Lock()
    pools: list[asyncpg.Pool] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        if commit_dsn is not None:
            # No reset query on release, as the platform's message path has none.
            pools.append(await asyncpg.create_pool(commit_dsn, min_size=2, max_size=10,
                                                   reset=_no_reset))
        yield
        for pool in pools:
            await pool.close()

    async def commit(cid: str, text: str) -> None:
        # The durable relay: one row committed per message before it goes on.
        async with pools[0].acquire() as connection:
            await connection.execute(
                "INSERT INTO relay_messages (conversation, body) VALUES ($1, $2)", cid, text)

    async def fan_out() -> None:
        # One listening connection for the process, as the platform's bus has.
        assert redis is not None
        pubsub = listener["pubsub"]
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            cid = message["channel"].decode().rsplit(":", 1)[1]
            agent = agents.get(cid)
            if agent is not None:
                with contextlib.suppress(Exception):
                    await agent.send_text(message["data"].decode())

    async def visitor(ws: WebSocket) -> None:
        await ws.accept()
        cid = ws.path_params["cid"]
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                text = await ws.receive_text()
                if commit_dsn is not None:
                    await commit(cid, text)
                if redis is not None:
                    await redis.publish(f"{prefix}:{cid}", text)
                elif cid in agents:
                    await agents[cid].send_text(text)

    async def agent(ws: WebSocket) -> None:
        await ws.accept()
        cid = ws.path_params["cid"]
        agents[cid] = ws
        try:
            if redis is not None:
                # One command at a time on the listening connection, as the bus does.
                async with subscribing:
                    if "pubsub" not in listener:
                        listener["pubsub"] = redis.pubsub()
                        await listener["pubsub"].subscribe(f"{prefix}:{cid}")
                        listener["task"] = asyncio.create_task(fan_out())
                    else:
                        await listener["pubsub"].subscribe(f"{prefix}:{cid}")
            await ws.send_text("ready")
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await ws.receive_text()
        finally:
            agents.pop(cid, None)

    return Starlette(routes=[WebSocketRoute("/v/{cid}", visitor),
                             WebSocketRoute("/a/{cid}", agent)], lifespan=lifespan)


async def _no_reset(connection: Any) -> None:
    """The durable relay's connections keep no state between uses: nothing to reset."""


def run_relay(port: int, redis_url: str | None, prefix: str, commit_dsn: str | None) -> None:
    import uvicorn

    # The platform's own server settings (platform/cli.py), so only the application differs.
    uvicorn.run(relay_app(redis_url, prefix, commit_dsn), host="127.0.0.1", port=port,
                log_level="warning", access_log=False, ws="websockets")


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the relay on port {port} exited ({process.returncode})")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the relay on port {port} is not listening")


@contextlib.contextmanager
def relay_servers(count: int, commit_dsn: str | None = None
                  ) -> Iterator[tuple[list[str], list[int]]]:
    from tests.support.servers import free_port

    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(count):
            port = free_port()
            args = [sys.executable, __file__, "--relay", str(port),
                    "--relay-prefix", f"plateaux:bench-relay:{RUN_ID}"]
            if count > 1:
                args += ["--relay-redis", REDIS_URL]
            if commit_dsn is not None:
                args += ["--relay-commit", commit_dsn]
            processes.append(subprocess.Popen(args))
            wait_listening(port, processes[-1])
            urls.append(f"ws://127.0.0.1:{port}")
        yield urls, [process.pid for process in processes]
    finally:
        for process in processes:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        # uvicorn waits for the sockets still open; nothing of them is kept.
        process.kill()
        process.wait(timeout=10)


# --- the load -------------------------------------------------------------------------------

def percentiles(values: list[float]) -> dict[str, float | int]:
    if len(values) < 2:
        return {"count": len(values)}
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"count": len(ordered), "p50_ms": round(q[49] * 1000, 2),
            "p99_ms": round(q[98] * 1000, 2), "max_ms": round(ordered[-1] * 1000, 2)}


def cpu_seconds(pids: list[int]) -> float | None:
    """User and system CPU time the server processes used so far (Linux)."""
    total = 0.0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return total


async def drive(pairs: list[Pair], *, rounds: int, interval: float, settle: float,
                platform: bool, pids: list[int]) -> dict[str, Any]:
    """Open every pair (visitor url, agent url, agent headers), then send and time."""
    from websockets.asyncio.client import connect

    sent: dict[str, float] = {}
    acked: dict[str, float] = {}
    latencies: list[float] = []
    timeline: list[tuple[float, float]] = []
    acks: list[float] = []
    errors: list[str] = []
    done = asyncio.Event()
    expected = len(pairs) * rounds
    sockets: list[Any] = []
    readers: list[asyncio.Task[None]] = []

    def delivered(key: str | None, now: float) -> None:
        start = sent.pop(key, None) if key else None
        if start is not None:
            latencies.append(now - start)
            timeline.append((start, now - start))
            if len(latencies) >= expected:
                done.set()

    async def read_agent(agent: Any) -> None:
        with contextlib.suppress(Exception):
            async for raw in agent:
                now = time.perf_counter()
                if not platform:
                    delivered(raw, now)
                    continue
                frame = json.loads(raw)
                if frame.get("type") == "message" and frame.get("author_type") == "visitor":
                    delivered(frame.get("client_id"), now)

    async def read_visitor(visitor: Any) -> None:
        with contextlib.suppress(Exception):
            async for raw in visitor:
                now = time.perf_counter()
                frame = json.loads(raw)
                if frame.get("type") == "ack":
                    start = acked.pop(frame.get("client_id"), None)
                    if start is not None:
                        acks.append(now - start)
                elif frame.get("type") == "error" and len(errors) < 20:
                    errors.append(f"{frame.get('status')} {frame.get('detail')}")

    # As browsers do, the clients send no protocol pings of their own (browsers never
    # do; the servers still ping every socket).
    options: dict[str, Any] = {"open_timeout": 60, "max_queue": 1024, "ping_interval": None}

    async def open_pair(visitor_url: str, agent_url: str, headers: dict[str, str]) -> Any:
        agent = await connect(agent_url, additional_headers=headers, **options)
        sockets.append(agent)
        # The first frame says the agent's side is live: the relay's "ready" once it
        # subscribed, the platform's status once it subscribed and caught up.
        await agent.recv()
        readers.append(asyncio.create_task(read_agent(agent)))
        visitor = await connect(visitor_url, **options)
        sockets.append(visitor)
        if platform:
            await visitor.recv()  # its status frame: subscribed and caught up too
            readers.append(asyncio.create_task(read_visitor(visitor)))
        return visitor

    gate = asyncio.Semaphore(OPENING)

    async def opened(pair: Pair) -> Any:
        async with gate:
            return await open_pair(*pair)

    try:
        began = time.perf_counter()
        visitors = await asyncio.gather(*(opened(p) for p in pairs))
        opening = time.perf_counter() - began
        note(f"  {len(sockets)} sockets open in {opening:.1f}s")
        # The load generator's own sockets stay open to the end: kept out of its cyclic
        # collector's full passes, which would otherwise stall it (and every latency it
        # measures, relay's or platform's) for a good part of a second at random.
        gc.collect()
        gc.freeze()
        # The declared warm-up: the last sockets' opening settles before the first message.
        await asyncio.sleep(settle)

        async def talk(index: int, visitor: Any) -> None:
            # Each visitor at its own phase, then once an interval: the floor's rate is
            # steady (conversations/interval a second) for rounds * interval seconds.
            rng = random.Random(index)
            phase = started + rng.uniform(0, interval)
            for number in range(rounds):
                await asyncio.sleep(max(0.0, phase + number * interval - time.perf_counter()))
                key = f"c{index}-{number}-{uuid.uuid4().hex[:6]}"
                sent[key] = acked[key] = time.perf_counter()
                if platform:
                    await visitor.send(json.dumps({"type": "message", "client_id": key,
                                                   "text": f"message {number}"}))
                else:
                    await visitor.send(key)

        started = time.perf_counter()
        cpu_before = cpu_seconds(pids)
        await asyncio.gather(*(talk(i, v) for i, v in enumerate(visitors)))
        sending = time.perf_counter() - started
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                await done.wait()
        cpu_after = cpu_seconds(pids)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
        gc.unfreeze()
    result: dict[str, Any] = {**percentiles(latencies), "lost": len(sent),
                              "offered_per_second": round(len(pairs) / interval, 1),
                              "sent_per_second": round(expected / sending, 1)}
    if cpu_before is not None and cpu_after is not None and latencies:
        # What the servers spent per message delivered while the messages flowed.
        result["server_cpu_ms_per_message"] = round(
            (cpu_after - cpu_before) * 1000 / len(latencies), 2)
    # Where in the run the slow ones were: by when the message was sent.
    windows: dict[int, list[float]] = {}
    for start, latency in timeline:
        windows.setdefault(int((start - started) // WINDOW), []).append(latency)
    result["windows"] = [{"from_s": k * WINDOW, **percentiles(v)}
                         for k, v in sorted(windows.items())]
    result["warm_up"] = {"sockets_open_seconds": round(opening, 1),
                         "settle_seconds": settle}
    if platform:
        result["ack"] = percentiles(acks)
        if errors:
            result["errors"] = errors
    return result


# --- the platform ---------------------------------------------------------------------------

def postgresql_available() -> bool:
    from tests.support.database import psql

    try:
        psql("SELECT 1")
    except (RuntimeError, OSError, subprocess.SubprocessError):
        return False
    return True


@contextlib.contextmanager
def bench_database(backend: str, tmp: Path) -> Iterator[Any]:
    """A database of its own, migrated by the real migrations, dropped at the end."""
    from tests.support.database import create_test_database

    # The test helper names PostgreSQL databases after the test worker: this one's own.
    previous = os.environ.get("PYTEST_XDIST_WORKER")
    os.environ["PYTEST_XDIST_WORKER"] = f"chatbench_{RUN_ID}"
    try:
        database = create_test_database(backend, tmp)
    finally:
        if previous is None:
            os.environ.pop("PYTEST_XDIST_WORKER", None)
        else:
            os.environ["PYTEST_XDIST_WORKER"] = previous
    try:
        yield database
    finally:
        database.drop()


async def platform_pairs(urls: list[str], conversations: int, chat: Any,
                         services: Any) -> list[Pair]:
    import httpx

    from tests.channels.chat_world import add_visitor
    from tests.support.routing_floor import sign_in

    def ws(url: str) -> str:
        return url.replace("http://", "ws://")

    async with httpx.AsyncClient(timeout=60) as http:
        admins = [await sign_in(http, url, chat.world, chat.world.admin.email,
                                address=f"10.200.0.{i + 1}") for i, url in enumerate(urls)]

        async def one(index: int) -> Pair:
            home = urls[index % len(urls)]
            agent_side = (index + 1) % len(urls)
            _, token = await add_visitor(services, chat.widget)
            created = await http.post(
                f"{home}/embed/v1/sites/{chat.key}/conversations",
                headers={"X-Visitor-Token": token,
                         "X-Forwarded-For": f"10.{index // 250 % 250}.{index % 250}.9"},
                json={})
            if created.status_code != 201:
                raise RuntimeError(f"conversation {index}: {created.status_code} "
                                   f"{created.text[:300]}")
            cid = created.json()["conversation_id"]
            return (f"{ws(home)}/embed/v1/sites/{chat.key}/conversations/{cid}/ws"
                    f"?visitor_token={token}",
                    f"{ws(urls[agent_side])}/api/v1/conversations/{cid}/ws",
                    admins[agent_side])

        # One conversation per process first, alone: a process's first request for a
        # tenant loads its router, which the others then share.
        first = [await one(i) for i in range(min(len(urls), conversations))]
        gate = asyncio.Semaphore(CREATING)

        async def gated(index: int) -> Pair:
            async with gate:
                return await one(index)

        rest = await asyncio.gather(*(gated(i) for i in range(len(first), conversations)))
        return first + list(rest)


async def commit_floor(database: Any, *, count: int, pace: float) -> dict[str, Any]:
    """One row inserted and committed per round trip, ``pace`` seconds apart: the disk's
    and the database's share of every message's latency."""
    import asyncpg

    url = database.owner_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    latencies: list[float] = []
    try:
        await connection.execute("CREATE TABLE bench_commit_floor (id bigserial PRIMARY KEY, "
                                 "body text NOT NULL)")
        for _ in range(count):
            began = time.perf_counter()
            await connection.execute("INSERT INTO bench_commit_floor (body) VALUES ('x')")
            latencies.append(time.perf_counter() - began)
            await asyncio.sleep(pace)
        await connection.execute("DROP TABLE bench_commit_floor")
    finally:
        await connection.close()
    return percentiles(latencies)


async def store_floor(database: Any, tenant_id: Any, conversation_ids: list[uuid.UUID], *,
                      pace: float) -> dict[str, Any]:
    """The platform's message store (one call of its statement, committed) per round trip,
    ``pace`` seconds apart, one message on each conversation in turn."""
    import asyncpg

    from plateaux.channels.chat.writer import STORE
    from plateaux.platform.types import utcnow

    url = database.app_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    latencies: list[float] = []
    try:
        for index, conversation_id in enumerate(conversation_ids):
            began = time.perf_counter()
            seq = await connection.fetchval(
                STORE, tenant_id, conversation_id, None, None, uuid.uuid4(), "message",
                "agent", None, "Floor", "a reply", "a reply", f"floor-{RUN_ID}-{index}", "[]",
                utcnow())
            latencies.append(time.perf_counter() - began)
            if seq is None:
                raise RuntimeError(f"conversation {conversation_id}: the store refused")
            await asyncio.sleep(pace)
    finally:
        await connection.close()
    return percentiles(latencies)


def conversation_of(pair: Pair) -> uuid.UUID:
    """The conversation a pair's visitor URL names (.../conversations/<id>/ws?...)."""
    return uuid.UUID(pair[0].split("/conversations/", 1)[1].split("/", 1)[0])


def log_tails(directory: Path, lines: int = 40) -> None:
    for log in sorted(directory.rglob("server-*.log")):
        text = log.read_text(errors="replace").splitlines()
        errors = [line for line in text if '"level": "ERROR"' in line or
                  '"level": "CRITICAL"' in line]
        note(f"--- {len(errors)} errors in {log.name}, the first 10")
        for line in errors[:10]:
            print(line[:3000], file=sys.stderr)
        note(f"--- last {lines} lines of {log.name}")
        for line in text[-lines:]:
            print(line[:600], file=sys.stderr)


async def bench_platform(processes: int, args: argparse.Namespace,
                         backend: str) -> dict[str, Any]:
    from plateaux.platform.app import build_services
    from tests.channels.chat_world import chat_world
    from tests.support.factories import TenantFactory
    from tests.support.routing_floor import routing_floor
    from tests.support.settings import make_settings

    with tempfile.TemporaryDirectory(prefix="plateaux-chat-bench-") as tmp:
        # Migrations drive their own event loop: from a thread.
        database_cm = bench_database(backend, Path(tmp))
        database = await asyncio.to_thread(database_cm.__enter__)
        try:
            with routing_floor(test_database=database, data_dir=Path(tmp) / "floor",
                               count=processes) as floor:
                try:
                    settings = make_settings(
                        database, Path(tmp) / "bench", redis_url=REDIS_URL,
                        routing_key_prefix=floor.prefix,
                        job_queue_name=f"plateaux:bench-jobs:{RUN_ID}")
                    services = build_services(settings)
                    await services.bus.start()
                    try:
                        chat = await chat_world(services, TenantFactory(services))
                        began = time.perf_counter()
                        pairs = await platform_pairs(floor.urls, args.conversations, chat,
                                                     services)
                        created = time.perf_counter() - began
                        note(f"  {len(pairs)} conversations created in {created:.1f}s")
                        if backend == "postgresql":
                            # Statistics, as autovacuum keeps them on a live database (and
                            # as pgbench takes them after loading): without them the
                            # planner may read a tenant's every conversation to find one.
                            await asyncio.to_thread(database.superuser_sql, "ANALYZE")
                        result = await drive(pairs, rounds=args.rounds,
                                             interval=args.interval, settle=args.settle,
                                             platform=True,
                                             pids=[s.process.pid for s in floor.servers])
                        result["warm_up"]["conversations_created_seconds"] = round(
                            created, 1)
                        if backend == "postgresql":
                            pace = args.interval / args.conversations
                            result["commit_floor"] = await commit_floor(
                                database, count=args.conversations, pace=pace)
                            result["store_floor"] = await store_floor(
                                database, chat.world.tenant.id,
                                [conversation_of(pair) for pair in pairs], pace=pace)
                        return result
                    finally:
                        await services.bus.close()
                        await services.db.dispose()
                except BaseException:
                    log_tails(Path(tmp) / "floor")
                    raise
        finally:
            await asyncio.to_thread(database_cm.__exit__, None, None, None)


@contextlib.contextmanager
def relay_database() -> Iterator[str]:
    """A database of its own for the durable relay: one table, dropped at the end."""
    from tests.support.database import PG_HOST, PG_PORT, psql

    name = f"plateaux_chatbench_relay_{RUN_ID}"
    psql(f'CREATE DATABASE "{name}"')
    try:
        psql("CREATE TABLE relay_messages (id bigserial PRIMARY KEY, "
             "conversation text NOT NULL, body text NOT NULL)", database=name)
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def bench_relay(processes: int, args: argparse.Namespace,
                      commit_dsn: str | None = None) -> dict[str, Any]:
    with relay_servers(processes, commit_dsn) as (urls, pids):
        pairs: list[Pair] = [(f"{urls[i % processes]}/v/{i}",
                              f"{urls[(i + 1) % processes]}/a/{i}", {})
                             for i in range(args.conversations)]
        return await drive(pairs, rounds=args.rounds, interval=args.interval,
                           settle=args.settle, platform=False, pids=pids)


def widget_weight() -> dict[str, int | None]:
    """What a page downloads: the loader on every page, the rest once the widget opens."""
    static = ROOT / "embed" / "static"
    sizes: dict[str, int | None] = {}
    total = 0
    for name in ("loader.js", "widget.js", "widget.css"):
        path = static / name
        size = len(gzip.compress(path.read_bytes(), compresslevel=9)) if path.exists() else None
        sizes[f"{name}_gzip_bytes"] = size
        total += size or 0
    sizes["widget_total_gzip_bytes"] = total or None
    return sizes


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_average_1_5_15": [round(x, 2) for x in load]}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    backend = "postgresql" if postgresql_available() else "sqlite"
    wanted = list(args.processes)
    if backend == "sqlite" and wanted != [1]:
        note("PostgreSQL is not reachable: only the 1-process run, on SQLite")
        wanted = [1]
    result: dict[str, Any] = {
        "conversations": args.conversations, "rounds": args.rounds,
        "interval_seconds": args.interval, "settle_seconds": args.settle,
        "database": backend,
        "machine_before": machine(), "weight": widget_weight(), "runs": {}}
    for processes in wanted:
        note(f"{processes} process(es): bare relay, {args.conversations} conversations")
        relay = await bench_relay(processes, args)
        durable: dict[str, Any] | None = None
        if backend == "postgresql":
            note(f"{processes} process(es): durable relay")
            with relay_database() as dsn:
                durable = await bench_relay(processes, args, dsn)
        note(f"{processes} process(es): platform")
        platform = await bench_platform(processes, args, backend)
        ratio = _ratio(platform, relay)
        result["runs"][f"{processes}_process"] = {
            "relay": relay, "durable_relay": durable, "platform": platform,
            "p99_ratio": ratio, "durable_relay_p99_ratio": _ratio(durable, relay),
            "target_met": None if ratio is None else ratio <= 3.0}
    result["machine_after"] = machine()
    return result


def _ratio(run: dict[str, Any] | None, relay: dict[str, Any]) -> float | None:
    if not run or not run.get("p99_ms") or not relay.get("p99_ms"):
        return None
    return round(run["p99_ms"] / relay["p99_ms"], 2)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2,
                        help="messages each visitor sends")
    parser.add_argument("--interval", type=float, default=15.0,
                        help="seconds between one visitor's messages")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds between the last socket opening and the first message")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    parser.add_argument("--relay", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--relay-redis", help=argparse.SUPPRESS)
    parser.add_argument("--relay-prefix", default="plateaux:bench-relay", help=argparse.SUPPRESS)
    parser.add_argument("--relay-commit", help=argparse.SUPPRESS)
    return parser.parse_args()


def _terminate_on_sigterm() -> None:
    # A SIGTERM becomes an exception, so every server started is stopped on the way out.
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    arguments = parse()
    if arguments.relay:
        run_relay(arguments.relay, arguments.relay_redis, arguments.relay_prefix,
                  arguments.relay_commit)
    else:
        _terminate_on_sigterm()
        print(json.dumps(asyncio.run(main(arguments)), indent=2))
