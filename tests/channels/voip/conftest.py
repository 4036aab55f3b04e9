"""One voice platform for the voice tests: Janus, coturn and the platform with its switch,
started once per test session on loopback; the telephone network's side is a sipp phone
each test starts on the trunk's port."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.support.browser import CHROMIUM, FLAGS, MEDIA_FLAGS
from tests.support.database import TestDatabase
from tests.support.servers import LiveServer, free_port
from tests.support.settings import SECRET
from tests.support.voice_servers import Turn, coturn, janus, port_range


@dataclass
class VoicePlatform:
    server: LiveServer
    sip_port: int
    trunk_port: int
    turn: Turn
    folder: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def switch(self) -> str:
        return f"127.0.0.1:{self.sip_port}"


@pytest.fixture(scope="session")
def voice_platform(test_database: TestDatabase,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoicePlatform]:
    folder = tmp_path_factory.mktemp("voice")
    with janus(folder / "janus") as gateway, coturn(folder / "turn") as turn:
        sip_port, trunk_port = free_port(), free_port()
        rtp = port_range(1000)
        env = {
            "PLATEAUX_SIP_PORT": str(sip_port),
            "PLATEAUX_SIP_HOST": "127.0.0.1",
            "PLATEAUX_SIP_RTP_PORT": str(rtp),
            "PLATEAUX_SIP_RTP_PORT_RANGE": "998",
            "PLATEAUX_SIP_TRUNK": f"127.0.0.1:{trunk_port}",
            "PLATEAUX_SIP_ALLOW_PRIVATE": "true",
            "PLATEAUX_JANUS_URL": gateway.url,
            "PLATEAUX_TURN_URLS": json.dumps([turn.url]),
            "PLATEAUX_TURN_SECRET": turn.secret,
            "PLATEAUX_STUN_URLS": json.dumps([turn.url.replace("turn:", "stun:").split("?")[0]]),
        }
        data = folder / "platform"
        data.mkdir()
        with LiveServer.start(test_database=test_database, data_dir=data, secret_key=SECRET,
                              extra_env=env, media=True) as server:
            yield VoicePlatform(server=server, sip_port=sip_port, trunk_port=trunk_port,
                                turn=turn, folder=folder)


@asynccontextmanager
async def call_browser() -> AsyncIterator[Browser]:
    """Chromium with fake microphone and camera, allowed to use loopback for media."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=[*FLAGS, *MEDIA_FLAGS, "--allow-loopback-in-peer-connection",
                  "--autoplay-policy=no-user-gesture-required"])
        try:
            yield browser
        finally:
            await browser.close()
