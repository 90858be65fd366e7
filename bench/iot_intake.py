"""IoT alarm intake through a real Mosquitto: alarms/s end to end and alarm -> incident latency.

    .venv/bin/python bench/iot_intake.py [--alarms 10000] [--devices 2000] [--rate 100] [--store URL]
        [--consumers 1]

One embedded Redis, one embedded Mosquitto, ``cityops iot`` (the bridge) and ``cityops dispatch`` as
real processes on a fresh store (SQLite in a temp folder unless ``--store``). ``--devices`` devices are
registered at random points of the default district grid; each sends ``alarms / devices`` alarms
(QoS 1) in two phases: paced at ``--rate`` alarms/s, then as one burst as fast as the publisher can.
An alarm counts as handled when the incident event naming it (created, or merged into the device's
open incident) is on "cityops:incidents", the stream the board reads: that is its latency, and the
end-to-end rate is alarms / (last event - first publish). "bridge only" is the same alarms' arrival
on "cityops:detections" (MQTT -> bridge -> Redis, durable), to show where the time goes.

``--consumers N`` runs N ``cityops dispatch`` processes in the consumer group (PostgreSQL; on SQLite
they take turns at the write lock). The CPU time the bridge and the dispatch processes spent per
alarm in each phase is printed too (from /proc): on a shared machine the wall-clock rates and
latencies move with the load, CPU time per alarm is what a deployment scales by.

Baseline, same run, same broker, same rate: the same number of payloads published to a plain topic
and received by a bare paho subscriber (QoS 1): MQTT publish -> receive without CityOps.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cityops.config import CityOpsConfig  # noqa: E402
from dispatch.store import open_store  # noqa: E402
from gis.default import load_grid  # noqa: E402
from gis.grid import OUTSIDE  # noqa: E402
from iot import devices as registry  # noqa: E402
from iot.bridge import make_client, mqtt_params  # noqa: E402
from iot.broker import EmbeddedMosquitto  # noqa: E402
from iot.kinds import DeviceKind, alarm_topic  # noqa: E402
from streams.bus import connect  # noqa: E402
from streams.embedded import EmbeddedRedis  # noqa: E402
from streams.schemas import DETECTIONS, INCIDENTS, decode  # noqa: E402
from tests.reliability.harness import Service, wait_until, write_config  # noqa: E402

KINDS = list(DeviceKind)


class Publisher:
    def __init__(self, url: str, client_id: str) -> None:
        p = mqtt_params(url, CityOpsConfig())
        self.client = make_client(client_id, p)
        self.client.connect(p["host"], p["port"], keepalive=60)
        self.client.loop_start()

    def run(self, items: list[tuple[str, bytes]], rate: float, sent_at: dict[int, float]) -> None:
        t0 = time.monotonic()
        for k, (topic, payload) in enumerate(items):
            sent_at[k] = time.monotonic()
            self.client.publish(topic, payload, qos=1)
            if rate > 0:
                time.sleep(max(0.0, t0 + (k + 1) / rate - time.monotonic()))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes ``pids`` have used so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def figures(name: str, sent_at: dict[int, float], got_at: dict[int, float], n: int) -> dict:
    lat = np.array([got_at[k] - sent_at[k] for k in got_at if k in sent_at]) * 1000
    span = max(got_at.values()) - min(sent_at.values()) if got_at else float("nan")
    return {
        "phase": name,
        "handled": f"{len(got_at)}/{n}",
        "per_s": round(len(got_at) / span, 0) if got_at else 0,
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
        "p95_ms": round(float(np.percentile(lat, 95)), 1) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
        "max_ms": round(float(lat.max()), 1) if len(lat) else None,
    }


def raw_mqtt(url: str, n: int, rate: float, name: str) -> dict:
    """Baseline: a bare subscriber and publisher on the same broker, no CityOps in between."""
    p = mqtt_params(url, CityOpsConfig())
    got_at: dict[int, float] = {}
    subscribed = threading.Event()
    sub = make_client(f"bench-raw-sub-{name}", p, persistent=False)
    sub.on_connect = lambda c, *_: c.subscribe("bench/raw/#", 1)
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.on_message = lambda _c, _u, m: got_at.__setitem__(int(m.payload.split(b",", 1)[0]), time.monotonic())
    sub.connect(p["host"], p["port"])
    sub.loop_start()
    subscribed.wait(10)
    pub = Publisher(url, f"bench-raw-pub-{name}")
    sent_at: dict[int, float] = {}
    body = b"x" * 140  # about an alarm's size
    pub.run([(f"bench/raw/{k % 2000}", b"%d," % k + body) for k in range(n)], rate, sent_at)
    wait_until(lambda: len(got_at) >= n, 120, step=0.05)
    pub.close()
    sub.loop_stop()
    sub.disconnect()
    return figures(f"raw MQTT, {name}", sent_at, got_at, n)


def cityops(
    r, url: str, devices: list[dict], n: int, rate: float, name: str, start_n: int, pids: dict[str, list[int]]
) -> list[dict]:
    """Alarms through the bridge and dispatch; handled when their event is on the incidents stream."""
    ids: dict[str, int] = {}
    items = []
    now = datetime.now(UTC).isoformat()
    for k in range(n):
        dev = devices[k % len(devices)]
        msg = f"m{start_n + k}"
        ids[f"iot:{dev['id']}:{msg}"] = k
        body = {"device_id": dev["id"], "kind": dev["kind"], "value": 1.0, "time": now, "id": msg}
        items.append((alarm_topic(dev["id"]), json.dumps(body).encode()))
    got_at: dict[int, float] = {}
    bridged_at: dict[int, float] = {}
    stop = threading.Event()
    last = {
        s: (r.xinfo_stream(s)["last-generated-id"] if r.exists(s) else "0-0") for s in (INCIDENTS, DETECTIONS)
    }

    def follow() -> None:
        while not stop.is_set():
            for stream, entries in r.xread(last, count=2000, block=200) or []:
                t = time.monotonic()
                for eid, fields in entries:
                    last[stream] = eid
                    msg = decode(fields)
                    k = ids.get((msg.detection_id if stream == INCIDENTS else msg.id) or "")
                    seen = got_at if stream == INCIDENTS else bridged_at
                    if k is not None and k not in seen:
                        seen[k] = t

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    pub = Publisher(url, f"bench-devices-{name}")
    sent_at: dict[int, float] = {}
    cpu0 = {k: cpu_s(v) for k, v in pids.items()}
    pub.run(items, rate, sent_at)
    wait_until(lambda: len(got_at) >= n, 300, step=0.1)
    cpu = {k: (cpu_s(v) - cpu0[k]) / n * 1000 for k, v in pids.items()}
    stop.set()
    reader.join(5)
    pub.close()
    return [
        {**figures(f"  bridge only, {name}", sent_at, bridged_at, n), "cpu_ms": round(cpu["iot"], 2)},
        {**figures(f"CityOps, {name}", sent_at, got_at, n), "cpu_ms": round(cpu["dispatch"], 2)},
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alarms", type=int, default=10_000)
    ap.add_argument("--devices", type=int, default=2_000)
    ap.add_argument("--rate", type=float, default=100, help="alarms/s in the paced phase")
    ap.add_argument("--store", help="SQLAlchemy URL of an empty database (default: SQLite in a temp dir)")
    ap.add_argument("--consumers", type=int, default=1, help="cityops dispatch processes (consumer group)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="iot-bench-"))
    cfg = CityOpsConfig.model_validate(
        {
            "data_dir": str(tmp / "data"),
            "store": {"url": args.store or f"sqlite:///{tmp}/cityops.db"},
            "dispatch": {"sla_sweep_s": 3600},
            "iot": {"offline_check_s": 3600},
            "roster": [{"id": "duty", "name": "Duty", "cells": ["130203"], "role": "supervisor"}],
        }  # fmt: skip
    )
    grid = load_grid(cfg.grid, cfg.data)
    rng = np.random.default_rng(14)
    rows = []
    for i in range(args.devices):
        x0, y0, x1, y1 = grid.cells[rng.integers(len(grid.cells))].geometry.bounds
        rows.append({"id": f"bench-{i:05d}", "kind": KINDS[i % len(KINDS)].value,
                     "lon": float(rng.uniform(x0, x1)), "lat": float(rng.uniform(y0, y1))})  # fmt: skip
    with EmbeddedRedis(tmp / "redis") as red, EmbeddedMosquitto(tmp / "mqtt") as broker:
        cfg = cfg.model_copy(update={"iot": cfg.iot.model_copy(update={"mqtt_url": broker.url})})
        engine, sessions = open_store(cfg.store_url)
        inside = [row for row in rows if grid.locate(row["lon"], row["lat"]) != OUTSIDE]
        registry.register(sessions, grid, inside, datetime.now(UTC))
        engine.dispose()
        config = write_config(cfg, tmp / "config.yaml")
        logs = tmp / "logs"
        logs.mkdir()
        services = [Service("iot", config, red.url, logs).start()]
        for _k in range(args.consumers):
            services.append(Service("dispatch", config, red.url, logs).start())  # consumer: host-pid
        pids = {"iot": [services[0].pid], "dispatch": [s.pid for s in services[1:]]}
        r = connect(red.url)
        try:
            wait_until(lambda: "subscribed to" in services[0].output(), 60)
            time.sleep(1)
            print(f"{args.alarms} alarms from {len(inside)} devices; broker {broker.address}; store "
                  f"{cfg.store_url.split(':')[0]}; {args.consumers} dispatch process(es); logs in {logs}; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
            rows_out = []
            half = args.alarms
            for name, rate in ((f"paced {args.rate:g}/s", args.rate), ("burst", 0.0)):
                rows_out.append(raw_mqtt(broker.url, half, rate, name.split()[0]))
                print(rows_out[-1], flush=True)
                start = len(rows_out) * half
                rows_out += cityops(r, broker.url, inside, half, rate, name.split()[0], start, pids)
                print(rows_out[-2], rows_out[-1], sep="\n", flush=True)
        finally:
            for s in services:
                s.stop()
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}; CPU ms/alarm: bridge (bridge rows), "
          "the dispatch processes together (CityOps rows)")  # fmt: skip
    print("phase                         handled      alarms/s   p50 ms   p95 ms   p99 ms   max ms   CPU ms")
    for row in rows_out:
        print(f"{row['phase']:<29} {row['handled']:<12} {row['per_s']:>8} {row['p50_ms']:>8} "
              f"{row['p95_ms']:>8} {row['p99_ms']:>8} {row['max_ms']:>8} {row.get('cpu_ms', ''):>8}")  # fmt: skip


if __name__ == "__main__":
    main()
