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
from dispatch.store import open_store
from dispatch.wiring import build_dispatch
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
    intake = build_dispatch(cfg, grid, sessions=sessions).intake
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


async def login(client: httpx.AsyncClient, name: str) -> dict:
    r = await client.post("/api/v1/login", json={"username": name, "password": "bench-password"})
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def inspector(client: httpx.AsyncClient, headers: dict, rounds: int, out: list[float]) -> None:
    for _ in range(rounds):
        t0 = time.perf_counter()
        res = await client.get("/api/v1/me/dispatches", headers=headers)
        out.append(time.perf_counter() - t0)
        res.raise_for_status()


async def load(url: str, names: list[str], rounds: int) -> tuple[list[float], float]:
    """Everyone logs in first (Argon2 is slow on purpose), then all list their dispatches at once."""
    lat: list[float] = []
    limits = httpx.Limits(max_connections=len(names), max_keepalive_connections=len(names))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        headers = [await login(client, n) for n in names]
        t0 = time.perf_counter()
        await asyncio.gather(*(inspector(client, h, rounds, lat) for h in headers))
        return lat, time.perf_counter() - t0


def run_api(cfg_path: Path, workers: int, port: int, redis_url: str, names: list[str], rounds: int):
    data = yaml.safe_load(cfg_path.read_text())
    data["dispatch"] = {**data.get("dispatch", {}), "port": port, "api_workers": workers}
    path = cfg_path.with_name(f"cfg-{workers}.yaml")
    path.write_text(yaml.safe_dump(data))
    env = {**os.environ, "REDIS_URL": redis_url, "CITYOPS_SECRET": "bench"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityops", "api", "--config", str(path)], cwd=ROOT, env=env
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(url + "/healthz")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        lat, wall = asyncio.run(load(url, names, rounds))
    finally:
        proc.terminate()
        proc.wait(15)
    lat.sort()
    q = statistics.quantiles(lat, n=100)
    return q[49], q[94], q[98], len(lat) / wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inspectors", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--incidents", type=int, default=2000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="API worker counts to compare")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as d, EmbeddedRedis(Path(d) / "redis") as srv:
        tmp = Path(d)
        print(
            f"preparing {args.incidents} incidents and {args.inspectors} inspector accounts ...", flush=True
        )
        cfg_path = prepare(tmp, args.inspectors, args.incidents, free_port())
        names = [f"i{k:03d}" for k in range(args.inspectors)]
        for w in args.workers:
            results[w] = run_api(cfg_path, w, free_port(), srv.url, names, args.rounds)
    print(
        f"{args.inspectors} concurrent inspectors x {args.rounds} list requests, {args.incidents} incidents, SQLite"
    )
    base = results[args.workers[0]]
    for w, (p50, p95, p99, rps) in results.items():
        print(f"uvicorn workers {w}: p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
              f"{rps:7.1f} requests/s  (x{rps / base[3]:.2f} vs {args.workers[0]} worker)")  # fmt: skip


if __name__ == "__main__":
    main()
