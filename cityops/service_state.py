"""The supervisor's per-service state file (``DATA/run/services.json``) and what readers make of it.

``cityops up`` rewrites the file (atomically: a temporary file renamed over it) whenever a service
changes state, and every few seconds otherwise. ``cityops status`` and the ``/healthz`` endpoints of
the API and the board read it. Its shape::

    {"supervisor_pid": 1234, "updated_at": "2026-01-01T00:00:00+00:00",
     "services": {"dispatch": {"state": "running", "pid": 1240, "restarts": 0, "last_exit": null,
                               "last_exit_code": null, "since": "...", "next_restart_at": null}, ...}}

``state`` is one of ``running``, ``restarting`` (exited; waiting out its backoff), ``failed`` (kept
crashing at start-up; the stack stops) and ``stopped`` (the stack stopped).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

STATES = {"running": "运行中", "restarting": "重启中", "failed": "已失败", "stopped": "已停止"}


def state_path(data_dir: Path) -> Path:
    return Path(data_dir) / "run" / "services.json"


def write_state(path: Path, doc: dict) -> None:
    """Replace ``path`` with ``doc`` in one step: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def read_state(path: Path) -> dict | None:
    """The state document, or ``None`` when there is no (readable) state file."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("services"), dict) else None


def pid_alive(pid: object) -> bool:
    """Whether ``pid`` is a live ``cityops`` process (a reused pid of another program does not count)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the signal check
    return b"cityops" in cmdline


def degraded(doc: dict) -> list[str]:
    """Names of the services that are not running, in the file's order."""
    return [name for name, s in doc["services"].items() if s.get("state") != "running"]


def health(data_dir: Path) -> dict:
    """What ``/healthz`` adds to ``{"ok": true}`` (the process answering is itself fine):

    - ``supervised``: whether a ``cityops up`` supervisor is running for this data directory;
    - ``degraded``: the supervised services that are not running now (restarting or failed);
    - ``services``: each supervised service's state; ``note`` when there is nothing to say more.
    """
    doc = read_state(state_path(data_dir))
    if doc is None:
        return {"supervised": False, "degraded": [], "note": "no supervisor state file (started alone)"}
    if not pid_alive(doc.get("supervisor_pid")):
        return {
            "supervised": False,
            "degraded": [],
            "note": "the supervisor that wrote the state file is gone",
        }
    return {
        "supervised": True,
        "degraded": degraded(doc),
        "services": {name: s.get("state") for name, s in doc["services"].items()},
    }
