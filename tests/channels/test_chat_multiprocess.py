"""Two server processes behind Redis: the visitor on one, the agent on the other; the
visitor's process is killed mid-conversation and the visitor resumes on the other one with
nothing lost and nothing twice."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import httpx
import pytest

from plateaux.platform.services import Services
from tests.channels.chat_world import chat_world
from tests.channels.live_chat import ChatSocket, agent_url, visitor_url
from tests.support.database import TestDatabase
from tests.support.factories import TenantFactory
from tests.support.routing_floor import Floor, routing_floor, sign_in

# Floors of server processes on Redis, timed by their own clients: they run alone, after
# the parallel test files (make test), on a machine not shared with the rest of the suite.
pytestmark = [pytest.mark.postgres_only, pytest.mark.alone]


@pytest.fixture(scope="module")
def floor(test_database: TestDatabase,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Floor]:
    with routing_floor(test_database=test_database, data_dir=tmp_path_factory.mktemp("chat"),
                       count=2) as found:
        yield found


async def test_the_visitor_resumes_on_another_process_when_theirs_is_killed(
    floor: Floor, tenants: TenantFactory, services: Services
) -> None:
    chat = await chat_world(services, tenants)
    one, two = floor.urls
    async with httpx.AsyncClient(timeout=30) as http:
        created = await http.post(f"{one}{chat.site('/conversations')}",
                                  headers=chat.visitor_headers, json={"text": "hi"})
        assert created.status_code == 201, created.text
        cid = created.json()["conversation_id"]
        admin = await sign_in(http, two, chat.world, chat.world.admin.email,
                              address="10.7.7.7")

    agent = await ChatSocket(agent_url(two, cid, 0), headers=admin).open()
    visitor = await ChatSocket(visitor_url(one, chat, cid, 0)).open()
    resumed: ChatSocket | None = None
    try:
        await visitor.until_seq(1)
        for number in range(10):
            await visitor.say(f"v-{number}", f"question {number}")
        await agent.until_seq(11)
        assert agent.seqs == list(range(1, 12))
        for number in range(3):
            await agent.say(f"a-{number}", f"answer {number}")
        await visitor.until_seq(14)

        os.kill(floor.servers[0].process.pid, signal.SIGKILL)
        floor.servers[0].process.wait(timeout=10)
        # Written while the visitor has no connection at all.
        for number in range(3, 8):
            await agent.say(f"a-{number}", f"answer {number}")
        last = visitor.seqs[-1]
        resumed = await ChatSocket(visitor_url(two, chat, cid, last)).open()
        await resumed.until_seq(19)
        assert visitor.seqs + resumed.seqs == list(range(1, 20))
        assert await resumed.say("v-10", "thanks") == 20
        await agent.until_seq(20)
        assert agent.seqs == list(range(1, 21))
    finally:
        for socket in (resumed, visitor, agent):
            if socket is not None:
                await socket.close()
