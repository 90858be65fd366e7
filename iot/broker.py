"""Eclipse Mosquitto (Debian's ``mosquitto``) as a child process when no ``iot.mqtt_url`` is set.

Like the embedded Redis: its own data directory (persistence file, password file, log), a free port
on 127.0.0.1, started in the foreground and asked to die with its parent. Clients log in as
``cityops`` with a random password kept 0600 in the data dir (reused on restart). Persistence is
on and queues are not capped low, so a bridge that is away (QoS 1, persistent session) finds every
alarm waiting when it reconnects, and a broker restarted with SIGTERM keeps what it had queued.
"""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from streams.embedded import die_with_parent, free_port, stop_child

log = logging.getLogger(__name__)
USER = "cityops"


class BrokerError(RuntimeError):
    pass


def find_mosquitto() -> Path:
    for name in ("mosquitto", "/usr/sbin/mosquitto"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise BrokerError(
        "no MQTT broker binary: install Debian's 'mosquitto' package (apt-get install mosquitto), "
        "or set iot.mqtt_url to a running broker"
    )


def _password(path: Path) -> str:
    if path.is_file():
        return path.read_text().strip()
    pw = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pw)
    return pw


class EmbeddedMosquitto:
    """``with EmbeddedMosquitto(data_dir) as b: b.url`` (``mqtt://cityops:<password>@127.0.0.1:<port>``)."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        *,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """``tls``: (certificate chain, key) files: the listener speaks MQTT over TLS (mqtts://)."""
        self.data_dir = Path(data_dir)
        self.host, self.port = host, port or free_port(host)
        self.tls = tls
        self.proc: subprocess.Popen | None = None
        self.password = ""

    @property
    def scheme(self) -> str:
        return "mqtts" if self.tls else "mqtt"

    @property
    def address(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{USER}:{quote(self.password, safe='')}@{self.host}:{self.port}"

    def _write_config(self) -> Path:
        d = self.data_dir.resolve()
        self.password = _password(d / "password.txt")
        passwd = d / "passwd"
        subprocess.run(
            [shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-b", "-c", str(passwd),
             USER, self.password],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        passwd.chmod(0o600)
        conf = d / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    "# written by CityOps (iot/broker.py) at every start",
                    f"user {pwd.getpwuid(os.getuid()).pw_name}",
                    f"listener {self.port} {self.host}",
                    *([f"certfile {self.tls[0]}", f"keyfile {self.tls[1]}"] if self.tls else []),
                    "allow_anonymous false",
                    f"password_file {passwd}",
                    "persistence true",
                    f"persistence_location {d}/",
                    "autosave_interval 1",
                    "max_queued_messages 1000000",
                    "max_inflight_messages 1000",
                    "max_keepalive 120",
                    f"log_dest file {d / 'mosquitto.log'}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "connection_messages true",
                    "",
                ]
            )
        )
        return conf

    def start(self, timeout: float = 10.0) -> EmbeddedMosquitto:
        binary = find_mosquitto()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self._write_config()
        self.proc = subprocess.Popen(
            [str(binary), "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-800:] if self.proc.stderr else ""
                logf = self.data_dir / "mosquitto.log"
                tail = logf.read_text(errors="replace")[-800:] if logf.exists() else ""
                raise BrokerError(f"mosquitto exited with {self.proc.returncode}: {err}{tail}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    log.info("embedded mosquitto on %s (data in %s)", self.address, self.data_dir)
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not answer on {self.host}:{self.port} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: mosquitto saves its persistence file (queued messages, sessions) on the way out."""
        stop_child(self.proc, timeout)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def __enter__(self) -> EmbeddedMosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
