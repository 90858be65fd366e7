"""``cityops up`` / ``cityops demo``: start Redis when none is configured, then the services.

Each service runs as its own process (as it would in production), started with the effective
config written under the data directory, its output copied to the terminal and to
``DATA/logs/<service>.log``. A service that exits is started again after a backoff (1 s doubling
to 30 s, back to 1 s once it has run 60 s: the ``supervisor`` config section) while the others keep
serving; the embedded Redis likewise, on the same port and data directory. Only a service that
keeps crashing at start-up (most often a configuration error) stops the stack, with a non-zero exit.
Per-service state goes to ``DATA/run/services.json`` (:mod:`cityops.service_state`). On
SIGINT/SIGTERM everything stops, the embedded Redis last.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from cityops.config import CameraConfig, CityOpsConfig, SupervisorConfig
from cityops.service_state import state_path, write_state
from gis.default import load_grid
from streams.acl import SERVICE_ROLES, redact
from streams.embedded import EmbeddedRedis, die_with_parent
from vision.sources import demo_clip_camera, is_live, make_demo_clip

log = logging.getLogger(__name__)
SERVICES = ("dispatch", "api", "vision", "dashboard")
DEMO_PASSWORD = "cityops-demo"


def demo_config(cfg: CityOpsConfig) -> CityOpsConfig:
    """Drop sample-clip cameras whose files are missing; with none left, watch a generated clip."""
    keep = [c for c in cfg.cameras if is_live(c.source) or Path(c.source).is_file()]
    for c in cfg.cameras:
        if c not in keep:
            log.warning("demo: %s not found, camera %s left out", c.source, c.id)
    if not keep:
        clip = make_demo_clip(cfg.data / "media" / "demo-street.avi")
        log.warning("demo: no sample clip available; watching the generated clip %s", clip)
        keep = [CameraConfig.model_validate(demo_clip_camera(clip))]
    return cfg.model_copy(update={"cameras": keep})


def demo_accounts(cfg: CityOpsConfig) -> list[str]:
    """Demo logins (password ``cityops-demo``): an operator, and one account per roster entry."""
    from sqlalchemy import func, select

    from dispatch.accounts import create_user
    from dispatch.store import User, open_store

    engine, sessions = open_store(cfg.store_url)
    try:
        with sessions() as s:
            if s.scalar(select(func.count()).select_from(User)):
                return []
        made = [("operator", "operator", None)]
        made += [(i.id, i.role, i.id) for i in cfg.roster]
        for name, role, insp in made:
            create_user(sessions, name, DEMO_PASSWORD, role, insp if role == "inspector" else None)
        return [name for name, _, _ in made]
    finally:
        engine.dispose()


def service_env(env: dict[str, str], name: str, url: str, redis_srv: EmbeddedRedis | None) -> dict[str, str]:
    """The environment of service ``name``: with the embedded server, its own role's Redis URL
    (user and password), so each service can do only what its role allows."""
    return {**env, "REDIS_URL": redis_srv.url_for(SERVICE_ROLES[name]) if redis_srv else url}


def write_effective(cfg: CityOpsConfig, path: Path) -> Path:
    data = cfg.model_dump(mode="json", exclude_none=True)
    data["data_dir"] = str(cfg.data)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        "# written by 'cityops up'; edit the source config instead\n"
        + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    tmp.replace(path)
    return path


# -- restart policy (pure) ----------------------------------------------------------------------------
@dataclass
class RestartPolicy:
    """When to start a service again after it exited, and when to give up.

    ``on_exit(ran_s)`` takes how long the run that just ended lasted and returns the wait before the
    next start, or ``None``: ``crash_loop_exits`` runs in a row each ended within ``startup_s`` of
    starting (a service that cannot start: stop the stack). The wait starts at ``initial_s`` and
    doubles on each exit up to ``max_s``; a run of ``reset_after_s`` or more starts it again at
    ``initial_s``.
    """

    initial_s: float = 1.0
    max_s: float = 30.0
    reset_after_s: float = 60.0
    startup_s: float = 10.0
    crash_loop_exits: int = 5
    next_delay_s: float = field(default=0.0, init=False)
    quick_exits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.next_delay_s = self.initial_s

    @classmethod
    def from_config(cls, c: SupervisorConfig) -> RestartPolicy:
        return cls(c.backoff_initial_s, c.backoff_max_s, c.backoff_reset_s, c.startup_s, c.crash_loop_exits)

    def on_exit(self, ran_s: float) -> float | None:
        if ran_s >= self.reset_after_s:
            self.next_delay_s = self.initial_s
        self.quick_exits = self.quick_exits + 1 if ran_s < self.startup_s else 0
        if self.quick_exits >= self.crash_loop_exits:
            return None
        delay, self.next_delay_s = self.next_delay_s, min(self.next_delay_s * 2, self.max_s)
        return delay


def describe_exit(code: int | None) -> str:
    """``exited with code 3`` or ``killed by SIGKILL (signal 9)`` for a ``Popen.returncode``."""
    if code is None:
        return "did not start"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "an unknown signal"
        return f"killed by {name} (signal {-code})"
    return f"exited with code {code}"


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds") if t else None


# -- one supervised child -----------------------------------------------------------------------------
class Child:
    """A supervised process: ``spawn()`` starts it and returns its ``Popen``."""

    def __init__(self, name: str, spawn: Callable[[], subprocess.Popen], policy: RestartPolicy) -> None:
        self.name, self.spawn, self.policy = name, spawn, policy
        self.proc: subprocess.Popen | None = None
        self.state = "stopped"
        self.restarts = 0
        self.last_exit_code: int | None = None
        self.last_exit: str | None = None
        self.since = time.time()
        self.started = 0.0  # monotonic
        self.next_start: float | None = None  # monotonic
        self.next_start_wall: float | None = None

    def _set(self, state: str) -> None:
        self.state, self.since = state, time.time()

    def start(self) -> None:
        self.started = time.monotonic()
        try:
            self.proc = self.spawn()
        except (OSError, RuntimeError) as exc:  # EmbeddedRedisError, BrokerError
            log.error("%s could not start: %s", self.name, exc)
            self.proc = None
        self.next_start = self.next_start_wall = None
        self._set("running")

    def exited(self) -> int | None | bool:
        """The exit code once the running child has ended (``None``: it never started), else ``False``."""
        if self.state != "running":
            return False
        if self.proc is None:
            return None
        code = self.proc.poll()
        return False if code is None else code

    def as_dict(self) -> dict:
        return {
            "state": self.state,
            "pid": self.proc.pid if self.proc and self.state == "running" else None,
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "last_exit": self.last_exit,
            "since": _iso(self.since),
            "next_restart_at": _iso(self.next_start_wall),
        }


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill what is left of a service's process group (e.g. worker processes of a killed API)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_OUT_LOCK = threading.Lock()


def _pump(pipe, log_path: Path) -> None:
    """Copy a service's output to the terminal and to its log file, line by line."""
    with pipe, log_path.open("ab") as f:
        for line in iter(pipe.readline, b""):
            f.write(line)
            f.flush()
            with _OUT_LOCK:
                try:
                    sys.stdout.buffer.write(line)
                    sys.stdout.flush()
                except (OSError, ValueError):
                    pass


def _tail(path: Path, lines: int = 15) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - 16_000))
            return "\n".join(
                "    " + ln for ln in deque(f.read().decode(errors="replace").splitlines(), lines)
            )
    except OSError:
        return "    (no output)"


# -- the stack ----------------------------------------------------------------------------------------
def run_stack(
    cfg: CityOpsConfig, *, demo: bool = False, seconds: float | None = None, open_port: int | None = None
) -> int:
    if demo:
        cfg = demo_config(cfg)
    if open_port:
        cfg = cfg.model_copy(update={"dashboard": cfg.dashboard.model_copy(update={"port": open_port})})
    data = cfg.data
    data.mkdir(parents=True, exist_ok=True)  # the stack owns its data directory
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    state_file = state_path(data)
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children: list[Child] = []
    redis_child: Child | None = None
    broker: list = []  # the embedded Mosquitto, when iot.mqtt_url is empty

    def save() -> None:
        doc = {
            "supervisor_pid": os.getpid(),
            "updated_at": _iso(time.time()),
            "services": {c.name: c.as_dict() for c in children},
        }
        try:
            write_state(state_file, doc)
        except OSError as exc:  # a full disk must not stop the supervisor
            log.warning("could not write %s: %s", state_file, exc)

    url = cfg.redis_url
    redis_srv: list[EmbeddedRedis] = []  # the current embedded server, replaced on a restart
    if url:
        log.info("using Redis at %s", redact(url))
    else:
        redis_srv.append(EmbeddedRedis(data / "redis", acl=True).start())
        url = redis_srv[0].url
        log.info(
            "started embedded Redis on %s (append-only file in %s; one ACL user per service)",
            redis_srv[0].address,
            data / "redis",
        )

        def spawn_redis() -> subprocess.Popen:
            srv = EmbeddedRedis(data / "redis", port=redis_srv[0].port, acl=True)
            redis_srv[0] = srv
            return srv.start().proc

        redis_child = Child("redis", spawn_redis, RestartPolicy.from_config(cfg.supervisor))
        redis_child.proc, redis_child.started = redis_srv[0].proc, time.monotonic()
        redis_child._set("running")
        children.append(redis_child)
    code = 0
    try:
        grid = load_grid(cfg.grid, data)  # generate once, before the services read it
        from dispatch.store import open_store

        open_store(cfg.store_url)[0].dispose()  # migrate once, before the services open the store
        if demo:
            names = demo_accounts(cfg)
            if names:
                log.info("demo accounts (password %r): %s", DEMO_PASSWORD, ", ".join(names))
        log.info("grid: %d unit cells", len(grid))
        eff = write_effective(cfg, data / "effective-config.yaml")
        env = {**os.environ, "REDIS_URL": url, "CITYOPS_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
        mqtt_url = _start_broker(cfg, children, broker) if cfg.iot.enabled else None
        if mqtt_url:
            env["CITYOPS_MQTT_URL"] = mqtt_url

        def spawner(name: str) -> Callable[[], subprocess.Popen]:
            def spawn() -> subprocess.Popen:
                # called from the main thread only: the parent-death signal follows the forking thread
                proc = subprocess.Popen(
                    [sys.executable, "-m", "cityops", name, "--config", str(eff)],
                    env=service_env(env, name, url, redis_srv[0] if redis_srv else None),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent,
                    process_group=0,  # its own group: Ctrl-C reaches the supervisor, which stops it
                )
                threading.Thread(target=_pump, args=(proc.stdout, logs / f"{name}.log"), daemon=True).start()
                return proc

            return spawn

        for name in SERVICES + (("iot",) if mqtt_url else ()):
            child = Child(name, spawner(name), RestartPolicy.from_config(cfg.supervisor))
            child.start()
            children.append(child)
        save()
        board, api = f"{cfg.board_url}/", f"{cfg.api_url}/docs"
        print(f"\nCityOps is up: board at {board}  API at {api}  (Ctrl-C to stop)\n", flush=True)
        deadline = time.monotonic() + seconds if seconds else None
        saved = time.monotonic()
        while not stop.is_set():
            changed = False
            now = time.monotonic()
            for c in children:
                rc = c.exited()
                if rc is not False:
                    changed = True
                    if c.proc is not None and c is not redis_child and c.name != "mqtt":
                        _kill_group(c.proc)
                    code = _on_exit(c, rc, now, logs)
                    if code:
                        break
                elif c.state == "restarting" and now >= (c.next_start or 0):
                    c.restarts += 1
                    log.warning("restarting %s (restart %d)", c.name, c.restarts)
                    c.start()
                    changed = True
            if code:
                break
            if changed or now - saved >= 5:
                save()
                saved = now
            if deadline and now >= deadline:
                break
            stop.wait(0.2)
    finally:
        services = [c for c in children if c is not redis_child and c.name != "mqtt"]
        for c in services:
            if c.proc and c.proc.poll() is None:
                c.proc.terminate()
        for c in services:
            if c.proc is None:
                continue
            try:
                c.proc.wait(10)
            except subprocess.TimeoutExpired:
                log.warning("service %s did not stop in time; killing it", c.name)
            _kill_group(c.proc)
            c.proc.wait()
        if broker:
            broker[0].stop()
        if redis_srv:
            redis_srv[0].stop()
        for c in children:
            if c.state != "failed":
                c._set("stopped")
            c.next_start = c.next_start_wall = None
        if children:
            save()
        log.info("stopped")
    return code


def _start_broker(cfg: CityOpsConfig, children: list[Child], broker: list) -> str | None:
    """The MQTT URL for the iot bridge: ``iot.mqtt_url``, or an embedded Mosquitto (supervised, like
    the embedded Redis). Without a mosquitto binary the bridge is left out, with a warning."""
    from iot.broker import BrokerError, EmbeddedMosquitto

    if cfg.mqtt_url:
        log.info("iot: using the MQTT broker at %s", redact(cfg.mqtt_url))
        return cfg.mqtt_url
    try:
        broker.append(EmbeddedMosquitto(cfg.data / "mqtt").start())
    except BrokerError as exc:
        log.warning("iot: %s; the iot bridge is not started", exc)
        return None
    log.info("iot: started embedded Mosquitto on %s (data in %s)", broker[0].address, cfg.data / "mqtt")

    def spawn_broker() -> subprocess.Popen:
        broker[0] = EmbeddedMosquitto(cfg.data / "mqtt", port=broker[0].port)
        return broker[0].start().proc

    child = Child("mqtt", spawn_broker, RestartPolicy.from_config(cfg.supervisor))
    child.proc, child.started = broker[0].proc, time.monotonic()
    child._set("running")
    children.append(child)
    return broker[0].url


def _on_exit(c: Child, rc: int | None, now: float, logs: Path) -> int:
    """Record an exit and schedule the restart; returns 1 when the service keeps crashing at start-up."""
    ran = now - c.started
    c.last_exit_code, c.last_exit = rc, describe_exit(rc)
    delay = c.policy.on_exit(ran)
    if delay is None:
        c._set("failed")
        log_file = {
            "redis": logs.parent / "redis" / "redis.log",
            "mqtt": logs.parent / "mqtt" / "mosquitto.log",
        }.get(c.name, logs / f"{c.name}.log")
        log.error(
            "service %s keeps crashing at start-up: %d exits in a row, each within %.0f s of starting "
            "(last: %s). Stopping the stack. This is most often a configuration error (a port already "
            "in use, a bad path or URL). Its output is in %s; the last lines:\n%s",
            c.name,
            c.policy.quick_exits,
            c.policy.startup_s,
            c.last_exit,
            log_file,
            _tail(log_file),
        )
        return 1
    c._set("restarting")
    c.next_start = now + delay
    c.next_start_wall = time.time() + delay
    log.error("service %s %s after %.1f s; restarting it in %.0f s", c.name, c.last_exit, ran, delay)
    return 0
