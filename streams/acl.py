"""Who may do what on the event bus: one Redis ACL user per service role.

The embedded server (:mod:`streams.embedded`) loads these users from an ACL file; the default user is
switched off, so a local process without a password gets ``NOAUTH``. The passwords are random, made
once and kept in a 0600 JSON file beside the server's data; each service gets its own
``redis://user:password@host:port/0`` URL. For an external server, :func:`setuser_commands` gives
the ``ACL SETUSER`` lines to run there (docs/security.md lists them).

Roles:

* ``vision`` appends to the detections and camera-health streams, sets its cameras' fields in the
  camera-state hash (and may see whether the detections it sent were taken), and keeps its camera leases and worker heartbeats under ``cityops:vision:*``;
* ``dispatch`` consumes detections through its consumer group and appends to the incidents and
  dead-letter streams;
* ``api`` appends incident events (its outbox) and keeps counters (rate limits, login throttles)
  under ``cityops:ratelimit:*``, ``cityops:login:*`` and ``cityops:api:*``;
* ``dashboard`` only reads the incidents and camera-health streams and the camera-state hash;
* ``admin`` may do anything (tests, maintenance); no service runs as admin.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import stat
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from streams.schemas import CAMERA_HEALTH, CAMERA_STATE, DEAD_LETTERS, DETECTIONS, INCIDENTS

log = logging.getLogger(__name__)

ADMIN = "admin"
#: What every role needs to hold a connection: health-check pings and redis-py's library name.
_BASE = "+ping +client|setinfo"
#: Confirming a write is durable (``WAIT``/``WAITAOF``), for producers that spool until then.
_DURABLE = "+wait +waitaof"
_CONSUME = (
    "+xreadgroup +xack +xautoclaim +xclaim +xpending +xgroup|create +xgroup|createconsumer "
    "+xinfo|stream +xinfo|groups +xinfo|consumers +xlen"
)
#: Whether an entry was taken yet (a producer's spool without WAITAOF confirms entries this way).
_STREAM_STATE = "+xinfo|stream +xinfo|groups +xpending +xrange"
_READ_STREAMS = "+xread +xrange +xrevrange +xlen +xinfo|stream"
_COUNTERS = "+incr +incrby +decr +decrby +expire +pexpire +get +set +del +ttl +pttl +exists"

#: Rules per role, after ``reset``-like defaults (no keys, no channels, no commands). A rule in
#: parentheses is a selector: its commands apply to its keys only.
ROLES: dict[str, str] = {
    "vision": (
        f"{_BASE} {_DURABLE} ~cityops:vision:* +get +set +pexpire +del +scan +evalsha +eval +script|load "
        f"(~{DETECTIONS} ~{CAMERA_HEALTH} +xadd) (~{CAMERA_STATE} +hset) (%R~{DETECTIONS} {_STREAM_STATE})"
    ),
    "dispatch": (
        f"{_BASE} {_DURABLE} +info (~{DETECTIONS} {_CONSUME}) "
        f"(~{INCIDENTS} ~{DEAD_LETTERS} +xadd +xlen +xinfo|stream) (%R~{INCIDENTS} +xrevrange)"
    ),
    "api": (
        f"{_BASE} {_DURABLE} +multi +exec +discard (~{INCIDENTS} +xadd) "
        f"(~cityops:ratelimit:* ~cityops:login:* ~cityops:api:* {_COUNTERS})"
    ),
    "dashboard": f"{_BASE} (%R~{INCIDENTS} %R~{CAMERA_HEALTH} {_READ_STREAMS}) (%R~{CAMERA_STATE} +hscan +hgetall +hlen)",
    ADMIN: "~* &* +@all",
}
#: The role each ``cityops`` service process runs as.
SERVICE_ROLES = {"vision": "vision", "dispatch": "dispatch", "api": "api", "dashboard": "dashboard"}
#: Commands older servers do not know (an ACL file naming them would not load there).
_NEWER = {"+waitaof": (7, 2), "+client|setinfo": (7, 2)}


def _rules(role: str, server_version: tuple[int, ...] | None = None) -> str:
    words = ROLES[role].split()
    if server_version is not None:
        words = [w for w in words if server_version >= _NEWER.get(w, (0,))]
    return " ".join(words)


def acl_file_text(passwords: dict[str, str], server_version: tuple[int, ...] | None = None) -> str:
    """The ACL file: the default user off, then one user per role with its hashed password."""
    lines = ["user default off resetkeys resetchannels -@all"]
    for role in ROLES:
        digest = hashlib.sha256(passwords[role].encode()).hexdigest()
        lines.append(f"user {role} on #{digest} resetchannels {_rules(role, server_version)}")
    return "\n".join(lines) + "\n"


def setuser_commands() -> list[str]:
    """``ACL SETUSER`` lines for an external server (run with ``redis-cli``), one per service role;
    replace ``<role-password>`` with a long random password."""
    return [
        f"ACL SETUSER {role} reset on ><{role}-password> {_rules(role)}" for role in ROLES if role != ADMIN
    ]


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file created 0600 from the start, then
    renamed over ``path``: never readable by others, never half-written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_passwords(path: Path) -> dict[str, str]:
    """The password of every role, from ``path`` (JSON, mode 0600); made at random when missing, and
    completed when a role was added since. A file others could read is narrowed to 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    passwords: dict[str, str] = {}
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o); narrowed to 0600", path, mode)
            os.chmod(path, 0o600)
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the Redis credentials in {path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ValueError(f"cannot read the Redis credentials in {path}: not a JSON object")
        passwords = {k: v for k, v in loaded.items() if k in ROLES and isinstance(v, str) and v}
    missing = [role for role in ROLES if role not in passwords]
    if missing:
        passwords.update({role: secrets.token_hex(24) for role in missing})
        _write_private(path, json.dumps(passwords, indent=2) + "\n")
    return passwords


def write_acl_file(
    path: Path, passwords: dict[str, str], server_version: tuple[int, ...] | None = None
) -> Path:
    _write_private(Path(path), acl_file_text(passwords, server_version))
    return Path(path)


def user_url(host: str, port: int, user: str, password: str, db: int = 0) -> str:
    return f"redis://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{db}"


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit(parts._replace(netloc=user + parts.netloc.rpartition("@")[2]))
