"""The board's /api/live (issue 16 item 10): anonymous callers get what a public map may show (type,
state, cell, a position rounded to ~100 m); staff data (assignee, actor, notes, evidence, exact
position) only with the board token or a dispatch API login, e.g. a read-only ``viewer`` account
created with ``cityops users add --role viewer``. Real API and board processes, real Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from cityops.config import CityOpsConfig
from streams.bus import connect, publish
from streams.schemas import CAMERA_HEALTH, INCIDENTS, CameraHealth, IncidentEvent
from tests.conftest import ROOT, free_port
from tests.reliability.harness import wait_until
from tests.services import services, write_config

BOARD_TOKEN = "wall-screen-token-0123456789abcdef"
NOTE = "gate code 4711, ask for Mr Zhang"
LON, LAT = 118.1912345, 39.6398765


@pytest.fixture
def board(tmp_path, redis_url):
    cfg = CityOpsConfig.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "store": {"url": f"sqlite:///{tmp_path}/cityops.db"},
            "dispatch": {"port": free_port()},
            "dashboard": {"port": free_port(), "live_token": BOARD_TOKEN},
        }
    )
    path = write_config(cfg, tmp_path / "cfg.yaml")
    from dispatch.store import open_store

    open_store(cfg.store_url)[0].dispose()
    add = subprocess.run(
        [sys.executable, "-m", "cityops", "users", "add", "wall-1", "--role", "viewer", "--password-stdin",
         "--config", str(path)],
        input="wall-password-1\n", capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    r = connect(redis_url)
    now = datetime.now(UTC)
    publish(r, CAMERA_HEALTH, CameraHealth(camera_id="cam-1", state="online", fps=5))
    publish(r, INCIDENTS, IncidentEvent(incident_id=7, version=2, action="transition", state="on_site",
                                        type="exposed_rubbish", cell="130203001001", lon=LON, lat=LAT,
                                        assignee="insp-zhang", actor="zhang.wei", note=NOTE,
                                        evidence="photos/20261125/x.jpg", at=now, opened_at=now))  # fmt: skip
    with services(cfg, path, redis_url, ("api", "dashboard")):
        yield cfg


def get(url: str, headers: dict | None = None) -> dict:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def login(cfg, user: str, password: str) -> str:
    req = urllib.request.Request(
        f"http://127.0.0.1:{cfg.dispatch.port}/api/v1/login",
        data=json.dumps({"username": user, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())["token"]


def test_anonymous_live_feed_has_no_staff_data(board):
    url = f"http://127.0.0.1:{board.dashboard.port}/api/live"
    live = wait_until(lambda: (j := get(url)) and j["incidents"] and j, 30)
    text = json.dumps(live)
    inc = live["incidents"][0]
    assert inc["type"] == "exposed_rubbish" and inc["state"] == "on_site" and inc["cell"] == "130203001001"
    for secret in ("insp-zhang", "zhang.wei", "Zhang", "4711", "photos/", str(LON), str(LAT)):
        assert secret not in text, f"{secret!r} in the anonymous feed"
    assert abs(inc["lon"] - LON) < 0.001 and abs(inc["lat"] - LAT) < 0.001  # still on the right block
    assert live["cameras"] == [{"camera_id": "cam-1", "state": "online"}]
    for headers in ({"X-Board-Token": "wrong" * 8}, {"Authorization": "Bearer not-a-token"}):
        assert "insp-zhang" not in json.dumps(get(url, headers))
    assert "insp-zhang" not in json.dumps(get(url + "?token=" + "x" * 34))


def test_staff_data_with_the_board_token_or_a_viewer_login(board):
    url = f"http://127.0.0.1:{board.dashboard.port}/api/live"
    wait_until(lambda: get(url)["incidents"], 30)
    viewer = login(board, "wall-1", "wall-password-1")
    for live in (
        get(f"{url}?token={BOARD_TOKEN}"),
        get(url, {"X-Board-Token": BOARD_TOKEN}),
        get(url, {"Authorization": f"Bearer {viewer}"}),
    ):
        inc = live["incidents"][0]
        assert live["staff"] is True
        assert (inc["assignee"], inc["actor"], inc["note"]) == ("insp-zhang", "zhang.wei", NOTE)
        assert (inc["lon"], inc["lat"]) == (LON, LAT)
        assert live["cameras"][0]["fps"] == 5
    # a wall screen's account is no desk account
    req = urllib.request.Request(
        f"http://127.0.0.1:{board.dispatch.port}/api/v1/incidents",
        headers={"Authorization": f"Bearer {viewer}"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 403
