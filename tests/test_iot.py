"""IoT alarms (issue 14) with the real parts: Mosquitto, Redis, the store, the API and dispatch."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cityops.taxonomy import violation_types
from dispatch.sla import targets_for
from dispatch.store import Device, Incident, IncidentEventRow, open_store
from gis.default import load_grid
from iot import devices as registry
from iot.alarms import AlarmRefused, DeviceInfo, parse_alarm, sign, signature_ok, to_detection
from iot.kinds import INCIDENT_TYPE, alarm_topic, heartbeat_topic
from streams.schemas import DEAD_LETTERS, DETECTIONS, decode
from tests.conftest import make_config
from tests.helpers import MqttPublisher, alarm_json, iot_devices

T = datetime(2026, 11, 26, 0, 43, tzinfo=UTC)


# -- payloads and signatures (pure) -------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, why",
    [
        (b"not json {", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (alarm_json("d-1", kind="volcano"), "kind"),
        (alarm_json("d-1", when=datetime(2026, 11, 26, 0, 43)), "UTC offset"),
        (alarm_json("d-1") + b" " * 1_000_000, "larger than"),
        (alarm_json("d-2"), "differs from the topic"),
        (b"\xff\xfe garbage", "not JSON"),
    ],
)
def test_bad_payloads_are_refused_with_a_reason(raw, why):
    with pytest.raises(AlarmRefused, match=why):
        parse_alarm(raw, max_bytes=65536, topic_device="d-1")


def test_the_same_message_is_the_same_detection():
    dev = DeviceInfo("d-1", "sos_wristband", 118.19, 39.66, address="Bldg 3", protects="Mrs Li")
    a = parse_alarm(alarm_json("d-1", kind="sos_wristband", when=T, id=None), max_bytes=4096)
    b = parse_alarm(alarm_json("d-1", kind="sos_wristband", when=T, id=None), max_bytes=4096)
    later = parse_alarm(
        alarm_json("d-1", kind="sos_wristband", when=T + timedelta(seconds=1), id=None), max_bytes=4096
    )
    assert to_detection(a, dev).id == to_detection(b, dev).id != to_detection(later, dev).id
    det = to_detection(a, dev)
    assert det.type == "sos_call" and det.source == "device" and "Mrs Li" in det.description


def test_signature():
    body = alarm_json("d-1")
    good = sign("s" * 32, body)
    assert signature_ok("s" * 32, body, good)
    assert not signature_ok("s" * 32, body + b" ", good)
    assert not signature_ok("t" * 32, body, good)
    assert not signature_ok("s" * 32, body, None)


def test_alarm_types_have_their_sla():
    cfg = make_config(__import__("pathlib").Path("/tmp"))
    sos, gas, leak = (targets_for(t, cfg.sla) for t in ("sos_call", "gas_leak", "water_leak"))
    assert (sos.accept_s, sos.arrive_s) == (30, 120)
    assert (gas.accept_s, gas.arrive_s) == (60, 600)
    assert (leak.accept_s, leak.arrive_s) == (60, 3600)
    types = violation_types()
    assert all(t in types for t in INCIDENT_TYPE.values()) and types["device_offline"].severity == 1
    assert types["sos_call"].severity > types["device_offline"].severity


# -- the registry -------------------------------------------------------------------------------------
@pytest.fixture
def reg(tmp_path, store_url):
    cfg = make_config(tmp_path, store_url)
    engine, sessions = open_store(cfg.store_url)
    yield cfg, sessions, load_grid(cfg.grid, cfg.data)
    engine.dispose()


def _csv(rows: list[dict]) -> str:
    cols = list(registry.CSV_COLUMNS)
    return ",".join(cols) + "\n" + "".join(",".join(str(r.get(c, "")) for c in cols) + "\n" for r in rows)


def test_import_is_all_or_nothing(reg):
    cfg, sessions, grid = reg
    rows = iot_devices(grid, 4)
    bad = [*rows, {**rows[0], "id": "dup"}, {**rows[1], "id": "dup"}, {**rows[2], "id": "far", "lon": 10.0},
           {**rows[3], "id": "k", "kind": "toaster"}, {**rows[3], "id": "p", "contact_phone": "<script>"}]  # fmt: skip
    with pytest.raises(registry.RegistryError) as err:
        registry.register(sessions, grid, registry.read_csv(_csv(bad)), T)
    text = str(err.value)
    assert "line 7: device id 'dup' also on line 6" in text
    assert "line 8" in text and "outside the district" in text
    assert "line 9" in text and "kind" in text and "line 10" in text
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Device)) == 0  # nothing half-written
    no_secret = [{k: v for k, v in r.items() if k != "secret"} for r in rows]
    done = registry.register(sessions, grid, registry.read_csv(_csv(no_secret)), T)
    assert len(done.added) == 4 and set(done.secrets) == set(done.added)
    again = registry.register(sessions, grid, [{**no_secret[0], "address": "moved"}], T)
    assert again.updated == [rows[0]["id"]] and not again.secrets
    loaded = registry.load(sessions)
    assert loaded[rows[0]["id"]].address == "moved"
    assert loaded[rows[0]["id"]].secret == done.secrets[rows[0]["id"]]  # kept on update
    listing = registry.rows_for_listing(sessions)
    assert all("secret" not in r and r["cell"] for r in listing)


def test_csv_header_is_checked():
    with pytest.raises(
        registry.RegistryError, match=r"missing column\(s\) \['lat'\].*unknown column\(s\) \['colour'\]"
    ):
        registry.read_csv("id,kind,lon,colour\n")


def test_cli_devices(tmp_path, capsys):
    import yaml

    from cityops.cli import main

    cfg = make_config(tmp_path)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True)))
    grid = load_grid(cfg.grid, cfg.data)
    rows = iot_devices(grid, 3, kind="water_leak")
    (tmp_path / "d.csv").write_text(_csv(rows))
    assert main(["iot", "devices", "import", str(tmp_path / "d.csv"), "--config", str(path)]) == 0
    p = rows[0]
    args = ["iot", "devices", "add", "sos-1", "--kind", "sos_wristband", "--lon", str(p["lon"]),
            "--lat", str(p["lat"]), "--protects", "Mrs Li, 82", "--contact-phone", "13800000000",
            "--heartbeat-s", "600", "--config", str(path)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "3 device(s) added" in out and "webhook secret of sos-1 (shown once)" in out
    bad = [
        "iot",
        "devices",
        "add",
        "x",
        "--kind",
        "kettle",
        "--lon",
        "1",
        "--lat",
        "1",
        "--config",
        str(path),
    ]
    assert main(bad) == 2
    err = capsys.readouterr().err
    assert "nothing written" in err and "kind" in err and "outside" not in err  # the kind is named
    assert main(["iot", "devices", "list", "--json", "--config", str(path)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in listed] == ["dev-0000", "dev-0001", "dev-0002", "sos-1"]
    assert listed[-1]["protects"] == "Mrs Li, 82" and "secret" not in listed[-1]


# -- the webhook --------------------------------------------------------------------------------------
def test_webhook_signed_alarms(staff_api, r):
    api = staff_api()
    rows = iot_devices(api.grid, 2, kind="gas")
    registry.register(api.sessions, api.grid, rows, T)
    c = api.client()
    dev, secret = rows[0]["id"], rows[0]["secret"]
    body = alarm_json(dev, when=datetime.now(UTC))
    url = "/api/v1/iot/alarms"
    hdr = {"Content-Type": "application/json", "X-CityOps-Signature": sign(secret, body)}
    first = c.post(url, content=body, headers=hdr)
    assert first.status_code == 202, first.text
    retry = c.post(url, content=body, headers=hdr)  # the device did not hear the answer
    assert retry.json()["detection_id"] == first.json()["detection_id"]
    assert first.json()["incident_type"] == "gas_leak"
    entries = r.xrange(DETECTIONS)
    assert [decode(f).id for _, f in entries] == [first.json()["detection_id"]] * 2  # dispatch stores it once
    smoke = alarm_json(dev, kind="smoke")  # the device is registered as a gas detector
    refused = [
        (c.post(url, content=body, headers={**hdr, "X-CityOps-Signature": sign("wrong" * 8, body)}), 401),
        (c.post(url, content=body, headers={"Content-Type": "application/json"}), 401),
        (c.post(url, content=alarm_json("nobody"), headers=hdr), 401),
        (c.post(url, content=alarm_json("nul\x00id"), headers=hdr), 401),
        (c.post(url, content=b"not json", headers=hdr), 422),
        (c.post(url, content=smoke, headers={**hdr, "X-CityOps-Signature": sign(secret, smoke)}), 422),
        (c.post(url, content=b"x" * 1_000_000, headers=hdr), 413),
    ]  # fmt: skip
    assert [res.status_code for res, _ in refused] == [want for _, want in refused]
    assert "larger than" in refused[-1][0].json()["detail"]
    reasons = [f["error"] for _, f in r.xrange(DEAD_LETTERS)]
    assert any("wrong signature" in x for x in reasons) and any("unknown device" in x for x in reasons)
    assert any("registered as gas" in x for x in reasons) and any("not JSON" in x for x in reasons)
    assert len(r.xrange(DETECTIONS)) == 2  # nothing refused reached dispatch


# -- the bridge with a real broker -----------------------------------------------------------------------
@pytest.fixture
def bridge_setup(tmp_path, redis_url, mqtt_broker):
    from iot.bridge import Bridge

    cfg = make_config(tmp_path, iot={"mqtt_url": mqtt_broker.url, "offline_check_s": 3600})
    engine, sessions = open_store(cfg.store_url)
    grid = load_grid(cfg.grid, cfg.data)
    stop = threading.Event()
    bridges = []

    def start() -> Bridge:
        b = Bridge(cfg, redis_url, mqtt_broker.url)
        t = threading.Thread(target=b.run, args=(stop,), daemon=True)
        t.start()
        assert b.connected.wait(10)
        bridges.append((b, t))
        return b

    yield cfg, sessions, grid, start, stop, bridges
    stop.set()
    for _, t in bridges:
        t.join(10)
    engine.dispose()


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    return cond()


def test_bridge_publishes_alarms_and_survives_bad_payloads(bridge_setup, r, mqtt_broker):
    cfg, sessions, grid, start, stop, bridges = bridge_setup
    rows = iot_devices(grid, 3, kind="sos_wristband")
    registry.register(sessions, grid, rows, T)
    bridge = start()
    pub = MqttPublisher(mqtt_broker.url)
    try:
        dev = rows[0]["id"]
        pub.publish(alarm_topic(dev), b"{not json")
        pub.publish(alarm_topic(dev), alarm_json(dev, kind="volcano"))
        pub.publish(alarm_topic(dev), alarm_json(dev, kind="gas"))  # registered as a wristband
        pub.publish(alarm_topic("ghost-7"), alarm_json("ghost-7", kind="sos_wristband"))
        pub.publish(
            alarm_topic(dev), b'{"device_id": "' + dev.encode() + b'", "pad": "' + b"x" * 1_000_000 + b'"}'
        )
        pub.publish(alarm_topic(dev), alarm_json(dev, kind="sos_wristband", n=1))
        pub.publish(alarm_topic(dev), alarm_json(dev, kind="sos_wristband", n=1))  # a repeat
        assert wait_for(lambda: len(r.xrange(DETECTIONS)) >= 2 and len(r.xrange(DEAD_LETTERS)) >= 5)
    finally:
        pub.close()
    dets = [decode(f) for _, f in r.xrange(DETECTIONS)]
    assert {d.id for d in dets} == {f"iot:{dev}:m1"} and dets[0].type == "sos_call"
    reasons = " | ".join(f["error"] for _, f in r.xrange(DEAD_LETTERS))
    for why in ("not JSON", "kind", "registered as sos_wristband", "unknown device 'ghost-7'", "larger than"):
        assert why in reasons, (why, reasons)
    assert bridges[0][1].is_alive() and bridge.stats.refused == 5


def test_alarm_becomes_incident_clear_is_recorded(bridge_setup, r, mqtt_broker, redis_url):
    from dispatch.service import DispatchService

    cfg, sessions, grid, start, stop, _ = bridge_setup
    roster = [
        {"id": "comm-sup", "name": "Community duty", "cells": [grid.cells[0].code[:9]], "role": "supervisor"}
    ]
    cfg = cfg.model_copy(update={"roster": make_config(cfg.data.parent, roster=roster).roster})
    rows = iot_devices(grid, 1, kind="sos_wristband")
    registry.register(sessions, grid, rows, T)
    start()
    svc = DispatchService(cfg, redis_url, consumer="t")
    svc.consumer.setup()
    pub = MqttPublisher(mqtt_broker.url)
    dev = rows[0]["id"]
    now = datetime.now(UTC)
    try:
        pub.publish(alarm_topic(dev), alarm_json(dev, kind="sos_wristband", n=1, when=now))
        pub.publish(alarm_topic(dev), alarm_json(dev, kind="sos_wristband", n=1, when=now))  # QoS 1 repeat
        assert wait_for(lambda: len(r.xrange(DETECTIONS)) >= 2)
        svc.step(100)
        pub.publish(
            alarm_topic(dev),
            alarm_json(dev, kind="sos_wristband", n=2, state="clear", when=now + timedelta(seconds=5)),
        )
        assert wait_for(lambda: len(r.xrange(DETECTIONS)) >= 3)
        svc.step(100)
    finally:
        pub.close()
        svc.parts.close()
    with sessions() as s:
        incs = s.scalars(select(Incident)).all()
        assert len(incs) == 1
        inc = incs[0]
        assert (inc.type, inc.source, inc.count) == ("sos_call", "device", 1)
        assert inc.state in ("dispatched", "new") and inc.state != "closed"  # a clear does not close it
        assert inc.assignee == "comm-sup"  # the community on duty
        events = [
            (e.action, e.note) for e in s.scalars(select(IncidentEventRow).order_by(IncidentEventRow.id))
        ]
    assert [a for a, _ in events].count("device_clear") == 1
    assert any("reported clear" in n for _, n in events)
    from streams.schemas import INCIDENTS

    published = [decode(f) for _, f in r.xrange(INCIDENTS)]
    assert {e.source for e in published} == {"device"} and "device_clear" in {e.action for e in published}


def test_bridge_restart_loses_nothing(bridge_setup, r, mqtt_broker):
    """Alarms sent while the bridge is away wait in its persistent session on the broker."""
    cfg, sessions, grid, start, stop, bridges = bridge_setup
    rows = iot_devices(grid, 20, kind="water_leak")
    registry.register(sessions, grid, rows, T)
    start()
    stop.set()
    bridges[0][1].join(10)
    stop.clear()
    pub = MqttPublisher(mqtt_broker.url)
    try:
        for i in range(200):
            d = rows[i % 20]["id"]
            pub.publish(alarm_topic(d), alarm_json(d, kind="water_leak", n=i))
        assert wait_for(lambda: pub.acked == 200)
        start()
        assert wait_for(lambda: len({decode(f).id for _, f in r.xrange(DETECTIONS)}) == 200)
    finally:
        pub.close()


def test_silent_device_raises_one_offline_finding(bridge_setup, r, mqtt_broker, redis_url):
    from iot.bridge import Bridge

    cfg, sessions, grid, *_ = bridge_setup
    rows = iot_devices(grid, 2, kind="smoke", heartbeat_s=60)
    rows[1]["heartbeat_s"] = 0  # not watched
    registry.register(sessions, grid, rows, T)
    b = Bridge(cfg, redis_url, mqtt_broker.url)
    try:
        now = datetime.now(UTC)
        assert b.check_offline(now) == []  # first sight: the silence starts now
        assert b.check_offline(now + timedelta(seconds=30)) == []
        late = b.check_offline(now + timedelta(seconds=61))
        assert [d.device_id for d in late] == [rows[0]["id"]] and late[0].type == "device_offline"
        assert b.check_offline(now + timedelta(seconds=120)) == []  # once per silence
        b.send([], seen={rows[0]["id"]: (now + timedelta(seconds=130)).isoformat()})  # a heartbeat
        assert b.check_offline(now + timedelta(seconds=150)) == []
        again = b.check_offline(now + timedelta(seconds=200))
        assert len(again) == 1 and again[0].id != late[0].id
        ids = [decode(f).id for _, f in r.xrange(DETECTIONS)]
        assert ids == [late[0].id, again[0].id]
    finally:
        b.close()


def test_heartbeat_topic_counts_as_contact(bridge_setup, r, mqtt_broker):
    cfg, sessions, grid, start, *_ = bridge_setup
    rows = iot_devices(grid, 1, kind="gas", heartbeat_s=0)  # not watched: only a contact writes its time
    registry.register(sessions, grid, rows, T)
    b = start()
    pub = MqttPublisher(mqtt_broker.url)
    t0 = datetime.now(UTC)
    assert r.hget("cityops:iot:seen", rows[0]["id"]) is None

    def contact() -> datetime | None:
        raw = r.hget("cityops:iot:seen", rows[0]["id"])
        return datetime.fromisoformat(raw) if raw else None

    try:
        pub.publish(heartbeat_topic(rows[0]["id"]), b"{}")
        assert wait_for(lambda: b.stats.heartbeats == 1)
        assert wait_for(lambda: (contact() or t0 - timedelta(days=1)) >= t0)
        pub.publish(heartbeat_topic("not-registered"), b"{}")  # counted, but no contact is kept
        assert wait_for(lambda: b.stats.heartbeats == 2)
        assert r.hget("cityops:iot:seen", "not-registered") is None
    finally:
        pub.close()


# -- the whole stack ----------------------------------------------------------------------------------
def test_up_starts_broker_and_bridge_sos_reaches_the_board(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    import yaml

    from cityops.cli import main
    from iot.broker import BrokerError, find_mosquitto
    from tests.conftest import ROOT, SMALL_GRID, free_port
    from tests.helpers import wait_http

    try:
        find_mosquitto()
    except BrokerError as exc:
        pytest.skip(f"mosquitto cannot run here: {exc}")
    port, token = free_port(), "iot-stack-test-wall-token-0123456789"
    raw = {
        "data_dir": str(tmp_path / "data"),
        "grid": SMALL_GRID,
        "roster": [{"id": "comm-duty", "name": "Duty", "cells": ["130203"], "role": "supervisor"}],
        "dashboard": {"port": port, "live_token": token},
        "dispatch": {"port": free_port()},
    }
    path = tmp_path / "cityops.yaml"
    path.write_text(yaml.safe_dump(raw))
    grid = load_grid(make_config(tmp_path, grid=SMALL_GRID).grid, tmp_path / "data")
    dev = iot_devices(grid, 1, kind="sos_wristband")[0]
    args = ["iot", "devices", "add", "sos-7", "--kind", "sos_wristband", "--lon", str(dev["lon"]),
            "--lat", str(dev["lat"]), "--protects", "Mrs Li", "--config", str(path)]  # fmt: skip
    assert main(args) == 0
    env = {
        k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CITYOPS_DATA_DIR", "CITYOPS_MQTT_URL")
    }
    proc = subprocess.Popen([sys.executable, "-m", "cityops", "up", "--config", str(path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    mqtt_dir = tmp_path / "data" / "mqtt"
    try:
        wait_http(f"http://127.0.0.1:{port}/api/live", timeout=90)
        conf = (mqtt_dir / "mosquitto.conf").read_text()
        mqtt_port = int(next(ln.split()[1] for ln in conf.splitlines() if ln.startswith("listener")))
        url = f"mqtt://cityops:{(mqtt_dir / 'password.txt').read_text().strip()}@127.0.0.1:{mqtt_port}"
        assert wait_for(lambda: "subscribed to" in (tmp_path / "data" / "logs" / "iot.log").read_text(), 60)
        pub = MqttPublisher(url)
        try:
            pub.publish(alarm_topic("sos-7"), alarm_json("sos-7", kind="sos_wristband", n=1))
            live_url = f"http://127.0.0.1:{port}/api/live?token={token}"
            found = wait_for(
                lambda: [i for i in wait_http(live_url)["incidents"] if i["type"] == "sos_call"], timeout=60
            )
        finally:
            pub.close()
        assert found, "the SOS alarm did not reach the board within 60 s"
        assert found[0]["assignee"] == "comm-duty" and found[0]["state"] == "dispatched"
        # the broker dies: the supervisor starts it again on the same port, the bridge reconnects
        from cityops.service_state import read_state, state_path

        broker_pid = int(subprocess.run(["pgrep", "-f", str(mqtt_dir / "mosquitto.conf")],
                                        capture_output=True, text=True).stdout.split()[0])  # fmt: skip
        os.kill(broker_pid, signal.SIGKILL)

        def restarted() -> dict:
            return (read_state(state_path(tmp_path / "data")) or {}).get("services", {}).get("mqtt", {})

        assert wait_for(
            lambda: restarted().get("restarts", 0) >= 1 and restarted().get("state") == "running", 60
        )
        pub = MqttPublisher(url, client_id="after-restart")
        try:
            pub.publish(alarm_topic("sos-7"), alarm_json("sos-7", kind="sos_wristband", n=2))
            again = wait_for(
                lambda: [
                    i for i in wait_http(live_url)["incidents"] if i["type"] == "sos_call" and i["count"] == 2
                ],
                timeout=60,
            )
        finally:
            pub.close()
        assert again, "no alarm reached the board after the broker was restarted"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert "started embedded Mosquitto" in out and proc.returncode == 0, out[-3000:]
    res = subprocess.run(["pgrep", "-f", str(mqtt_dir)], capture_output=True)
    assert res.returncode == 1, "the embedded Mosquitto still runs after the stack stopped"


def test_sos_escalates_after_30_seconds_a_leak_after_a_minute(tmp_path, store_url):
    from dispatch.wiring import build_dispatch
    from tests.conftest import Clock

    roster = [{"id": "insp", "name": "I", "cells": ["130203"]},
              {"id": "sup", "name": "S", "cells": ["130203"], "role": "supervisor"}]  # fmt: skip
    cfg = make_config(tmp_path, store_url, roster=roster)
    grid = load_grid(cfg.grid, cfg.data)
    clock = Clock(T)
    parts = build_dispatch(cfg, grid, clock=clock)
    try:
        devs = [
            DeviceInfo(f"d{k}", kind, *_point(grid, k))
            for k, kind in enumerate(["sos_wristband", "water_leak"])
        ]
        sos, leak = (
            parts.intake.handle(
                to_detection(parse_alarm(alarm_json(d.id, kind=d.kind, when=T), max_bytes=4096), d)
            )
            for d in devs
        )
        clock.now = T + timedelta(seconds=29)
        assert parts.commands.sweep_sla() == []
        clock.now = T + timedelta(seconds=31)
        assert parts.commands.sweep_sla() == [(sos.incident_id, "accept")]
        clock.now = T + timedelta(seconds=61)
        assert parts.commands.sweep_sla() == [(leak.incident_id, "accept")]
        clock.now = T + timedelta(seconds=121)
        assert parts.commands.sweep_sla() == [(sos.incident_id, "arrive")]  # on site within 2 min
        with parts.sessions() as s:
            inc = s.get(Incident, sos.incident_id)
            assert (
                inc.escalated_to == "sup" and inc.breaches == ["accept", "arrive"] and inc.assignee == "insp"
            )
    finally:
        parts.close()


def _point(grid, k):
    p = grid.cells[k].geometry.representative_point()
    return p.x, p.y


def test_bridge_over_tls_with_a_login(tmp_path, redis_url, r):
    """An external broker by mqtts:// URL: the bridge verifies it against iot.ca_file and logs in."""
    import subprocess

    from iot.bridge import Bridge
    from iot.broker import BrokerError, EmbeddedMosquitto, find_mosquitto

    try:
        find_mosquitto()
    except BrokerError as exc:
        pytest.skip(f"mosquitto cannot run here: {exc}")
    d = tmp_path / "pki"
    d.mkdir()
    ssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    subprocess.run(
        [*ssl, "-keyout", d / "ca.key", "-out", d / "ca.pem", "-subj", "/CN=test-ca"],
        check=True,
        capture_output=True,
    )
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "srv.key", "-out", d / "srv.csr",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    subprocess.run(["openssl", "x509", "-req", "-in", d / "srv.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
                    "-CAcreateserial", "-out", d / "srv.pem", "-days", "2", "-extfile", d / "ext.cnf"],
                   check=True, capture_output=True)  # fmt: skip
    with EmbeddedMosquitto(tmp_path / "mqtt", tls=(d / "srv.pem", d / "srv.key")) as broker:
        assert broker.url.startswith("mqtts://")
        user_url = f"mqtts://127.0.0.1:{broker.port}"
        cfg = make_config(tmp_path, iot={"mqtt_url": user_url, "username": "cityops", "password": broker.password,
                                         "ca_file": str(d / "ca.pem"), "offline_check_s": 3600})  # fmt: skip
        engine, sessions = open_store(cfg.store_url)
        grid = load_grid(cfg.grid, cfg.data)
        registry.register(sessions, grid, iot_devices(grid, 1, kind="gas"), T)
        stop = threading.Event()
        bridge = Bridge(cfg, redis_url, cfg.mqtt_url)
        t = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
        t.start()
        try:
            assert bridge.connected.wait(20), "the bridge did not connect over TLS"
            from iot.bridge import make_client, mqtt_params

            pub = make_client("tls-device", mqtt_params(user_url, cfg), str(d / "ca.pem"))
            pub.connect("127.0.0.1", broker.port)
            pub.loop_start()
            pub.publish(alarm_topic("dev-0000"), alarm_json("dev-0000", kind="gas", n=5), qos=1)
            assert wait_for(lambda: [decode(f).id for _, f in r.xrange(DETECTIONS)] == ["iot:dev-0000:m5"])
            pub.loop_stop()
            pub.disconnect()
            # a client that does not trust the broker's certificate gets nowhere
            wrong = Bridge(
                cfg.model_copy(update={"iot": cfg.iot.model_copy(update={"ca_file": None})}),
                redis_url,
                user_url,
            )
            wrong.start()
            assert not wrong.connected.wait(3)
            wrong.close()
        finally:
            stop.set()
            t.join(10)
            engine.dispose()
