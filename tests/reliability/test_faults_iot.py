"""IoT alarms through a real Mosquitto while it and the bridge restart mid-burst (issue 14).

2,000 alarms from 500 devices (4 each, QoS 1) are published at a steady pace; during the burst the
broker is restarted (SIGTERM: it saves its queues) and the bridge is SIGKILLed and started again.
Every alarm the broker acknowledged must be stored exactly once (0 lost, 0 duplicated), and bad
payloads sent in the middle are refused while the bridge keeps running."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from dispatch.store import Incident, make_engine
from iot import devices as registry
from iot.kinds import alarm_topic
from streams.bus import connect
from streams.schemas import DEAD_LETTERS, DETECTIONS
from tests.conftest import make_config
from tests.helpers import MqttPublisher, alarm_json, iot_devices
from tests.reliability.harness import StoreCounter, incident_stream, wait_until

DEVICES, PER_DEVICE, RATE = 500, 4, 250  # alarms per second offered


def test_broker_and_bridge_restart_mid_burst(tmp_path, stack, mqtt_broker, figures):
    broker = mqtt_broker
    cfg = make_config(
        tmp_path,
        redis={"claim_idle_ms": 2000},
        dispatch={"sla_sweep_s": 3600, "merge_radius_m": 0},
        iot={"mqtt_url": broker.url, "offline_check_s": 3600},
    )
    stack.configure(cfg)
    engine = make_engine(cfg.store_url)
    rows = iot_devices(stack.grid, DEVICES, kind="gas")
    registry.register(sessionmaker(engine), stack.grid, rows, datetime.now(UTC))
    engine.dispose()
    stack.service("dispatch")
    bridge = stack.service("iot")
    r = connect(stack.url)
    assert wait_until(
        lambda: "subscribed" in bridge.output() or "connected to the broker" in bridge.output(), 60
    ), bridge.output()
    time.sleep(1.0)  # the subscription is acknowledged

    alarms = [(rows[i % DEVICES]["id"], n) for n in range(PER_DEVICE) for i in range(DEVICES)]
    total = len(alarms)
    pub = MqttPublisher(broker.url, client_id="fault-test-devices")
    events: dict[str, float] = {}
    bad = [b"{not json", alarm_json(rows[0]["id"], kind="volcano"), alarm_json("ghost-1"), b"x" * 1_000_000]

    def publish() -> None:
        t0 = time.monotonic()
        for k, (dev, n) in enumerate(alarms):
            pub.publish(alarm_topic(dev), alarm_json(dev, kind="gas", n=n))
            if k == total // 2:
                for j, payload in enumerate(bad):
                    pub.publish(alarm_topic(rows[j]["id"] if j != 2 else "ghost-1"), payload)
            time.sleep(max(0.0, t0 + (k + 1) / RATE - time.monotonic()))

    sender = threading.Thread(target=publish)
    t_start = time.monotonic()
    sender.start()
    try:
        time.sleep(total / RATE * 0.3)
        t = time.monotonic()
        broker.stop()  # SIGTERM: mosquitto writes its persistence file
        time.sleep(1.0)
        broker.__init__(broker.data_dir, port=broker.port)
        broker.start()
        events["broker_down_s"] = round(time.monotonic() - t, 2)
        time.sleep(total / RATE * 0.3)
        t = time.monotonic()
        bridge.kill()  # SIGKILL: whatever it had not acknowledged is sent to it again
        time.sleep(1.0)
        bridge.start()
        events["bridge_down_s"] = round(time.monotonic() - t, 2)
        sender.join()
        acked = wait_until(lambda: pub.acked >= total + len(bad), 120)
        assert acked, f"the broker acknowledged {pub.acked} of {total + len(bad)} publishes"
        counter = StoreCounter(cfg.store_url)
        done = wait_until(lambda: counter.counts()["processed"] >= total, 180)
        elapsed = time.monotonic() - t_start
        time.sleep(2.0)  # anything late would show up as a duplicate now
        c = counter.counts()
        stored = counter.processed_ids()
        with counter.engine.connect() as conn:
            absorbed = conn.execute(select(func.sum(Incident.count))).scalar() or 0
        counter.close()
        want = {f"iot:{dev}:m{n}" for dev, n in alarms}
        stream = incident_stream(r)
        figures.update(
            offered=total,
            devices=DEVICES,
            rate_per_s=RATE,
            broker_restarts=1,
            bridge_kills=1,
            **events,
            entries_on_stream=r.xlen(DETECTIONS),
            lost=len(want - stored),
            duplicated=absorbed - len(stored),
            incidents=c["incidents"],
            bad_refused=sum(1 for _, f in r.xrange(DEAD_LETTERS) if f.get("stream") == "mqtt"),
            seconds=round(elapsed, 1),
        )
        assert done, f"only {c['processed']} of {total} alarms stored; see {stack.logs}"
        assert stored == want, f"lost {len(want - stored)}, unexpected {len(stored - want)}"
        assert absorbed == total and c["incidents"] == DEVICES == c["created_events"], (absorbed, c)
        assert stream["repeated_events"] == 0 and stream["created_incidents"] == DEVICES
        assert figures["bad_refused"] >= len(bad), figures
        assert bridge.alive, bridge.output()[-2000:]
        log = bridge.output()
        for why in ("not JSON", "kind", "unknown device 'ghost-1'", "larger than"):
            assert why in log, why
    finally:
        pub.close()
