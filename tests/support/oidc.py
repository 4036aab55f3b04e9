"""A real OpenID Connect provider (npm's oidc-provider) on loopback, for SSO tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpx

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"', re.IGNORECASE)


def ensure_oidc_provider_installed() -> None:
    if (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("Node.js and npm are required for the SSO tests; `make test` "
                           "installs them.")
    command = "ci" if (PROVIDER_DIR / "package-lock.json").exists() else "install"
    subprocess.run([npm, command, "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True,
                   capture_output=True, timeout=300)


class OidcProvider:
    """Starts the provider on a free loopback port with one confidential client."""

    def __init__(self, *, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        self._clients = [{"client_id": client_id, "client_secret": client_secret,
                          "redirect_uris": redirect_uris}]
        self._process: subprocess.Popen[str] | None = None
        self.issuer = ""

    def __enter__(self) -> OidcProvider:
        from tests.support.servers import free_port

        # The issuer URL contains the port, so it must be known before the provider starts.
        env = {**os.environ, "OIDC_PORT": str(free_port()),
               "OIDC_CLIENTS": json.dumps(self._clients)}
        self._process = subprocess.Popen(
            ["node", str(PROVIDER_DIR / "provider.mjs")], cwd=PROVIDER_DIR, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        ready: list[str] = []

        def read_ready() -> None:
            assert self._process is not None and self._process.stdout is not None
            line = self._process.stdout.readline()
            ready.append(line)

        reader = threading.Thread(target=read_ready, daemon=True)
        reader.start()
        reader.join(timeout=30)
        if not ready or not ready[0].startswith("READY "):
            self._stop()
            raise RuntimeError(f"the OIDC provider did not start: {ready!r}")
        self.issuer = ready[0].split(" ", 1)[1].strip()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None


async def complete_login(client: httpx.AsyncClient, authorize_url: str, *, login: str,
                         password: str = "secret") -> str:
    """Act as the user's browser at the provider: sign in, consent, and return the URL the
    provider finally sends the browser to (the relying party's callback with the code)."""
    provider_origin = "{0.scheme}://{0.netloc}".format(urlsplit(authorize_url))
    url = authorize_url
    response = await client.get(url)
    for _ in range(20):
        if response.is_redirect:
            url = urljoin(url, response.headers["location"])
            if not url.startswith(provider_origin):
                return url
            response = await client.get(url)
            continue
        match = _FORM_ACTION.search(response.text)
        if response.status_code != 200 or match is None:
            raise RuntimeError(f"unexpected provider page {response.status_code}: "
                               f"{response.text[:500]}")
        action = urljoin(url, match.group(1))
        if 'name="login"' in response.text:
            form = {"prompt": "login", "login": login, "password": password}
        else:
            form = {"prompt": "consent"}
        response = await client.post(action, data=form)
        url = action
    raise RuntimeError("the provider's interaction did not finish")
