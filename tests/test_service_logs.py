"""Quiet service logs (issue 11 item 12): the real dispatch, API and board processes run briefly; their
logs have no Alembic plugin lines, one line per detection, no HTTP-client line per poll, and every
time in the configured zone with its offset."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from dispatch.accounts import create_user
from dispatch.store import open_store
from gis.default import load_grid
from streams.bus import connect, publish
from streams.schemas import DETECTIONS, Detection
from tests.conftest import OUTPUT, free_port, make_config
from tests.services import services, write_config

LEVELS = re.compile(r" (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def _get(url: str, token: str | None = None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _login(port: int) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/login", method="POST",
                                 data=json.dumps({"username": "olga", "password": "olga-password"}).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["token"]


@pytest.mark.parametrize("zone, offset", [("Asia/Shanghai", r"\+08:00"), ("America/New_York", "-0[45]:00")])
def test_service_logs_are_quiet_and_zoned(tmp_path, redis_url, zone, offset):
    cfg = make_config(tmp_path, timezone=zone, dispatch={"port": free_port()},
                      dashboard={"port": free_port(), "refresh_ms": 500})  # fmt: skip
    engine, sessions = open_store(cfg.store_url)
    create_user(sessions, "olga", "olga-password", "operator")
    engine.dispose()
    grid = load_grid(cfg.grid, cfg.data)
    path = write_config(cfg, tmp_path / "cfg.yaml")
    r = connect(redis_url)
    api = f"http://127.0.0.1:{cfg.dispatch.port}"
    with services(cfg, path, redis_url, ("dispatch", "api", "dashboard")) as procs:
        token = _login(cfg.dispatch.port)
        for k in range(3):  # one at a time: each its own batch
            p = grid.cells[10 * k].geometry.representative_point()
            publish(r, DETECTIONS, Detection(id=f"logs-{k}", type="exposed_rubbish", lon=p.x, lat=p.y,
                                             observed_at=datetime.now(UTC), camera_id="cam-1"))  # fmt: skip
            end = time.monotonic() + 20
            while len(_get(f"{api}/api/v1/incidents", token)) < k + 1:
                assert time.monotonic() < end, "the detection was not taken in"
                time.sleep(0.2)
        for _ in range(5):  # the board asks the API who the token is (an HTTP client call)
            live = _get(f"http://127.0.0.1:{cfg.dashboard.port}/api/live", token)
        assert live["staff"] is True
        pids = {name: p.pid for name, p in procs.items()}
    r.close()
    logs = {name: (OUTPUT / f"service-{name}-{os.getpid()}.log").read_text() for name in pids}

    everything = "\n".join(logs.values())
    assert "alembic" not in everything and "setup plugin" not in everything
    assert "HTTP Request" not in logs["dashboard"] and "httpx" not in everything
    detection_lines = [line for line in logs["dispatch"].splitlines() if "detection" in line]
    assert len(detection_lines) == 3, detection_lines
    log_lines = [line for text in logs.values() for line in text.splitlines() if LEVELS.search(line)]
    assert len(log_lines) >= 5
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d" + offset + " ")
    assert all(stamp.match(line) for line in log_lines), [line for line in log_lines if not stamp.match(line)]
