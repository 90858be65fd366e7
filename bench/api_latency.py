"""Latency of the inspector's dispatch list under many concurrent inspectors, against the real
API process (``cityops api``, uvicorn) on loopback, with a real store and Redis.

    .venv/bin/python bench/api_latency.py [--inspectors 200] [--rounds 5] [--incidents 2000]

Prints p50/p95/p99 and throughput; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

from cityops.config import CityOpsConfig
from dispatch.accounts import create_user
from dispatch.intake import Intake
from dispatch.store import open_store
from gis.default import load_grid
from streams.embedded import EmbeddedRedis, free_port
from streams.schemas import Detection

ROOT = Path(__file__).resolve().parents[1]


def prepare(tmp: Path, n_insp: int, n_inc: int, port: int) -> Path:
    grid = load_grid(CityOpsConfig().grid, tmp)
    cells = [c.code for c in grid.cells][:n_insp]
    roster = [{"id": f"i{k:03d}", "name": f"I{k}", "cells": [code]} for k, code in enumerate(cells)]
    cfg_dict = {"data_dir": str(tmp), "roster": roster, "dispatch": {"port": port}, "grid": {"source": None}}
    cfg = CityOpsConfig.model_validate(cfg_dict)
    _, sessions = open_store(cfg.store_url)
    intake = Intake(cfg, grid, sessions)
    now = datetime.now(UTC)
    for k in range(n_inc):
        cell = grid.by_code[cells[k % len(cells)]]
        p = cell.geometry.representative_point()
        intake.handle(
            Detection(
                id=f"b{k}",
                type="illegal_parking" if k % 2 else "exposed_rubbish",
                lon=p.x,
                lat=p.y,
                observed_at=now,
            )
        )
    for r in roster:
        create_user(sessions, r["id"], "bench-password", "inspector", r["id"])
    path = tmp / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg_dict))
    return path


async def inspector(client: httpx.AsyncClient, name: str, rounds: int, out: list[float]) -> None:
    r = await client.post("/api/v1/login", json={"username": name, "password": "bench-password"})
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    for _ in range(rounds):
        t0 = time.perf_counter()
        res = await client.get("/api/v1/me/dispatches", headers=headers)
        out.append(time.perf_counter() - t0)
        res.raise_for_status()


async def load(url: str, names: list[str], rounds: int) -> tuple[list[float], float]:
    lat: list[float] = []
    limits = httpx.Limits(max_connections=len(names), max_keepalive_connections=len(names))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(inspector(client, n, rounds, lat) for n in names))
        return lat, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inspectors", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--incidents", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d, EmbeddedRedis(Path(d) / "redis") as srv:
        tmp, port = Path(d), free_port()
        print(
            f"preparing {args.incidents} incidents and {args.inspectors} inspector accounts ...", flush=True
        )
        cfg_path = prepare(tmp, args.inspectors, args.incidents, port)
        env = {**os.environ, "REDIS_URL": srv.url, "CITYOPS_SECRET": "bench"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "cityops", "api", "--config", str(cfg_path)], cwd=ROOT, env=env
        )
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    httpx.get(url + "/healthz")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            names = [f"i{k:03d}" for k in range(args.inspectors)]
            lat, wall = asyncio.run(load(url, names, args.rounds))
        finally:
            proc.terminate()
            proc.wait(10)
    lat.sort()
    q = statistics.quantiles(lat, n=100)
    print(
        f"inspectors {args.inspectors} concurrent, {len(lat)} list requests, {args.incidents} incidents in the store"
    )
    print(
        f"p50 {q[49] * 1000:8.1f} ms   p95 {q[94] * 1000:8.1f} ms   p99 {q[98] * 1000:8.1f} ms   max {lat[-1] * 1000:8.1f} ms"
    )
    print(f"throughput {len(lat) / wall:8.1f} requests/s (one uvicorn worker, SQLite)")


if __name__ == "__main__":
    main()
