"""A real IMAP server for the email tests: Debian's dovecot, started by the suite on a
loopback port with a configuration, passwords and mail directories of its own.

Each test takes accounts of its own from a set made at start;
tests put mail on the server with IMAP APPEND, as a delivery agent would.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aioimaplib

from tests.support.servers import free_port

DOVECOT = "/usr/sbin/dovecot"
ACCOUNTS = 300

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_privileged_group =
first_valid_uid = 500
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol imap {{
  imap_idle_notify_interval = 1 secs
}}
"""


@dataclass
class Dovecot:
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    accounts: dict[str, str] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"

    @classmethod
    @contextlib.contextmanager
    def start(cls) -> Iterator[Dovecot]:
        if not Path(DOVECOT).exists():
            raise RuntimeError("dovecot-imapd is required (scripts/ensure-test-services)")
        # Its own folder, readable by dovecot's unprivileged processes (pytest's temporary
        # folders are private to their owner).
        root = Path(tempfile.mkdtemp(prefix="plateaux-dovecot-"))
        root.chmod(0o755)
        port = free_port()
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        nobody = pwd.getpwnam("nobody")
        os.chown(root / "mail", nobody.pw_uid, nobody.pw_gid)
        # Accounts are made up front: dovecot may not notice a passwd-file rewritten within
        # the second it last read it.
        accounts = {f"box-{n:03d}-{secrets.token_hex(3)}": secrets.token_urlsafe(12)
                    for n in range(ACCOUNTS)}
        (root / "passwd").write_text("".join(f"{user}:{{PLAIN}}{secret}\n"
                                             for user, secret in accounts.items()))
        config = root / "dovecot.conf"
        config.write_text(CONFIG.format(root=root, port=port))
        process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        server = cls(root=root, port=port, process=process, accounts=accounts,
                     unused=list(accounts))
        try:
            server._wait_ready()
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            shutil.rmtree(root, ignore_errors=True)

    def _wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                log = self.root / "dovecot.log"
                raise RuntimeError(f"dovecot exited: {error} "
                                   f"{log.read_text() if log.exists() else ''}")
            with contextlib.suppress(OSError), socket.create_connection(
                    (self.host, self.port), timeout=1) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return
            time.sleep(0.05)
        raise RuntimeError("dovecot did not answer")

    def add_account(self) -> tuple[str, str]:
        """An account of its own (login, password) with an empty INBOX."""
        login = self.unused.pop()
        return login, self.accounts[login]

    async def client(self, login: str) -> aioimaplib.IMAP4:
        imap = aioimaplib.IMAP4(host=self.host, port=self.port, timeout=30)
        await imap.wait_hello_from_server()
        response = await imap.login(login, self.accounts[login])
        assert response.result == "OK", response
        return imap

    async def append(self, login: str, *messages: bytes, folder: str = "INBOX") -> None:
        """Deliver ``messages`` to the account's ``folder`` (created when missing)."""
        imap = await self.client(login)
        try:
            if folder != "INBOX":
                await imap.create(folder)
            for raw in messages:
                response = await imap.append(raw, mailbox=folder)
                assert response.result == "OK", response
        finally:
            await imap.logout()

    async def recreate_folder(self, login: str, folder: str) -> None:
        """Delete and create ``folder`` again: its UIDVALIDITY changes, its mail is gone."""
        imap = await self.client(login)
        try:
            await imap.delete(folder)
            response = await imap.create(folder)
            assert response.result == "OK", response
        finally:
            await imap.logout()
