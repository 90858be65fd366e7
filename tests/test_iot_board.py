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
