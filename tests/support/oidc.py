"""A real OpenID Connect identity provider (npm's ``oidc-provider``) on loopback, for the
single sign-on tests.

Usage::

    ensure_oidc_provider_installed()
    with OidcProvider(client_id="rp", client_secret="...", redirect_uris=[callback]) as idp:
        idp.issuer                       # "http://127.0.0.1:<port>"
        ...                              # send the browser to the authorization endpoint
        final = await complete_login(browser, authorize_url, login="alice")
        # `final` is the relying party's callback URL with `code` and `state`

Accounts (password ``secret`` for all): ``alice`` (alice@example.com, verified), ``bob``
(bob@example.com, verified) and ``mallory`` (victim@example.com, NOT verified: an address
that another user of the platform owns).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import urljoin, urlsplit

import httpx

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
PROVIDER_SCRIPT = PROVIDER_DIR / "provider.mjs"
ACCOUNTS = ("alice", "bob", "mallory")
PASSWORD = "secret"
MIN_NODE_MAJOR = 20
_READY = re.compile(r"^READY (http://127\.0\.0\.1:\d+)$")


class OidcProviderError(RuntimeError):
    """The provider could not be installed, started, or driven."""


class LoginRejected(OidcProviderError):
    """The provider refused the login and password."""


# -- installation ---------------------------------------------------------------------------


def _pinned_version() -> str:
    manifest = json.loads((PROVIDER_DIR / "package.json").read_text())
    version: str = manifest["dependencies"]["oidc-provider"]
    return version


def _installed_version() -> str | None:
    installed = PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json"
    try:
        version: str = json.loads(installed.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    return version


def _check_node() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise OidcProviderError(
            "The single sign-on tests need Node.js (20 or later) and npm on PATH to run the "
            "OpenID Connect test provider; install them (Debian: `apt-get install nodejs npm`)."
        )
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if major is None or int(major.group(1)) < MIN_NODE_MAJOR:
        raise OidcProviderError(
            f"The OpenID Connect test provider needs Node.js {MIN_NODE_MAJOR} or later; "
            f"`node --version` says {version or 'nothing'}."
        )
    return node, npm


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    # Parallel test processes would otherwise run npm in the same folder at once and leave a
    # broken node_modules; the lock lives outside the repository so it never shows in git.
    digest = hashlib.sha256(str(PROVIDER_DIR.resolve()).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"oidc-provider-install-{digest}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_oidc_provider_installed() -> None:
    """Install the provider's npm dependencies unless the pinned version is already there.

    Uses ``npm ci`` (exactly the lock file) when ``package-lock.json`` exists, ``npm
    install`` otherwise. Raises :class:`OidcProviderError` with npm's output on failure.
    """
    _, npm = _check_node()
    wanted = _pinned_version()
    if _installed_version() == wanted:
        return
    with _install_lock():
        if _installed_version() == wanted:
            return
        command = "ci" if (PROVIDER_DIR / "package-lock.json").exists() else "install"
        try:
            result = subprocess.run(
                [npm, command, "--no-audit", "--no-fund"],
                cwd=PROVIDER_DIR,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OidcProviderError(f"`npm {command}` in {PROVIDER_DIR} timed out") from exc
        if result.returncode != 0 or _installed_version() != wanted:
            raise OidcProviderError(
                f"`npm {command}` in {PROVIDER_DIR} failed (exit {result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )


# -- the running provider -------------------------------------------------------------------


class OidcProvider:
    """The provider as a child process on a loopback port, with one confidential client.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`). The system picks
    the port, so parallel test processes never collide; :attr:`issuer` holds the result.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uris: Sequence[str],
        token_endpoint_auth_method: str = "client_secret_basic",
        startup_timeout: float = 30.0,
    ) -> None:
        if isinstance(redirect_uris, str):
            raise TypeError("redirect_uris is a list of URLs, not one string")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris)
        self.token_endpoint_auth_method = token_endpoint_auth_method
        self.startup_timeout = startup_timeout
        self.issuer = ""
        self._process: subprocess.Popen[str] | None = None
        # The tail of the provider's stderr, kept for error messages; drained continuously
        # so a chatty provider never blocks on a full pipe.
        self._stderr: collections.deque[str] = collections.deque(maxlen=200)
        self._stdout: queue.Queue[str | None] = queue.Queue()

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def output(self) -> str:
        """The latest lines the provider wrote to stderr (warnings, errors)."""
        return "".join(self._stderr)

    def start(self) -> OidcProvider:
        if self._process is not None:
            raise OidcProviderError("the provider is already running")
        node, _ = _check_node()
        if _installed_version() is None:
            raise OidcProviderError(
                "oidc-provider is not installed: call ensure_oidc_provider_installed() first"
            )
        env = {
            **os.environ,
            "OIDC_CLIENT_ID": self.client_id,
            "OIDC_CLIENT_SECRET": self.client_secret,
            "OIDC_REDIRECT_URIS": json.dumps(self.redirect_uris),
            "OIDC_TOKEN_ENDPOINT_AUTH_METHOD": self.token_endpoint_auth_method,
        }
        # stdin stays open for the provider's whole life: it exits when it closes, which
        # also happens if this test process dies without running stop().
        self._process = subprocess.Popen(
            [node, str(PROVIDER_SCRIPT), "0"],
            cwd=PROVIDER_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        self._drain(self._process.stdout, self._stdout.put, then=lambda: self._stdout.put(None))
        self._drain(self._process.stderr, self._stderr.append)
        try:
            self.issuer = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @staticmethod
    def _drain(
        stream: IO[str],
        sink: Callable[[str], object],
        then: Callable[[], object] | None = None,
    ) -> None:
        def pump() -> None:
            for line in stream:
                sink(line)
            if then is not None:
                then()

        threading.Thread(target=pump, name="oidc-provider-output", daemon=True).start()

    def _wait_ready(self) -> str:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._startup_error(f"not ready after {self.startup_timeout:g} s")
            try:
                line = self._stdout.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                assert self._process is not None
                code = self._process.wait(timeout=5)
                raise self._startup_error(f"exited with status {code} before it was ready")
            ready = _READY.match(line.strip())
            if ready:
                return ready.group(1)

    def _startup_error(self, what: str) -> OidcProviderError:
        # Give the stderr reader a moment to catch the provider's last words.
        time.sleep(0.2)
        return OidcProviderError(
            f"the OpenID Connect test provider {what}; its stderr:\n{self.output or '(empty)'}"
        )


# -- driving the sign-in pages --------------------------------------------------------------


class _FormParser(HTMLParser):
    """Collects each form's action, method and input fields (enough for the login page)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            method = attributes.get("method", "get").lower()
            self.forms.append((attributes.get("action", ""), method, {}))
        elif tag in ("input", "button") and self.forms and attributes.get("name"):
            if tag == "button" and attributes.get("type", "submit") != "submit":
                return
            self.forms[-1][2][attributes["name"]] = attributes.get("value", "")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def complete_login(
    client: httpx.AsyncClient, authorize_url: str, *, login: str, password: str = PASSWORD
) -> str:
    """Act as the user's browser at the provider: open the authorization URL, sign in with
    ``login``/``password``, let consent go through, and return the URL the provider finally
    redirects to: the relying party's ``redirect_uri`` with ``code`` and ``state`` (or
    ``error``). That URL is not requested.

    ``client`` keeps the provider's cookies between steps; a fresh client per sign-in is a
    fresh browser. Raises :class:`LoginRejected` on a wrong login or password and
    :class:`OidcProviderError` on any other unexpected page.
    """
    provider_origin = _origin(authorize_url)
    url = authorize_url
    response = await client.get(url, follow_redirects=False)
    # authorize -> login page -> login POST -> resume -> consent (automatic) -> resume ->
    # redirect_uri: about eight hops, so twenty means a loop.
    for _ in range(20):
        if response.is_redirect:
            url = urljoin(url, response.headers["location"])
            if _origin(url) != provider_origin:
                return url
            response = await client.get(url, follow_redirects=False)
            continue
        if response.status_code == 401:
            raise LoginRejected(f"the provider refused the login {login!r}")
        parser = _FormParser()
        parser.feed(response.text)
        forms = [form for form in parser.forms if "login" in form[2] and "password" in form[2]]
        if response.status_code != 200 or not forms:
            raise OidcProviderError(
                f"unexpected page from the provider at {url} ({response.status_code}): "
                f"{response.text[:1000]}"
            )
        action, method, fields = forms[0]
        fields.update(login=login, password=password)
        url = urljoin(url, action or url)
        if method == "post":
            response = await client.post(url, data=fields, follow_redirects=False)
        else:
            response = await client.get(url, params=fields, follow_redirects=False)
    raise OidcProviderError(f"the sign-in at the provider did not finish (last URL {url})")
