"""The wall board with IoT devices (issue 14), in headless Chromium, against real processes: Mosquitto,
the iot bridge, dispatch, the API and the board. An SOS alarm published over MQTT shows as a flashing
card at the top of the ticker, the active-alarm tile counts it, the device layer colours each device
by state (alarm, ok, offline), and the device's "clear" is recorded without closing the incident."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cityops.config import CityOpsConfig
from dispatch.store import open_store
from gis.default import load_grid
from iot import devices as registry
from iot.kinds import alarm_topic
from tests.conftest import OUTPUT, SMALL_GRID, free_port
from tests.helpers import MqttPublisher, alarm_json, iot_devices, launch_browser
from tests.services import services, write_config

DEVICE_TRACE = (
    "() => document.querySelector('#board-map .js-plotly-plot').data.find(t => t.name === 'devices')"
)


@pytest.mark.browser
def test_sos_alarm_on_the_board(tmp_path, redis_url, mqtt_broker):
    from playwright.sync_api import sync_playwright

    cfg = CityOpsConfig.model_validate(
        {"data_dir": str(tmp_path / "data"), "grid": SMALL_GRID, "store": {"url": f"sqlite:///{tmp_path}/c.db"},
         "roster": [{"id": "duty", "name": "Community duty", "cells": ["130203"], "role": "supervisor"}],
         "dispatch": {"port": free_port()}, "dashboard": {"port": free_port(), "refresh_ms": 500},
         "iot": {"mqtt_url": mqtt_broker.url, "offline_check_s": 1}}
    )  # fmt: skip
    grid = load_grid(cfg.grid, cfg.data)
    rows = [
        {**iot_devices(grid, 3)[0], "id": "sos-1", "kind": "sos_wristband"},
        {**iot_devices(grid, 3)[1], "id": "gas-1", "kind": "gas"},
        {**iot_devices(grid, 3)[2], "id": "leak-1", "kind": "water_leak", "heartbeat_s": 2},  # goes silent
    ]
    engine, sessions = open_store(cfg.store_url)
    registry.register(sessions, grid, rows, datetime.now(UTC))
    engine.dispose()
    path = write_config(cfg, tmp_path / "cfg.yaml")
    board_url = f"http://127.0.0.1:{cfg.dashboard.port}"
    with services(cfg, path, redis_url, ("dispatch", "api", "dashboard", "iot")), sync_playwright() as p:
        pub = MqttPublisher(mqtt_broker.url)
        ctx = launch_browser(p, tmp_path)
        board = ctx.pages[0] if ctx.pages else ctx.new_page()
        errors = []
        board.on("pageerror", lambda e: errors.append(str(e)))
        board.goto(board_url + "/?lang=en")
        board.wait_for_selector("#board-map .js-plotly-plot", timeout=60000)
        # the device layer: every registered device, coloured by state (leak-1 turns grey: offline)
        board.wait_for_function(
            f"() => {{ const t = ({DEVICE_TRACE})(); return t && t.lon.length === 3 && t.marker.color.includes('#8c8c8c'); }}",
            timeout=30000,
        )
        pub.publish(alarm_topic("sos-1"), alarm_json("sos-1", kind="sos_wristband", n=1))
        card = board.wait_for_selector(".alarm-card.alarm-sos_call", timeout=30000)
        assert "SOS" in card.inner_text() and "Community duty" not in card.inner_text()
        assert (
            board.evaluate("() => getComputedStyle(document.querySelector('.alarm-card')).animationName")
            == "alarm-flash"
        )
        first = board.evaluate("() => document.querySelector('#ticker').firstElementChild.className")
        assert "alarm-card" in first  # at the top of the ticker
        board.wait_for_function(
            "() => document.querySelector('#kpi-alarms').textContent === '1'", timeout=30000
        )
        board.wait_for_function(
            f"() => ({DEVICE_TRACE})().marker.color.includes('#ff3b30')", timeout=30000
        )  # sos-1 red
        assert not board.query_selector("audio, video[autoplay]")  # sound-free
        board.wait_for_timeout(600)
        board.screenshot(path=str(OUTPUT / "board-iot-sos-1920x1080.png"))
        # the device says clear: recorded on the incident, which stays open (the card stays)
        pub.publish(alarm_topic("sos-1"), alarm_json("sos-1", kind="sos_wristband", n=2, state="clear"))
        board.wait_for_function(
            "() => document.querySelector('.alarm-card') && "
            "document.querySelector('.alarm-card').textContent.includes('device reports clear')",
            timeout=30000,
        )
        board.wait_for_function(f"() => !({DEVICE_TRACE})().marker.color.includes('#ff3b30')", timeout=30000)
        pub.close()
        ctx.close()
    assert not errors, errors


# -- the parts, without a browser -------------------------------------------------------------------
def _ctx(tmp_path):
    from dashboard.context import DashContext
    from dashboard.live import LiveState
    from tests.conftest import make_config

    cfg = make_config(tmp_path)
    return DashContext(cfg, LiveState("redis://127.0.0.1:1/0"), load_grid(cfg.grid, cfg.data), None)


def _health(ctx, k: int, state: str):
    from streams.schemas import DeviceHealth, encode

    p = ctx.grid.cells[k].geometry.representative_point()
    msg = DeviceHealth(device_id=f"d{k}", device_kind="gas", lon=p.x, lat=p.y, state=state)
    return ctx.live.apply(encode(msg))


def test_device_layer_is_patched_only_when_a_device_changes(tmp_path):
    from dashboard.pages import board

    ctx = _ctx(tmp_path)
    assert _health(ctx, 0, "ok") and _health(ctx, 1, "ok")
    view = board.ClientView(0, {})
    fig = board.map_figure(ctx, {}, [], [], "en", view)
    k = view.traces["devices"]
    assert fig["data"][k]["marker"]["color"] == ["#52c41a", "#52c41a"]
    assert not _health(ctx, 1, "ok")  # a snapshot repeating a state changes nothing
    quiet = board.map_patch(ctx, view, {}, [], [], "en").to_plotly_json()
    assert not any(str(op.get("location", [None, k])[1]) == str(k) for op in quiet["operations"])
    assert _health(ctx, 1, "alarm") and _health(ctx, 2, "offline")  # a change, and a new device
    ops = board.map_patch(ctx, view, {}, [], [], "en").to_plotly_json()["operations"]
    colours = next(op["params"]["value"] for op in ops if op["location"] == ["data", k, "marker", "color"])
    assert colours == ["#52c41a", "#ff3b30", "#8c8c8c"]
    text = next(op["params"]["value"] for op in ops if op["location"] == ["data", k, "text"])
    assert text[1] == "Gas detector d1 · alarm"


def test_alarm_cards_most_urgent_first_and_console_source_column(tmp_path):
    from dashboard.iot_board import active_alarms
    from dashboard.pages import console
    from streams.schemas import IncidentEvent

    ctx = _ctx(tmp_path)
    now = datetime.now(UTC)

    def ev(i, type_, state="dispatched"):
        return IncidentEvent(incident_id=i, version=1, action="created", state=state, type=type_, lon=118.19,
                             lat=39.65, at=now, opened_at=now, source="device")  # fmt: skip

    incs = [ev(1, "water_leak"), ev(2, "sos_call"), ev(3, "gas_leak", "resolved"), ev(4, "illegal_parking"),
            ev(5, "device_offline"), ev(6, "gas_leak")]  # fmt: skip
    assert [i.incident_id for i in active_alarms(incs)] == [2, 6, 1]  # resolved, camera, offline: no card
    row = {"id": 1, "type": "sos_call", "source": "device", "state": "new", "cell": None, "assignee": None,
           "count": 1, "opened_at": now.isoformat(), "breaches": [], "version": 1, "due": {}}  # fmt: skip
    assert console.rows(ctx, [row], "zh-CN")[0]["source"] == "物联设备"
