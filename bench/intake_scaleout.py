"""Intake throughput with 1 and 3 ``cityops dispatch`` processes on one PostgreSQL database, in the same
run, beside the same rows written by a plain batched INSERT into the same server as the limit.

    .venv/bin/python bench/intake_scaleout.py [--n 3000] [--consumers 1 3] [--merge-share 0.2]
        [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Each run gets a fresh database and a fresh embedded Redis; the consumers are started first and timed
from the moment the whole stream is published (one MULTI/EXEC) until every detection is stored and its
events published. Detections fall at random points of the district grid; ``--merge-share`` of them
repeat a spot 100 entries earlier (a merge pair, its halves taken by different consumers). The limit
re-inserts the rows the one-consumer run wrote (incidents, their events, the idempotency keys) into an
empty database with executemany, one transaction per 100 detections' rows, as intake batches them.
Nothing is asserted; the bench databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, func, insert, make_url, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cityops.config import CityOpsConfig  # noqa: E402
from dispatch.service import GROUP  # noqa: E402
from dispatch.store import Incident, IncidentEventRow, ProcessedDetection, open_store  # noqa: E402
from gis.default import load_grid  # noqa: E402
from streams.bus import connect  # noqa: E402
from streams.embedded import EmbeddedRedis  # noqa: E402
from streams.schemas import DETECTIONS, Detection, encode  # noqa: E402
from tests.reliability.harness import Service, StoreCounter, wait_until, write_config  # noqa: E402

STRIDE = 100  # a consumer's batch: a merge pair's halves land in consecutive batches


def detections(grid, n: int, merge_share: float, seed: int = 0) -> list[Detection]:
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    out: list[Detection] = []
    for i in range(n):
        if i >= STRIDE and rng.random() < merge_share and not out[i - STRIDE].id.endswith("b"):
            first = out[i - STRIDE]
            lon = first.lon + 5 / (111_195 * math.cos(math.radians(first.lat)))
            out.append(first.model_copy(update={"id": f"{first.id}-b", "lon": lon}))
            continue
        x0, y0, x1, y1 = grid.cells[rng.integers(len(grid.cells))].geometry.bounds
        lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
        out.append(Detection(id=f"s-{i}", type="illegal_parking", lon=lon, lat=lat, observed_at=now))
    return out


def fresh_database(base: str) -> str:
    name = f"cityops_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def drop_database(base: str, url: str) -> None:
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def run_intake(base: str, consumers: int, n: int, merge_share: float, tmp: Path) -> tuple[float, int, str]:
    """Seconds to intake ``n`` detections with ``consumers`` processes, incidents made, the database."""
    url = fresh_database(base)
    srv = EmbeddedRedis(tmp / "redis").start()
    procs: list[Service] = []
    try:
        cfg = CityOpsConfig.model_validate(
            {
                "data_dir": str(tmp / "data"),
                "store": {"url": url},
                "roster": [{"id": "i1", "name": "I", "cells": ["130203"]}],
                "dispatch": {"sla_sweep_s": 3600},
            }
        )
        grid = load_grid(cfg.grid, cfg.data)
        open_store(url)[0].dispose()
        config = write_config(cfg, tmp / "config.yaml")
        dets = detections(grid, n, merge_share)
        r = connect(srv.url)
        for k in range(consumers):
            svc = Service("dispatch", config, srv.url, tmp)
            svc.log = tmp / f"dispatch-{k}.log"
            procs.append(svc.start())

        def joined():
            try:
                return len(r.xinfo_consumers(DETECTIONS, GROUP)) == consumers
            except Exception:  # no group yet
                return False

        if not wait_until(joined, 120):
            raise SystemExit(f"consumers did not start: {procs[0].output()[-2000:]}")
        pipe = r.pipeline(transaction=True)
        for det in dets:
            pipe.xadd(DETECTIONS, encode(det))
        pipe.execute()
        t0 = time.perf_counter()
        counter = StoreCounter(url)
        try:
            done = wait_until(
                lambda: (c := counter.counts())["processed"] >= n and c["unpublished"] == 0 and c,
                600,
                step=0.1,  # light polling: the counts compete with the consumers for the CPUs
            )
        finally:
            counter.close()
        took = time.perf_counter() - t0
        if not done:
            raise SystemExit(f"intake did not finish: {[p.output()[-2000:] for p in procs]}")
        return took, done["incidents"], url
    finally:
        for p in procs:
            p.stop()
        srv.stop()


def run_limit(base: str, source_url: str, n: int) -> tuple[float, int]:
    """Seconds to write the rows ``source_url`` holds into a fresh database by batched INSERT; rows."""
    src = create_engine(source_url)
    with src.connect() as c:
        tables = [Incident.__table__, IncidentEventRow.__table__, ProcessedDetection.__table__]
        rows = {
            t.name: [dict(m) for m in c.execute(select(t).order_by(*t.primary_key)).mappings()]
            for t in tables
        }
    src.dispose()
    url = fresh_database(base)
    try:
        engine, _ = open_store(url)
        # one transaction per 100 detections' rows, each incident with its events and keys
        batches = math.ceil(n / STRIDE)
        ids = [row["id"] for row in rows["incidents"]]
        batch_of = {inc: i * batches // len(ids) for i, inc in enumerate(ids)}
        chunks = [{t.name: [] for t in tables} for _ in range(batches)]
        for t in tables:
            for row in rows[t.name]:
                chunks[batch_of[row["id"] if t is Incident.__table__ else row["incident_id"]]][t.name].append(
                    row
                )
        t0 = time.perf_counter()
        for chunk in chunks:
            with engine.begin() as c:
                for table in tables:
                    if chunk[table.name]:
                        c.execute(insert(table), chunk[table.name])
        took = time.perf_counter() - t0
        with engine.connect() as c:
            assert c.scalar(select(func.count()).select_from(Incident)) == len(rows["incidents"])
        engine.dispose()
        return took, sum(len(v) for v in rows.values())
    finally:
        drop_database(base, url)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--consumers", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--merge-share", type=float, default=0.2)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    results: dict[int, tuple[float, int]] = {}
    dbs: list[str] = []
    try:
        for k in args.consumers:
            with tempfile.TemporaryDirectory() as tmp:
                took, incidents, url = run_intake(args.pg, k, args.n, args.merge_share, Path(tmp))
            dbs.append(url)
            results[k] = (took, incidents)
        limit_s, rows = run_limit(args.pg, dbs[0], args.n)
    finally:
        for url in dbs:
            drop_database(args.pg, url)
    first = args.consumers[0]
    print(f"detections            {args.n}  ({args.merge_share:.0%} second halves of merge pairs)")
    for k, (took, incidents) in results.items():
        print(f"intake, {k} consumer(s)  {args.n / took:8.0f} detections/s  ({incidents} incidents)")
    for k, (took, _) in results.items():
        if k != first:
            extra = results[k][1] - results[first][1]
            print(
                f"scaling {k} vs {first}         {results[first][0] / took:8.2f}x  ({extra:+d} incidents vs {first})"
            )
    print(
        f"batched INSERT (limit)  {args.n / limit_s:8.0f} detections/s  "
        f"({rows} rows, {rows / limit_s:.0f} rows/s, executemany, one transaction per {STRIDE} detections)"
    )
    for k, (took, _) in results.items():
        print(f"intake/limit, {k}        {limit_s / took:8.3f}")


if __name__ == "__main__":
    main()
