"""Sustained load plus a burst through the real processes, with the board open.

    .venv/bin/python bench/load_sustained.py [--rate 100] [--minutes 1] [--burst 5000] [--store-url URL]

Starts an embedded Redis (AOF on), ``cityops dispatch`` and ``cityops dashboard`` as separate
processes, polls the board's ``/api/live`` once a second (an open board), offers ``--rate``
detections per second for ``--minutes`` (default 1; ``--minutes 10`` is issue 7's full run), then
``--burst`` detections in one second. Every detection is at its own point with
``merge_radius_m: 0``, so each becomes an incident (the store's worst case). Prints: load offered,
throughput, end-to-end latency p50/p95/p99 (detection XADD -> its ``created`` event on
``cityops:incidents``, both timed by the Redis server's stream ids), burst drain time, /api/live
response times, and the RSS of each process at start and end. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cityops.config import CityOpsConfig  # noqa: E402
from dispatch.store import open_store  # noqa: E402
from gis.default import load_grid  # noqa: E402
from streams.bus import connect, publish_many  # noqa: E402
from streams.embedded import EmbeddedRedis  # noqa: E402
from streams.schemas import DETECTIONS, INCIDENTS, decode  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.reliability.harness import (  # noqa: E402
    Service,
    StoreCounter,
    get_json,
    rss_mb,
    spread_detections,
    wait_until,
    write_config,
)


def ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def pct(values: list[float]) -> str:
    if not values:
        return "-"
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return f"p50 {p50:8.0f} ms   p95 {p95:8.0f} ms   p99 {p99:8.0f} ms   max {max(values):8.0f} ms"


class BoardPoller(threading.Thread):
    """An open board: GET /api/live once a second, keeping the response times."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.times, self.errors, self.stop = url, [], 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            t0 = time.perf_counter()
            try:
                get_json(self.url, timeout=30)
                self.times.append(1000 * (time.perf_counter() - t0))
            except OSError:
                self.errors += 1


def created_events(r) -> dict[str, int]:
    """detection id -> server time (ms) of its incident's ``created`` event."""
    out, last = {}, "-"
    while True:
        entries = r.xrange(INCIDENTS, min=last, count=10_000)
        entries = entries[1:] if last != "-" else entries
        if not entries:
            return out
        for eid, fields in entries:
            msg = decode(fields)
            if msg.action == "created" and msg.detection_id:
                out[msg.detection_id] = ms(eid)
        last = entries[-1][0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=100.0, help="detections per second (sustained phase)")
    ap.add_argument("--minutes", type=float, default=1.0, help="sustained phase (issue 7's full run: 10)")
    ap.add_argument("--burst", type=int, default=5000, help="detections offered in one second afterwards")
    ap.add_argument("--store-url", help="an empty database (default: SQLite in a temp dir)")
    ap.add_argument("--drain-timeout", type=float, default=900.0, help="seconds to wait for the backlog")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        srv = EmbeddedRedis(tmp / "redis").start()
        cfg = CityOpsConfig.model_validate(
            {
                "data_dir": str(tmp / "data"),
                "store": {"url": args.store_url or f"sqlite:///{tmp}/bench.db"},
                "redis": {"stream_maxlen": 5_000_000},
                "dispatch": {"merge_radius_m": 0},
                "roster": [{"id": "i1", "name": "I", "cells": ["130203"]}],
            }
        )
        grid = load_grid(cfg.grid, cfg.data)
        open_store(cfg.store_url)[0].dispose()
        config = write_config(cfg, tmp / "config.yaml")
        port = free_port()
        services = [
            Service("dispatch", config, srv.url, tmp),
            Service("dashboard", config, srv.url, tmp, "--port", str(port)),
        ]
        board = f"http://127.0.0.1:{port}/api/live"
        try:
            for s in services:
                s.start()
            if not wait_until(lambda: _answers(board), 120, step=0.5):
                sys.exit("the board did not answer: " + services[1].output()[-2000:])
            time.sleep(3)  # let the dispatch service open its store and group
            rss0 = {"redis": rss_mb(srv.proc.pid), **{s.name: rss_mb(s.pid) for s in services}}
            r = connect(srv.url)
            poller = BoardPoller(board)
            poller.start()
            n_sus = int(args.rate * args.minutes * 60)
            dets = spread_detections(grid, n_sus + args.burst, "load")
            sent: dict[str, int] = {}
            tick = 0.1
            per_tick = args.rate * tick
            t0 = time.monotonic()
            i, k = 0, 0
            print(f"offering {args.rate:.0f}/s for {args.minutes:g} min ({n_sus} detections) ...", flush=True)
            while i < n_sus:
                k += 1
                upto = min(n_sus, int(round(k * per_tick)))
                batch = dets[i:upto]
                if batch:
                    for d, eid in zip(
                        batch, publish_many(r, DETECTIONS, batch, maxlen=5_000_000), strict=True
                    ):
                        sent[d.id] = ms(eid)
                i = upto
                delay = t0 + k * tick - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            sus_s = time.monotonic() - t0
            print(f"burst of {args.burst} ...", flush=True)
            burst = dets[n_sus:]
            tb = time.monotonic()
            for j in range(0, len(burst), 500):
                part = burst[j : j + 500]
                for d, eid in zip(part, publish_many(r, DETECTIONS, part, maxlen=5_000_000), strict=True):
                    sent[d.id] = ms(eid)
            burst_pub_s = time.monotonic() - tb
            counter = StoreCounter(cfg.store_url)
            done = wait_until(
                lambda: counter.counts()["created_events"] >= len(dets), args.drain_timeout, 1.0
            )
            wait_until(lambda: counter.counts()["unpublished"] == 0, 60, 0.5)
            drained_s = time.monotonic() - t0
            poller.stop.set()
            rss1 = {"redis": rss_mb(srv.proc.pid), **{s.name: rss_mb(s.pid) for s in services}}
            created = created_events(r)
            counts = counter.counts()
            counter.close()
        finally:
            for s in services:
                s.stop()
            srv.stop()
    lat_sus = [created[d.id] - sent[d.id] for d in dets[:n_sus] if d.id in created]
    lat_burst = [created[d.id] - sent[d.id] for d in burst if d.id in created]
    burst_first = min(sent[d.id] for d in burst)
    burst_last = max((created[d.id] for d in burst if d.id in created), default=burst_first)
    sus_created = [created[d.id] for d in dets[:n_sus] if d.id in created]
    span_s = (max(sus_created) - min(sent.values())) / 1000 if sus_created else float("nan")
    fig = {
        "offered_sustained": n_sus,
        "rate_offered_per_s": args.rate,
        "sustained_s": round(sus_s, 1),
        "burst": args.burst,
        "burst_publish_s": round(burst_pub_s, 2),
        "incidents_created": counts["incidents"],
        "lost": len(dets) - len(created),
        "drained": bool(done),
        "throughput_sustained_per_s": round(len(lat_sus) / span_s, 1) if span_s == span_s else None,
        "burst_drain_s": round((burst_last - burst_first) / 1000, 1),
        "total_s": round(drained_s, 1),
        "rss_start_mb": rss0,
        "rss_end_mb": rss1,
        "board_polls": len(poller.times),
        "board_errors": poller.errors,
    }
    print()
    print(
        f"offered           {n_sus} at {args.rate:.0f}/s over {sus_s:.0f} s, then {args.burst} in {burst_pub_s:.2f} s"
    )
    print(
        f"incidents         {counts['incidents']} created, {fig['lost']} missing, drained: {fig['drained']}"
    )
    print(f"throughput        {fig['throughput_sustained_per_s']} incidents/s during the sustained phase")
    print(f"latency sustained {pct(lat_sus)}")
    print(f"latency burst     {pct(lat_burst)}   (drained in {fig['burst_drain_s']} s)")
    print(f"/api/live         {pct(poller.times)}   ({len(poller.times)} polls, {poller.errors} errors)")
    for name in rss0:
        print(f"RSS {name:<13} {rss0[name]} MB at start, {rss1[name]} MB at end")
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=1))


def _answers(url: str) -> bool:
    try:
        get_json(url)
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
