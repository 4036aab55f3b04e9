"""The routing state store: the agents and contacts every server process routes from.

Each process decides from its own in-memory snapshot and then *commits* what it changed:
a commit names the version of every record it read and changes, and the store applies it
only if none of them changed meanwhile (compare-and-set over several records at once).
So two processes can never both take the last unit of an agent's capacity, nor both
offer one contact: the second commit fails, and that process refreshes the records and
decides again.

Every commit is appended, with the events it stands for, to the tenant's log. Processes
tail the log to keep their snapshots current, and the tenant's steward (one process,
chosen by lease) records the log in the database for history and reporting.

Two implementations pass one contract: Redis (a Lua script makes the check and the
writes one atomic step; the log is a stream) and in-process for the embedded default.

The Redis store can also publish a commit's messages on the event bus's channels from
inside that same step (``publishes``): they go out exactly when the commit takes effect,
never before and never for a refused commit, and the router saves the separate round
trip it would otherwise make after every commit.
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

# A record and its version; version 0 means "does not exist".
Versioned = tuple[int, str]
# A message for the event bus: its channel and its wire form.
Publication = tuple[str, str]
LOG_LIMIT = 200_000  # entries kept per tenant; the steward records far faster than that


@dataclass(frozen=True)
class LogEntry:
    id: str
    # (key, new version, record or None when deleted)
    writes: tuple[tuple[str, int, str | None], ...]
    events: tuple[dict[str, Any], ...]


@dataclass
class Image:
    """Every record of a tenant, and the log position they are current at."""

    records: dict[str, Versioned]
    cursor: str


@dataclass
class Committed:
    log_id: str
    versions: dict[str, int] = field(default_factory=dict)


class RoutingStore(ABC):
    @abstractmethod
    async def load(self, tenant: str) -> Image | None:
        """All records, or None when the tenant's state was never initialised (or lost)."""

    @abstractmethod
    async def fetch(self, tenant: str, keys: Sequence[str]) -> dict[str, Versioned | None]:
        ...

    # True when ``commit`` can publish messages as part of the commit itself.
    publishes: bool = False

    @abstractmethod
    async def commit(self, tenant: str, expected: Mapping[str, int],
                     writes: Mapping[str, str | None],
                     events: Sequence[dict[str, Any]], *, initialise: bool = False,
                     publish: Sequence[Publication] = (),
                     ) -> Committed | None:
        """Apply ``writes`` if every key of ``expected`` is at that version; None if not.
        ``initialise`` also marks the tenant's state as initialised. ``publish`` (only
        where ``publishes``) goes out on the bus if, and once, the commit applies."""

    @abstractmethod
    async def read_log(self, cursors: Mapping[str, str], *, block: float = 0.0,
                       count: int = 1000) -> dict[str, list[LogEntry]]:
        """Entries after each tenant's cursor, waiting up to ``block`` seconds for one."""

    @abstractmethod
    async def tail_id(self, tenant: str) -> str:
        ...

    # --- leases: one holder at a time, for ``ttl`` seconds unless renewed -------------------

    @abstractmethod
    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew the lease; False when someone else holds it."""

    @abstractmethod
    async def release(self, name: str, owner: str) -> None:
        ...

    # --- small shared values (the steward's recording cursor) -----------------------------

    @abstractmethod
    async def get_value(self, name: str) -> str | None:
        ...

    @abstractmethod
    async def set_value(self, name: str, value: str) -> None:
        ...

    # --- agents' console connections --------------------------------------------------------

    @abstractmethod
    async def connection_opened(self, tenant: str, agent: str, connection: str,
                                process: str) -> None:
        ...

    @abstractmethod
    async def connection_closed(self, tenant: str, connection: str) -> None:
        ...

    @abstractmethod
    async def live_agents(self, tenant: str) -> dict[str, int]:
        """Agent id -> open connections held by live processes."""

    @abstractmethod
    async def heartbeat(self, process: str, ttl: float) -> None:
        """This process is alive for ``ttl`` seconds more (its connections count)."""

    async def close(self) -> None:
        return None


def _now_ms() -> int:
    return int(time.time() * 1000)


class MemoryStore(RoutingStore):
    """One process: the state lives in dictionaries; a condition wakes log readers."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Versioned]] = {}
        self._logs: dict[str, list[LogEntry]] = {}
        self._sequence = 0
        self._leases: dict[str, tuple[str, float]] = {}
        self._values: dict[str, str] = {}
        self._connections: dict[str, dict[str, tuple[str, str]]] = {}
        self._processes: dict[str, float] = {}
        self._changed = asyncio.Condition()

    async def load(self, tenant: str) -> Image | None:
        records = self._records.get(tenant)
        if records is None:
            return None
        return Image(dict(records), await self.tail_id(tenant))

    async def fetch(self, tenant: str, keys: Sequence[str]) -> dict[str, Versioned | None]:
        records = self._records.get(tenant, {})
        return {key: records.get(key) for key in keys}

    async def commit(self, tenant: str, expected: Mapping[str, int],
                     writes: Mapping[str, str | None],
                     events: Sequence[dict[str, Any]], *, initialise: bool = False,
                     publish: Sequence[Publication] = (),
                     ) -> Committed | None:
        if publish:
            raise ValueError("the in-process store does not publish; use the event bus")
        records = self._records.get(tenant)
        if records is None:
            if not initialise:
                return None
            records = self._records.setdefault(tenant, {})
        for key, version in expected.items():
            if records.get(key, (0, ""))[0] != version:
                return None
        done = Committed(log_id="")
        applied = []
        for key, record in writes.items():
            version = records.get(key, (0, ""))[0] + 1
            if record is None:
                records.pop(key, None)
            else:
                records[key] = (version, record)
            done.versions[key] = version
            applied.append((key, version, record))
        self._sequence += 1
        done.log_id = f"{_now_ms()}-{self._sequence}"
        self._logs.setdefault(tenant, []).append(
            LogEntry(done.log_id, tuple(applied), tuple(events)))
        log = self._logs[tenant]
        if len(log) > LOG_LIMIT:
            del log[: len(log) - LOG_LIMIT]
        async with self._changed:
            self._changed.notify_all()
        return done

    async def read_log(self, cursors: Mapping[str, str], *, block: float = 0.0,
                       count: int = 1000) -> dict[str, list[LogEntry]]:
        found = self._after(cursors, count)
        if found or block <= 0:
            return found
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait(), block)
            except TimeoutError:
                return {}
        return self._after(cursors, count)

    def _after(self, cursors: Mapping[str, str], count: int) -> dict[str, list[LogEntry]]:
        found: dict[str, list[LogEntry]] = {}
        for tenant, cursor in cursors.items():
            log = self._logs.get(tenant, [])
            after = _key(cursor)
            start = len(log)
            while start > 0 and _key(log[start - 1].id) > after:
                start -= 1
            if start < len(log):
                found[tenant] = log[start:start + count]
        return found

    async def tail_id(self, tenant: str) -> str:
        log = self._logs.get(tenant)
        return log[-1].id if log else "0-0"

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        holder = self._leases.get(name)
        now = time.monotonic()
        if holder is not None and holder[0] != owner and holder[1] > now:
            return False
        self._leases[name] = (owner, now + ttl)
        return True

    async def release(self, name: str, owner: str) -> None:
        if self._leases.get(name, ("", 0.0))[0] == owner:
            del self._leases[name]

    async def get_value(self, name: str) -> str | None:
        return self._values.get(name)

    async def set_value(self, name: str, value: str) -> None:
        self._values[name] = value

    async def connection_opened(self, tenant: str, agent: str, connection: str,
                                process: str) -> None:
        self._connections.setdefault(tenant, {})[connection] = (agent, process)

    async def connection_closed(self, tenant: str, connection: str) -> None:
        self._connections.get(tenant, {}).pop(connection, None)

    async def live_agents(self, tenant: str) -> dict[str, int]:
        now = time.monotonic()
        live: dict[str, int] = {}
        for agent, process in self._connections.get(tenant, {}).values():
            if self._processes.get(process, 0.0) > now:
                live[agent] = live.get(agent, 0) + 1
        return live

    async def heartbeat(self, process: str, ttl: float) -> None:
        self._processes[process] = time.monotonic() + ttl


def _key(log_id: str) -> tuple[int, int]:
    millis, _, sequence = log_id.partition("-")
    return int(millis), int(sequence or 0)


# Checks every expected version, then writes, bumps versions, appends one log entry and
# publishes the commit's messages, all in one step: Redis runs a script without
# interleaving other commands.
#
# ARGV: log length, initialise flag, the events (JSON), then three lists, each one string
# of NUL-separated fields: the checks (key, version), the writes (key, record; an empty
# record deletes) and the messages (channel, data). Records and messages are JSON, which
# never holds a raw NUL, and keys are checked for it; a handful of long arguments costs the
# client far less to send than one argument per field. The log entry holds the events
# under 'e' and the writes under 'w' as key, version and record, NUL-separated too.
_COMMIT = """
local function fields(list)
  local found, at = {}, 1
  if list == '' then return found end
  while true do
    local stop = string.find(list, '\\0', at, true)
    if not stop then
      found[#found + 1] = string.sub(list, at)
      return found
    end
    found[#found + 1] = string.sub(list, at, stop - 1)
    at = stop + 1
  end
end
if ARGV[2] == '0' and redis.call('EXISTS', KEYS[4]) == 0 then return {0} end
local checks = fields(ARGV[4])
for i = 1, #checks, 2 do
  local current = tonumber(redis.call('HGET', KEYS[2], checks[i]) or '0')
  if current ~= tonumber(checks[i + 1]) then return {0} end
end
local writes = fields(ARGV[5])
local parts = {}
local versions = {}
for i = 1, #writes, 2 do
  local key, record = writes[i], writes[i + 1]
  local version = redis.call('HINCRBY', KEYS[2], key, 1)
  if record == '' then
    redis.call('HDEL', KEYS[1], key)
    redis.call('HDEL', KEYS[2], key)
  else
    redis.call('HSET', KEYS[1], key, record)
  end
  parts[#parts + 1] = key
  parts[#parts + 1] = version
  parts[#parts + 1] = record
  versions[#versions + 1] = version
end
redis.call('SET', KEYS[4], '1')
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*',
                      'e', ARGV[3], 'w', table.concat(parts, '\\0'))
local messages = fields(ARGV[6])
for i = 1, #messages, 2 do
  redis.call('PUBLISH', messages[i], messages[i + 1])
end
return {1, id, versions}
"""

_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""

PREFIX = "plateaux:rt"
# Connections a process commits over; each tenant's router has one commit in flight at a
# time, so this bounds how many tenants commit at once, not how much one commits.
COMMIT_CONNECTIONS = 4


class RedisStore(RoutingStore):
    """Shared by every server process; the tenant id is in every key."""

    def __init__(self, url: str, *, prefix: str = PREFIX) -> None:
        self.prefix = prefix
        self._redis: Redis = Redis.from_url(url, decode_responses=True)
        # Commits go over connections of their own, a tenant always on the same one: a
        # connection taken from the pool is first probed for stray data (a system call),
        # which cost a busy router more than the rest of sending the commit.
        self._committers = [Redis.from_url(url, decode_responses=True,
                                           single_connection_client=True)
                            for _ in range(COMMIT_CONNECTIONS)]
        self._commit = self._redis.register_script(_COMMIT)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)

    def _keys(self, tenant: str) -> list[str]:
        base = f"{self.prefix}:{{{tenant}}}"
        return [f"{base}:data", f"{base}:versions", f"{base}:log", f"{base}:ready"]

    async def load(self, tenant: str) -> Image | None:
        data_key, versions_key, log_key, ready_key = self._keys(tenant)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.exists(ready_key)
            pipe.hgetall(data_key)
            pipe.hgetall(versions_key)
            pipe.xrevrange(log_key, count=1)
            ready, data, versions, last = await pipe.execute()
        if not ready:
            return None
        records = {key: (int(versions.get(key, 0)), value) for key, value in data.items()}
        return Image(records, last[0][0] if last else "0-0")

    async def fetch(self, tenant: str, keys: Sequence[str]) -> dict[str, Versioned | None]:
        if not keys:
            return {}
        data_key, versions_key, _, _ = self._keys(tenant)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hmget(data_key, list(keys))
            pipe.hmget(versions_key, list(keys))
            values, versions = await pipe.execute()
        return {key: None if value is None else (int(version or 0), value)
                for key, value, version in zip(keys, values, versions, strict=True)}

    publishes = True

    async def commit(self, tenant: str, expected: Mapping[str, int],
                     writes: Mapping[str, str | None],
                     events: Sequence[dict[str, Any]], *, initialise: bool = False,
                     publish: Sequence[Publication] = (),
                     ) -> Committed | None:
        fields: list[str] = []
        for key, record in writes.items():
            if "\0" in key:
                raise ValueError("a record key cannot hold a NUL character")
            fields += (key, "" if record is None else record)
        args: list[str | int] = [LOG_LIMIT, "1" if initialise else "0",
                orjson.dumps(list(events), option=orjson.OPT_NON_STR_KEYS).decode(),
                "\0".join(f"{key}\0{version}" for key, version in expected.items()),
                "\0".join(fields),
                "\0".join(f"{channel}\0{data}" for channel, data in publish)]
        committer = self._committers[hash(tenant) % COMMIT_CONNECTIONS]
        result = await self._commit(keys=self._keys(tenant), args=args, client=committer)
        if not result or int(result[0]) != 1:
            return None
        versions = [int(v) for v in result[2]]
        return Committed(log_id=str(result[1]), versions=dict(zip(writes, versions, strict=True)))

    async def read_log(self, cursors: Mapping[str, str], *, block: float = 0.0,
                       count: int = 1000) -> dict[str, list[LogEntry]]:
        if not cursors:
            if block > 0:
                await asyncio.sleep(block)
            return {}
        streams = {self._keys(tenant)[2]: cursor for tenant, cursor in cursors.items()}
        tenants = {self._keys(tenant)[2]: tenant for tenant in cursors}
        reply = await self._redis.xread(streams, count=count,  # type: ignore[arg-type]
                                        block=int(block * 1000) if block > 0 else None)
        found: dict[str, list[LogEntry]] = {}
        for stream, entries in reply or []:
            found[tenants[stream]] = [_entry(entry_id, fields) for entry_id, fields in entries]
        return found

    async def tail_id(self, tenant: str) -> str:
        last = await self._redis.xrevrange(self._keys(tenant)[2], count=1)
        return str(last[0][0]) if last else "0-0"

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        done = await self._renew(keys=[f"{self.prefix}:lease:{name}"],
                                 args=[owner, int(ttl * 1000)])
        return bool(done)

    async def release(self, name: str, owner: str) -> None:
        await self._release(keys=[f"{self.prefix}:lease:{name}"], args=[owner])

    async def get_value(self, name: str) -> str | None:
        value = await self._redis.get(f"{self.prefix}:value:{name}")
        return None if value is None else str(value)

    async def set_value(self, name: str, value: str) -> None:
        await self._redis.set(f"{self.prefix}:value:{name}", value)

    async def connection_opened(self, tenant: str, agent: str, connection: str,
                                process: str) -> None:
        await self._redis.hset(  # type: ignore[misc]
            f"{self.prefix}:{{{tenant}}}:connections", connection,
            json.dumps([agent, process]))

    async def connection_closed(self, tenant: str, connection: str) -> None:
        await self._redis.hdel(  # type: ignore[misc]
            f"{self.prefix}:{{{tenant}}}:connections", connection)

    async def live_agents(self, tenant: str) -> dict[str, int]:
        held = await self._redis.hgetall(  # type: ignore[misc]
            f"{self.prefix}:{{{tenant}}}:connections")
        owners = [json.loads(value) for value in held.values()]
        processes = sorted({process for _, process in owners})
        alive: dict[str, bool] = {}
        if processes:
            flags = await self._redis.mget([f"{self.prefix}:process:{p}" for p in processes])
            alive = {p: flag is not None for p, flag in zip(processes, flags, strict=True)}
        live: dict[str, int] = {}
        for agent, process in owners:
            if alive.get(process):
                live[agent] = live.get(agent, 0) + 1
        return live

    async def heartbeat(self, process: str, ttl: float) -> None:
        await self._redis.set(f"{self.prefix}:process:{process}", "1", px=int(ttl * 1000))

    async def close(self) -> None:
        for committer in self._committers:
            await committer.aclose()
        await self._redis.aclose()


def _entry(entry_id: str, fields: Mapping[str, str]) -> LogEntry:
    if "d" in fields:
        return _legacy_entry(entry_id, fields["d"])
    events = orjson.loads(fields.get("e") or "[]")
    parts = fields["w"].split("\0") if fields.get("w") else []
    writes = tuple((parts[i], int(parts[i + 1]), parts[i + 2] or None)
                   for i in range(0, len(parts) - 2, 3))
    return LogEntry(entry_id, writes, tuple(events) if isinstance(events, list) else ())


def _legacy_entry(entry_id: str, raw: str) -> LogEntry:
    """An entry written before writes and events had fields of their own (one JSON
    document), still in the log of a store that was running during an upgrade."""
    data = json.loads(raw)
    writes = tuple((key, int(version), None if record is False else record)
                   for key, version, record in (data.get("w") or []))
    events = data.get("e") or []
    return LogEntry(entry_id, writes, tuple(events) if isinstance(events, list) else ())


def create_store(redis_url: str | None, *, prefix: str = PREFIX) -> RoutingStore:
    return RedisStore(redis_url, prefix=prefix) if redis_url else MemoryStore()
