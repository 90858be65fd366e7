"""The whole stack as a user runs it: ``cityops up`` starts embedded Redis and the three services,
a clip is watched in real time, and the finding reaches the board's live data."""

import os
import signal
import subprocess
import sys
import time

import yaml

from tests.conftest import ROOT, SMALL_GRID, free_port
from tests.helpers import wait_http
from vision.sources import demo_clip_camera, make_demo_clip


def test_up_runs_clip_to_board_with_embedded_redis(tmp_path):
    clip = make_demo_clip(tmp_path / "clip.avi")
    port = free_port()
    cfg = {
        "data_dir": str(tmp_path / "data"),
        "grid": SMALL_GRID,
        "roster": [{"id": "insp-all", "name": "All", "cells": ["130203"]}],
        "cameras": [demo_clip_camera(clip, id="cam-gen")],
        "dashboard": {"port": port, "live_token": "stack-test-wall-token-0123456789"},
        "dispatch": {"port": free_port()},
    }
    live_url = f"http://127.0.0.1:{port}/api/live?token=stack-test-wall-token-0123456789"  # staff data
    path = tmp_path / "cityops.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CITYOPS_DATA_DIR")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityops", "up", "--config", str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/live", timeout=60)
        deadline = time.monotonic() + 60
        incidents = []
        while time.monotonic() < deadline and not incidents:
            incidents = wait_http(live_url)["incidents"]
            time.sleep(0.5)
        assert incidents, "no incident reached the board within 60 s"
        inc = incidents[0]
        assert (
            inc["type"] == "illegal_parking"
            and inc["state"] == "dispatched"
            and inc["assignee"] == "insp-all"
        )
        assert (tmp_path / "data" / inc["evidence"]).is_file()
        assert any((tmp_path / "data" / "redis").glob("appendonly*")), "embedded Redis keeps no AOF"
        live = wait_http(live_url)
        assert live["cameras"][0]["camera_id"] == "cam-gen" and live["cameras"][0]["state"] == "online"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "started embedded Redis" in out and "board at http://127.0.0.1:" in out
    # nothing left behind: the embedded server stopped with the stack
    assert "stopped" in out
    res = subprocess.run(["pgrep", "-f", str(tmp_path / "data" / "redis")], capture_output=True)
    assert res.returncode == 1, "embedded Redis still running after the stack stopped"


def test_up_with_redis_url_starts_no_server(tmp_path, redis_url):
    path = tmp_path / "cityops.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "grid": SMALL_GRID,
                "dashboard": {"port": free_port()},
                "dispatch": {"port": free_port()},
            }
        )
    )
    env = {**os.environ, "REDIS_URL": redis_url}
    res = subprocess.run(
        [sys.executable, "-m", "cityops", "up", "--config", str(path), "--seconds", "4"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert f"using Redis at {redis_url}" in out and "embedded redis" not in out.lower()
    assert "embedded valkey" not in out.lower()
    assert not (tmp_path / "data" / "redis").exists()
