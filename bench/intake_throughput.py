"""Detections per second through dispatch intake (stream -> store -> incidents stream), beside raw
pipelined XADD to the same Redis measured in the same run.

    .venv/bin/python bench/intake_throughput.py [--n 3000] [--store-url URL] [--redis-url URL]

Without --redis-url an embedded server is started; without --store-url a SQLite file in a temp dir.
The CPU time of this process (dispatch: decode, intake, outbox) per detection is printed too: on a
shared machine it is the figure that compares runs, not the wall-clock rate.
A --store-url must name an empty database (the run leaves its incidents there).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from cityops.config import CityOpsConfig
from dispatch.service import DispatchService
from dispatch.store import Incident
from streams.bus import connect, publish_many
from streams.embedded import EmbeddedRedis
from streams.schemas import DETECTIONS, INCIDENTS, Detection


def detections(n: int, grid, seed: int = 0) -> list[Detection]:
    rng = np.random.default_rng(seed)
    cells = rng.choice(len(grid.cells), n)
    now = datetime.now(UTC)
    out = []
    for i, ci in enumerate(cells):
        p = grid.cells[ci].geometry.representative_point()
        out.append(
            Detection(id=f"bench-{seed}-{i}", type="illegal_parking", lon=p.x, lat=p.y, observed_at=now)
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--store-url")
    ap.add_argument("--redis-url")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        srv = None if args.redis_url else EmbeddedRedis(Path(tmp) / "redis").start()
        url = args.redis_url or srv.url
        try:
            r = connect(url)
            r.flushdb()
            cfg = CityOpsConfig.model_validate(
                {
                    "data_dir": tmp,
                    "store": {"url": args.store_url or f"sqlite:///{tmp}/bench.db"},
                    "roster": [{"id": "i1", "name": "I", "cells": ["130203"]}],
                }
            )
            svc = DispatchService(cfg, url, consumer="bench")
            with svc.sessions() as s:
                if s.scalar(select(func.count()).select_from(Incident)):
                    raise SystemExit(
                        "the store already holds incidents: give the benchmark an empty database"
                    )
            svc.consumer.setup()
            msgs = detections(args.n, svc.intake.grid)

            t0 = time.perf_counter()
            publish_many(r, "bench:raw", msgs)
            raw_s = time.perf_counter() - t0

            publish_many(r, DETECTIONS, msgs)
            t0, c0 = time.perf_counter(), time.process_time()
            done = 0
            while done < args.n:
                done += svc.step(block_ms=100)
            intake_s, intake_cpu = time.perf_counter() - t0, time.process_time() - c0
            events = r.xlen(INCIDENTS)
            svc.parts.close()
        finally:
            if srv:
                srv.stop()
    store = (args.store_url or "sqlite").split(":")[0]
    print(f"detections           {args.n}")
    print(f"raw XADD (pipelined) {args.n / raw_s:10.0f} msg/s")
    print(
        f"intake ({store:10s}) {args.n / intake_s:10.0f} detections/s  ({events} incident events published)"
    )
    print(f"ratio intake/raw     {raw_s / intake_s:10.4f}")
    print(f"dispatch CPU         {intake_cpu / args.n * 1000:10.2f} ms/detection (this process; the store's "
          f"server not counted)")  # fmt: skip


if __name__ == "__main__":
    main()
