"""``cityops up`` survives its own parts: each service (and the embedded Redis) SIGKILLed in turn is
started again within its backoff while the others keep answering, and what was published while it
was down still becomes exactly one incident each. A service that crashes at every start (its port
already taken) stops the stack with a message naming it and its log, instead of looping forever."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from functools import partial
from pathlib import Path

import pytest

from cityops.service_state import read_state, state_path
from gis.default import load_grid
from streams.bus import connect
from streams.embedded import EmbeddedRedis
from streams.schemas import DETECTIONS
from tests.conftest import OUTPUT, ROOT, free_port, make_config
from tests.helpers import wait_http
from tests.reliability.harness import (
    StoreCounter,
    get_json,
    publish_chunks,
    spread_detections,
    wait_until,
    write_config,
)

HTTP = {"api": "/healthz", "dashboard": "/api/live"}  # what each HTTP service answers on (old and new)
PER_FAULT = 10  # detections published while each part is down


def children(pid: int) -> dict[str, int]:
    """The supervisor's child processes by service name, from the process table."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid != pid:
            continue
        if b"cityops" in cmd:
            out[cmd[cmd.index(b"cityops") + 1].decode()] = int(stat.parent.name)
        elif any(b"-server" in part for part in cmd[:1]):
            out["redis"] = int(stat.parent.name)
    return out


def answers(url: str, timeout: float = 10.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def redis_port(pid: int) -> int:
    """The server's port: from ``--port N``, or from the title it gives itself (``valkey-server host:N``)."""
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return int(re.search(r"(?:--port |:)(\d+)", cmd).group(1))


class Poller(threading.Thread):
    """Hits every other HTTP service until stopped; counts the requests that failed (and notes whether
    a ``/healthz`` named the killed service as degraded: a figure, since the restart may beat the poll)."""

    def __init__(self, urls: dict[str, str], health: str, killed: str) -> None:
        super().__init__(daemon=True)
        self.urls, self.health, self.killed = urls, health, killed
        self.ok = self.failed = 0
        self.failures: list[str] = []
        self.degraded_seen = False
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for name, url in self.urls.items():
                if answers(url):
                    self.ok += 1
                else:
                    self.failed += 1
                    self.failures.append(name)
            try:  # the other HTTP service's /healthz names the killed one while it is restarting
                self.degraded_seen |= self.killed in get_json(self.health, 10).get("degraded", [])
            except (OSError, ValueError, AttributeError):
                pass
            self.halt.wait(0.3)


def back(proc: subprocess.Popen, data: Path, base: dict[str, str], name: str, old: int):
    """True once ``name`` runs again: a new pid, the state file agrees, and it answers if it is HTTP."""
    if proc.poll() is not None:
        return "the stack stopped"
    pid = children(proc.pid).get(name)
    s = (read_state(state_path(data)) or {"services": {}})["services"].get(name, {})
    if pid in (None, old) or s.get("state") != "running" or s.get("pid") != pid:
        return None
    return name not in HTTP or answers(base[name] + HTTP[name], 5)


def status(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cityops", "status", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def up(tmp_path, request):
    """Start ``cityops up`` on a config (its own data dir, free ports); stopped with SIGINT at the end."""
    started: list[subprocess.Popen] = []
    logs = OUTPUT / "reliability" / request.node.name
    logs.mkdir(parents=True, exist_ok=True)

    def start(cfg) -> tuple[subprocess.Popen, Path, Path]:
        config = write_config(cfg, tmp_path / "cityops.yaml")
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CITYOPS_DATA_DIR")}
        log = logs / "up.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cityops", "up", "--config", str(config)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(proc)
        return proc, config, log

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_each_killed_service_comes_back_while_the_others_answer(tmp_path, up, figures):
    cfg = make_config(
        tmp_path,
        dispatch={"port": free_port(), "merge_radius_m": 0, "sla_sweep_s": 3600},
        dashboard={"port": free_port()},
        redis={"claim_idle_ms": 1000},
        iot={"enabled": False},  # the MQTT broker and bridge have their own fault test (test_faults_iot.py)
    )
    proc, config, log = up(cfg)
    base = {
        "api": f"http://127.0.0.1:{cfg.dispatch.port}",
        "dashboard": f"http://127.0.0.1:{cfg.dashboard.port}",
    }
    wait_http(base["api"] + "/healthz", timeout=120)
    wait_http(base["dashboard"] + "/api/live", timeout=120)
    assert wait_until(lambda: len(children(proc.pid)) == 5, 60), children(proc.pid)
    grid = load_grid(cfg.grid, cfg.data)
    counter = StoreCounter(cfg.store_url)
    published: list[str] = []
    recover: dict[str, float] = {}
    pipeline: dict[str, float] = {}
    others_answered: dict[str, bool] = {}
    degraded_seen: dict[str, bool] = {}
    for k, name in enumerate(("dispatch", "api", "vision", "dashboard", "redis")):
        before = children(proc.pid)
        assert set(before) == {"redis", "dispatch", "api", "vision", "dashboard"}, before
        port = redis_port(before["redis"])
        r = connect(EmbeddedRedis(cfg.data / "redis", port=port, acl=True).url)  # the admin user
        others = {n: base[n] + HTTP[n] for n in HTTP if n != name}
        health = base["dashboard" if name == "api" else "api"] + "/healthz"
        poller = Poller(others, health, name)
        poller.start()
        t0 = time.monotonic()
        os.kill(before[name], signal.SIGKILL)
        dets = spread_detections(grid, PER_FAULT, f"kill-{name}", start=k * PER_FAULT)
        if name != "redis":  # published while the service is down
            publish_chunks(r, DETECTIONS, dets)
            published += [d.id for d in dets]

        got = wait_until(partial(back, proc, cfg.data, base, name, before[name]), 90)
        t_back = time.monotonic()
        poller.halt.set()
        poller.join(30)
        recover[name] = round(t_back - t0, 1)
        others_answered[name] = poller.failed == 0 and poller.ok > 0
        degraded_seen[name] = poller.degraded_seen
        assert got is True, f"{name} not back within 90 s ({got}); see {log}"
        after = children(proc.pid)
        kept = {n: p for n, p in before.items() if n != name}
        assert {n: after.get(n) for n in kept} == kept, "another service was restarted too"
        assert others_answered[name], f"while {name} was down: {poller.failures[:10]} failed"
        if name == "redis":
            assert redis_port(after["redis"]) == port  # same port, same AOF dir
            publish_chunks(r, DETECTIONS, dets)
            published += [d.id for d in dets]
        res = status(config)
        assert res.returncode == 0, res.stdout + res.stderr
        line = next(ln for ln in res.stdout.splitlines() if ln.startswith(name + " "))
        assert "killed by SIGKILL" in line and str(after[name]) in line, res.stdout
        r.close()
        # the pipeline works again: what was published during the fault is an incident
        want = set(published)
        flowing = wait_until(lambda want=want: want <= counter.processed_ids(), 120)
        pipeline[name] = round(time.monotonic() - t0, 1)
        assert flowing, f"detections published while {name} was down were not processed; see {log}"

    expected = len(published)
    done = wait_until(lambda: counter.counts()["processed"] >= expected, 120)
    stored = counter.processed_ids()
    c = counter.counts()
    per_incident = counter.incident_counts()
    counter.close()
    lost = len(set(published) - stored)
    duplicated = c["incidents"] - len(stored) + sum(v - 1 for v in per_incident.values())
    figures.update(
        fault="SIGKILL each service under cityops up (dispatch, api, vision, dashboard, redis)",
        incidents_expected=expected,
        got=c["incidents"],
        lost=lost,
        duplicated=duplicated,
        recover_s=recover,
        incidents_flowing_s=pipeline,
        others_answered=all(others_answered.values()),
        degraded_in_healthz=degraded_seen,
    )
    assert done, c
    assert lost == 0 and duplicated == 0 and c["incidents"] == expected, c
    assert proc.poll() is None, "the stack stopped"


def test_service_crashing_at_every_start_stops_the_stack(tmp_path, up, figures):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()  # another program holds the board's port
    port = taken.getsockname()[1]
    cfg = make_config(
        tmp_path,
        dispatch={"port": free_port()},
        dashboard={"port": port},
        supervisor={"backoff_initial_s": 0.5, "startup_s": 60, "crash_loop_exits": 3},
    )
    try:
        proc, config, log = up(cfg)
        t0 = time.monotonic()
        try:
            code = proc.wait(240)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the stack kept restarting the board for 240 s; see {log}")
        took = time.monotonic() - t0
    finally:
        taken.close()
    out = log.read_text(errors="replace")
    figures.update(
        fault="board port taken by another program (crashes at every start)",
        exit_code=code,
        stopped_after_s=round(took, 1),
    )
    assert code != 0, out[-3000:]
    assert "service dashboard keeps crashing at start-up: 3 exits in a row" in out, out[-3000:]
    assert str(cfg.data / "logs" / "dashboard.log") in out and "configuration error" in out
    assert f"Port {port} is in use" in out  # the log's last lines show why
    doc = read_state(state_path(cfg.data))
    assert doc["services"]["dashboard"]["state"] == "failed"
    assert doc["services"]["dashboard"]["restarts"] == 2
    assert {s["state"] for n, s in doc["services"].items() if n != "dashboard"} == {"stopped"}
    assert status(config).returncode == 3
    left = subprocess.run(["pgrep", "-f", str(cfg.data)], capture_output=True)
    assert left.returncode == 1, "services left running after the stack stopped"
