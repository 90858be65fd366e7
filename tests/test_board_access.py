"""The board's /api/live (issue 16 item 10): anonymous callers get what a public map may show (type,
state, cell, a position rounded to ~100 m); staff data (assignee, actor, notes, evidence, exact
position) only with the board token or a dispatch API login, e.g. a read-only ``viewer`` account
created with ``cityops users add --role viewer``. With the board token set, the wall board page
itself and its live data (cards, push stream, callbacks) are for staff too: a wall screen opens it
with ``?token=`` and keeps a cookie; others get a page saying so and 403. Real API and board
processes, real Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from cityops.config import CityOpsConfig
from streams.bus import connect, publish
from streams.schemas import CAMERA_HEALTH, INCIDENTS, CameraHealth, IncidentEvent
from tests.conftest import OUTPUT, ROOT, free_port
from tests.reliability.harness import wait_until
from tests.services import services, write_config

BOARD_TOKEN = "wall-screen-token-0123456789abcdef"
NOTE = "gate code 4711, ask for Mr Zhang"
LON, LAT = 118.1912345, 39.6398765


@pytest.fixture
def board_services(tmp_path, redis_url):
    """The API and the board with a board token, a viewer account and an incident with staff data:
    (config, the service processes by name)."""
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
    with services(cfg, path, redis_url, ("api", "dashboard")) as procs:
        yield cfg, procs


@pytest.fixture
def board(board_services):
    return board_services[0]


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


def fetch(url: str, headers: dict | None = None, body: dict | None = None) -> tuple[int, str, dict]:
    """(status, body text, headers) of a GET (or a POST of ``body`` as JSON); errors are answers too."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={**(headers or {}),
                                 **({"Content-Type": "application/json"} if data else {})})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace"), dict(err.headers)


#: the board's incident-detail callback, as Dash's renderer asks for it (a hostile client can too)
FOCUS = {
    "output": "..board-detail.children...board-detail.className..",
    "outputs": [
        {"id": "board-detail", "property": "children"},
        {"id": "board-detail", "property": "className"},
    ],
    "inputs": [{"id": "board-focus", "property": "value", "value": 7}],
    "state": [{"id": "board-lang", "property": "data", "value": "en"}],
    "changedPropIds": ["board-focus.value"],
}


def assert_wall_sees_the_board(base: str) -> None:
    """A wall screen's requests (its page's Referer and the board cookie) get the board, its cards and
    an incident's detail, with the staff data in them."""
    wall = {"Referer": f"{base}/?lang=en", "Cookie": f"cityops_board={BOARD_TOKEN}"}
    status, layout, _ = fetch(f"{base}/_dash-layout", wall)
    assert status == 200 and "board-map" in layout and "board-refused" not in layout
    status, cards, _ = fetch(f"{base}/board/cards?lang=en", wall)
    assert status == 200 and "insp-zhang" in cards
    status, detail, _ = fetch(f"{base}/_dash-update-component", wall, FOCUS)
    assert status == 200 and "insp-zhang" in detail


def camera_wall(token: str) -> dict:
    """The camera wall's tiles callback, as its page asks for it with a login (``token``)."""
    outs = [("cam-total", "children"), ("cam-groups", "children"), ("cam-tiles", "children"),
            ("cam-pager", "children"), ("cam-version", "data")]  # fmt: skip
    ins = [("cam-token", "data", token), ("cam-filter", "value", "all"), ("cam-by", "value", "street"),
           ("cam-group", "data", None), ("cam-page", "data", 0), ("cam-tick", "n_intervals", 1)]  # fmt: skip
    return {
        "output": ".." + "...".join(f"{i}.{p}" for i, p in outs) + "..",
        "outputs": [{"id": i, "property": p} for i, p in outs],
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in ins],
        "state": [
            {"id": "cam-version", "property": "data", "value": None},
            {"id": "cam-lang", "property": "data", "value": "en"},
        ],  # fmt: skip
        "changedPropIds": ["cam-tick.n_intervals"],
    }


def test_the_wall_board_and_its_live_data_are_for_staff_when_a_board_token_is_set(board):
    """The board shows inspectors, exact positions and evidence: with ``dashboard.live_token`` set,
    its page, cards, push stream and callbacks answer only the token (or a login); the page opened
    with ``?token=`` keeps it in an HttpOnly cookie for its own requests."""
    base = f"http://127.0.0.1:{board.dashboard.port}"
    wait_until(lambda: get(f"{base}/api/live")["incidents"], 30)
    page = {"Referer": f"{base}/?lang=en"}  # Dash's layout request names the page by its Referer

    status, layout, _ = fetch(f"{base}/_dash-layout", page)
    assert status == 200 and "board-refused" in layout and "This wall board is for staff" in layout
    assert "board-map" not in layout and "insp-zhang" not in layout and str(LON) not in layout
    status, zh, _ = fetch(f"{base}/_dash-layout", {"Referer": f"{base}/?lang=zh-CN"})
    assert "此大屏仅供工作人员查看" in json.dumps(json.loads(zh), ensure_ascii=False)
    for url in (f"{base}/board/cards", f"{base}/board/events"):
        status, text, _ = fetch(url)
        assert status == 403 and "insp-zhang" not in text, (url, status)
    status, text, _ = fetch(f"{base}/_dash-update-component", page, FOCUS)
    assert status == 403 and "insp-zhang" not in text
    for wrong in ({"Cookie": "cityops_board=" + "x" * 34}, {"X-Board-Token": "wrong" * 8}):
        assert fetch(f"{base}/board/cards", wrong)[0] == 403

    # the wall screen's address: the page, and a cookie for what the page asks next
    status, _, headers = fetch(f"{base}/?token={BOARD_TOKEN}")
    cookie = headers.get("Set-Cookie", "")
    assert status == 200 and cookie.startswith(f"cityops_board={BOARD_TOKEN};"), cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=" in cookie
    assert_wall_sees_the_board(base)
    viewer = login(board, "wall-1", "wall-password-1")  # a login serves too (an API client)
    assert fetch(f"{base}/board/cards", {"Authorization": f"Bearer {viewer}"})[0] == 200
    # the other pages stay as they were: the public reports page opens without a token
    status, layout, _ = fetch(f"{base}/_dash-layout", {"Referer": f"{base}/reports?lang=en"})
    assert status == 200 and "board-refused" not in layout


def test_with_the_api_down_the_board_token_still_opens_the_board_and_a_login_is_told_why(board_services):
    """The dispatch API stops mid-shift. A wall screen with the board token keeps its board: the token
    needs no API. A login the board has not checked yet cannot be checked now, and the answer says so
    (503, and why), rather than refusing it as if it were wrong; /api/live gives it the public feed.
    Anonymous callers are still refused."""
    cfg, procs = board_services
    base = f"http://127.0.0.1:{cfg.dashboard.port}"
    wait_until(lambda: get(f"{base}/api/live")["incidents"], 30)
    cams = {"Referer": f"{base}/cameras?lang=en"}
    seen = login(cfg, "wall-1", "wall-password-1")
    status, text, _ = fetch(f"{base}/_dash-update-component", cams, camera_wall(seen))
    assert status == 200, (status, text[:500])
    shown = json.loads(text)["response"]  # the camera wall, for a login
    assert set(shown) >= {"cam-total", "cam-tiles"} and "unavailable" not in text
    time.sleep(1.1)  # a login's token names the second it was issued in: the next one differs
    fresh = login(cfg, "wall-1", "wall-password-1")  # never shown to the board: not in its caches
    assert fresh != seen
    procs["api"].terminate()
    procs["api"].wait(10)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{cfg.dispatch.port}/healthz", timeout=5)

    assert_wall_sees_the_board(base)  # the token needs no API

    for url in (f"{base}/board/cards", f"{base}/board/events"):
        status, text, _ = fetch(url, {"Authorization": f"Bearer {fresh}"})
        assert status == 503 and "dispatch API does not answer" in text and "board token" in text, (url, text)
        assert "insp-zhang" not in text
    live = get(f"{base}/api/live", {"Authorization": f"Bearer {fresh}"})
    assert live["staff"] is False and "assignee" not in live["incidents"][0]
    assert live["incidents"][0]["lon"] == round(LON, 3)
    assert fetch(f"{base}/board/cards")[0] == 403
    # the camera wall (its own login, not the board's token) says the service is away, not that the
    # login ended, and keeps the tiles it shows
    status, text, _ = fetch(f"{base}/_dash-update-component", cams, camera_wall(fresh))
    answer = json.loads(text)["response"]
    assert status == 200 and "unavailable" in json.dumps(answer["cam-total"]) and "ended" not in text
    assert set(answer) == {"cam-total", "cam-version"} and answer["cam-version"]["data"] is None


@pytest.mark.browser
def test_a_wall_screen_opens_the_board_with_its_token_and_others_get_a_clear_page(tmp_path, board):
    from playwright.sync_api import expect, sync_playwright

    from tests.helpers import MAP_PAINTED, launch_browser

    base = f"http://127.0.0.1:{board.dashboard.port}"
    wait_until(lambda: get(f"{base}/api/live")["incidents"], 30)
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.new_page()
        page.goto(f"{base}/?lang=en")
        expect(page.locator("#board-refused")).to_contain_text("This wall board is for staff", timeout=30_000)
        expect(page.locator("#board-refused")).to_contain_text("?token=")
        page.screenshot(path=str(OUTPUT / "board-for-staff.png"))
        assert page.locator("#board-map").count() == 0
        page.goto(f"{base}/?token={BOARD_TOKEN}&lang=en")  # how a wall screen is set up
        page.wait_for_function(MAP_PAINTED, arg=None, timeout=90_000, polling=200)
        expect(page.locator("#ticker .incident")).to_have_count(1, timeout=30_000)  # the live cards
        page.goto(f"{base}/?lang=en")  # later loads: the cookie
        page.wait_for_function(MAP_PAINTED, arg=None, timeout=90_000, polling=200)
        expect(page.locator("#ticker .incident")).to_contain_text("insp-zhang", timeout=30_000)
        ctx.close()
        other = launch_browser(p, tmp_path / "other")  # another browser: no cookie
        page = other.new_page()
        page.goto(f"{base}/?lang=zh-CN")
        expect(page.locator("#board-refused")).to_contain_text("此大屏仅供工作人员查看", timeout=30_000)
        other.close()
