"""The platform as a real server process on a loopback port."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.database import TestDatabase


def own_address() -> dict[str, str]:
    """Headers giving this test a client address of its own on a shared live server, whose
    per-address limits (sign-in: 30 in 5 minutes) would otherwise add up across tests. The
    server believes X-Forwarded-For from loopback, as behind its own proxy."""
    return {"X-Forwarded-For": loopback_address()}


def loopback_address() -> str:
    """A random address of the loopback network, standing for one client."""
    return f"127.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def media_priority() -> None:
    """Run in a media process before it starts. Audio goes every 20 ms and DTMF events
    must arrive whole; with the suite's test files running in parallel on few cores, a
    starved telephone or switch drops what a real one would carry (as media servers get
    priority in production). Without the right to raise it, the process runs as it is."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, -10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    @contextmanager
    def start(
        cls,
        *,
        test_database: TestDatabase,
        data_dir: Path,
        secret_key: str,
        redis_url: str | None = None,
        extra_env: dict[str, str] | None = None,
        media: bool = False,
    ) -> Iterator[LiveServer]:
        """``media``: the server carries real-time audio (its voice switch), so it runs
        ahead of the suite's other processes (:func:`media_priority`)."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "PLATEAUX_ENVIRONMENT": "test",
            "PLATEAUX_DATABASE_URL": test_database.app_url,
            "PLATEAUX_MIGRATION_DATABASE_URL": test_database.owner_url,
            "PLATEAUX_SECRET_KEY": secret_key,
            "PLATEAUX_DATA_DIR": str(data_dir),
            "PLATEAUX_BASE_URL": url,
            "PLATEAUX_ALLOW_PRIVATE_SSO_ISSUERS": "true",
            "PLATEAUX_LOG_JSON": "true",
            **({"PLATEAUX_REDIS_URL": redis_url} if redis_url else {}),
            **(extra_env or {}),
        }
        log_path = data_dir / f"server-{port}.log"
        log = log_path.open("wb")
        worker = (
            subprocess.Popen([sys.executable, "-m", "plateaux.platform.cli", "worker"], env=env,
                             stdout=log, stderr=subprocess.STDOUT)
            if redis_url else None
        )
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "plateaux.platform.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=media_priority if media else None,
        )
        server = cls(url=url, process=process, log_path=log_path)
        try:
            server.wait_ready()
            yield server
        finally:
            # Both asked to stop first, then each waited for (and killed if it hangs): a
            # worker that does not stop must never leave the server running.
            children = [p for p in (worker, process) if p is not None]
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            log.close()

    # A server starts in a few seconds on an idle machine; with four test processes each
    # starting servers and browsers at once on two cores it has taken over 30.
    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready:\n{self.log_path.read_text()[-4000:]}")
