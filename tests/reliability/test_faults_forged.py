"""Forged stream entries against the stack as ``cityops up`` runs it (embedded Valkey with one ACL
user per service, each service its own credentials).

A local process without credentials cannot append a detection or an incident event (``NOAUTH``); the
vision user cannot append an incident event (``NOPERM``), so the board cannot be shown an incident
closed that the store says is dispatched; what the vision user may append (detections) is admitted
by dispatch only with a taxonomy type and a plausible observed time, the rest is dead-lettered."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
import yaml
from sqlalchemy import create_engine, text

from gis.default import load_grid
from streams import acl
from streams.bus import connect, publish
from streams.schemas import DEAD_LETTERS, DETECTIONS, INCIDENTS, Detection, IncidentEvent, decode, encode
from tests.conftest import OUTPUT, ROOT, SMALL_GRID, free_port, make_config
from tests.reliability.harness import wait_until


@pytest.fixture
def up(tmp_path):
    """``cityops up`` in a child process; yields (data dir, board url, api url, embedded Redis port)."""
    board, api = free_port(), free_port()
    cfg = {
        "data_dir": str(tmp_path / "data"),
        "grid": SMALL_GRID,
        "roster": [{"id": "insp-all", "name": "All", "cells": ["130203"]}],
        "dispatch": {"port": api, "sla_sweep_s": 3600},
        "dashboard": {"port": board},
    }
    path = tmp_path / "cityops.yaml"
    path.write_text(yaml.safe_dump(cfg))
    log = OUTPUT / "reliability" / "forged-up.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CITYOPS_DATA_DIR")}
    env["CITYOPS_SECRET"] = "test-secret"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cityops", "up", "--config", str(path)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        found = wait_until(
            lambda: re.search(r"started embedded Redis on redis://127\.0\.0\.1:(\d+)/0", log.read_text()), 60
        )
        assert found, log.read_text()
        yield (
            tmp_path / "data",
            f"http://127.0.0.1:{board}",
            f"http://127.0.0.1:{api}",
            int(found.group(1)),
            log,
        )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code < 500
    except httpx.HTTPError:
        return False


def send_raw(port: int, *args: str) -> bytes:
    """One RESP command on a plain socket, as any local process could send it."""
    body = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(body.encode())
        return s.recv(300)


def test_forged_entries_are_refused_and_nothing_false_reaches_the_board(up, figures):
    data, board, api, port, log = up
    passwords = json.loads((data / "redis" / "acl-passwords.json").read_text())
    admin = connect(acl.user_url("127.0.0.1", port, "admin", passwords["admin"]))
    vision = connect(acl.user_url("127.0.0.1", port, "vision", passwords["vision"]))
    assert wait_until(lambda: answers(f"{board}/") and answers(f"{api}/healthz"), 90), log.read_text()
    grid = load_grid(make_config(data.parent, grid=SMALL_GRID).grid, data)
    p = grid.cells[0].geometry.representative_point()
    now = datetime.now(UTC)

    # 1. the genuine path: a vision detection becomes one dispatched incident
    publish(
        vision, DETECTIONS, Detection(id="real-1", type="illegal_parking", lon=p.x, lat=p.y, observed_at=now)
    )
    store = create_engine(f"sqlite:///{data}/cityops.db")

    def incidents():
        with store.connect() as c:
            return c.execute(text("SELECT id, type, state FROM incidents ORDER BY id")).all()

    assert wait_until(lambda: [i for i in incidents() if i.state == "dispatched"], 60), log.read_text()
    real_id = incidents()[0].id

    # 2. forgeries from a local process without credentials
    forged_det = Detection(id="forged-1", type="illegal_parking", lon=p.x, lat=p.y + 0.001, observed_at=now)
    forged_event = IncidentEvent(
        incident_id=real_id, version=99, action="transition", state="closed", type="illegal_parking",
        lon=p.x, lat=p.y, at=now, opened_at=now,
    )  # fmt: skip
    refused = 0
    for stream, msg in ((DETECTIONS, forged_det), (INCIDENTS, forged_event)):
        flat = [x for kv in encode(msg).items() for x in kv]
        assert send_raw(port, "XADD", stream, "*", *flat).startswith(b"-NOAUTH")
        assert send_raw(port, "AUTH", "default", "").startswith(b"-WRONGPASS")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, protocol=2).xadd(stream, encode(msg))
        refused += 3
    # ... and the vision user may write detections only, not incident events
    with pytest.raises(redis.exceptions.NoPermissionError):
        publish(vision, INCIDENTS, forged_event)
    refused += 1

    # 3. what the vision user may append is admitted only when plausible
    bad = {
        "unknown-type": "not_in_taxonomy",
        "markup-type": '<a href="//evil.example">x</a>',
        "ancient": "illegal_parking",
        "future": "illegal_parking",
    }
    times = {"ancient": now - timedelta(days=400), "future": now + timedelta(days=2)}
    t0 = time.monotonic()
    for k, type_ in bad.items():
        publish(
            vision,
            DETECTIONS,
            Detection(id=k, type=type_, lon=p.x, lat=p.y + 0.002, observed_at=times.get(k, now)),
        )
    dead = wait_until(lambda: admin.xlen(DEAD_LETTERS) >= len(bad) and admin.xrange(DEAD_LETTERS), 60)
    assert dead, log.read_text()
    reasons = {json.loads(f["f_data"])["id"]: f["error"] for _, f in dead}
    settled_at = time.monotonic()
    assert set(reasons) == set(bad), reasons
    assert (
        "not in the taxonomy" in reasons["unknown-type"] and "not in the taxonomy" in reasons["markup-type"]
    )
    assert "allowed age" in reasons["ancient"] and "in the future" in reasons["future"]
    others_answered = answers(f"{board}/") and answers(f"{api}/healthz")

    # nothing forged became an incident, and the incidents stream agrees with the store
    assert wait_until(lambda: admin.xpending(DETECTIONS, "dispatch")["pending"] == 0, 30)
    rows = incidents()
    events = [decode(f) for _, f in admin.xrange(INCIDENTS)]
    assert [(i.type, i.state) for i in rows] == [("illegal_parking", "dispatched")], rows
    assert {e.incident_id for e in events} == {real_id}
    newest = max((e for e in events if e.incident_id == real_id), key=lambda e: e.version)
    assert newest.state == "dispatched" and all(e.state != "closed" for e in events)
    assert not any(f["f_data"] and "forged" in f["f_data"] for _, f in dead)
    live = httpx.get(f"{board}/api/live", timeout=5)
    if live.status_code == 200:  # the wall board's feed (may need a login where the board requires one)
        shown = {i["incident_id"]: i["state"] for i in live.json()["incidents"]}
        assert shown.get(real_id, "dispatched") == "dispatched" and set(shown) <= {real_id}
    users = {c["user"] for c in admin.client_list()}  # each service connected as its own role
    assert (
        {"vision", "dispatch", "dashboard"}
        <= users
        <= {"vision", "dispatch", "api", "dashboard", "iot", "admin"}
    ), users
    out = log.read_text() + "".join(p.read_text(errors="replace") for p in (data / "logs").glob("*.log"))
    assert "one ACL user per service" in out and "NoPermissionError" not in out and "NOPERM" not in out
    figures.update(
        fault="forged stream entries: unauthenticated XADD, vision user writing incidents, bad detections",
        incidents_expected=1,
        got=len(rows),
        lost=0 if rows else 1,
        duplicated=max(0, len(rows) - 1),
        refused_by_acl=refused,
        dead_lettered=len(reasons),
        time_to_recover_s=0,  # nothing went down: the forgeries were refused, the stack kept serving
        time_to_settle_s=round(settled_at - t0, 1),
        others_answered=others_answered,
    )
