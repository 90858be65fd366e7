"""History at district scale: 370,000 cases and ~3 M events in the store, the interactive calls timed.

    .venv/bin/python bench/history.py [--incidents 370000] [--stores sqlite,postgresql]
                                      [--samples 40] [--json FILE] [--pg-url URL]

For each store (SQLite in a temp dir; PostgreSQL: a fresh database on 127.0.0.1:5432, or ``--pg-url``,
loaded on the first run and reused by the next) it loads
``--incidents`` incidents spread over 3 years across the grid (each with its life as events:
created, assigned, accepted, on site, resolved, verified, closed; ~8 rows each), 20 % of them citizen
reports (Open311 requests), the last ~3,000 still open — 1,168 of them on one inspector, as the
district's busiest had. Then it starts the real ``cityops api`` process on that store and times,
one request at a time (so the figure is the server's, not a client queue's), ``--samples`` calls
each: the console's list (filter + sort, one page), one incident's detail with its audit trail, the
busy inspector's dispatch list, Open311 ``GET requests`` with filters, the daily and weekly reports
per street, community and type, and a year of weekly reports per street, community and type (with
the CPU time the API process and the PostgreSQL backends spent on them, read from /proc: on a loaded
machine the wall clock mostly measures the queue for a CPU). Throughput of the console list is
driven with ``wrk`` (Debian package; skipped when missing), beside a bare FastAPI endpoint served by
the same uvicorn on the same machine in the same run: the limit of this box, not of CityOps.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cityops.config import CityOpsConfig  # noqa: E402
from dispatch.accounts import create_user  # noqa: E402
from dispatch.store import Incident, IncidentEventRow, ProcessedDetection, open_store  # noqa: E402
from gis.default import load_grid  # noqa: E402
from streams.embedded import EmbeddedRedis, free_port  # noqa: E402
from tests.reliability.harness import Service, answers, wait_until, write_config  # noqa: E402

TYPES = ["illegal_parking", "exposed_rubbish", "street_vending", "fire_lane_blocked"]
LIFE = ["dispatched", "accepted", "on_site", "resolved", "verified", "closed"]
STAMPS = {"dispatched": "dispatched_at", "accepted": "accepted_at", "on_site": "arrived_at",
          "resolved": "resolved_at", "closed": "closed_at"}  # fmt: skip
BUSY = "insp-busy"
BARE_APP = """
from fastapi import FastAPI
app = FastAPI()
@app.get("/bare")
def bare():
    return {"ok": True}
"""


def pg_database() -> str | None:
    try:
        import psycopg
    except ImportError:
        return None
    name = f"cityops_history_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True,
                             connect_timeout=3) as c:  # fmt: skip
            c.execute(f"CREATE DATABASE {name}")
    except psycopg.Error:
        return None
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def load(url: str, n: int, grid, inspectors: list[str], now: datetime) -> dict:
    """Fill the store; returns what was written."""
    engine, sessions = open_store(url)
    rng = random.Random(2257)
    cells = grid.cells
    span = 3 * 365 * 86400
    n_open = 3000
    t0 = time.monotonic()
    inc_rows, ev_rows, rep_rows = [], [], []
    counts = {"incidents": 0, "events": 0, "requests": 0}

    def flush() -> None:
        with engine.begin() as c:
            if inc_rows:
                c.execute(insert(Incident), inc_rows)
            if ev_rows:
                c.execute(insert(IncidentEventRow), ev_rows)
            if rep_rows:
                c.execute(insert(ProcessedDetection), rep_rows)
        counts["incidents"] += len(inc_rows)
        counts["events"] += len(ev_rows)
        counts["requests"] += len(rep_rows)
        inc_rows.clear(), ev_rows.clear(), rep_rows.clear()

    for i in range(1, n + 1):
        opened = now - timedelta(seconds=span * (1 - i / n)) - timedelta(minutes=30)
        cell = cells[rng.randrange(len(cells))]
        p = cell.geometry.representative_point()
        open_case = i > n - n_open
        assignee = BUSY if open_case and (n - i) < 1168 else inspectors[rng.randrange(len(inspectors))]
        steps = LIFE[: rng.randrange(1, 3)] if open_case else LIFE
        state = steps[-1]
        source = "citizen" if i % 5 == 0 else "camera"
        row = {"id": i, "type": TYPES[i % len(TYPES)], "state": state, "source": source, "cell": cell.code,
               "lon": p.x, "lat": p.y, "camera_id": None if source == "citizen" else f"cam-{i % 500}",
               "assignee": assignee, "count": 1, "evidence": None, "description": "", "version": 0,
               "opened_at": opened, "updated_at": opened, "breaches": [], "escalated_to": None,
               "merged_into": None, "zone_id": None}  # fmt: skip
        for k in STAMPS.values():
            row[k] = None
        evs = [("created", None, "new", opened)]
        t, prev = opened, "new"
        for st in steps:
            t = t + timedelta(minutes=rng.randrange(1, 90))
            evs.append(("assigned" if st == "dispatched" else "transition", prev, st, t))
            if st in STAMPS:
                row[STAMPS[st]] = t
            prev = st
        if source == "camera":  # the camera saw it again while it stayed: merges into the case
            for _ in range(rng.randrange(0, 4)):
                evs.append(("merged", prev, prev, t))
        row["updated_at"] = t
        row["version"] = len(evs)
        inc_rows.append(row)
        for v, (action, frm, to, at) in enumerate(evs, start=1):
            ev_rows.append({"incident_id": i, "version": v, "action": action, "from_state": frm, "to_state": to,
                            "actor": assignee if to in ("accepted", "on_site", "resolved") else "system",
                            "note": "", "detection_id": f"h-{i}" if v == 1 else None, "extra": {}, "at": at,
                            "published": True})  # fmt: skip
        if source == "citizen":
            rep_rows.append({"detection_id": f"req-{i}", "incident_id": i, "at": opened, "token_hash": f"x{i}",
                             "rating": None, "rating_comment": "", "rated_at": None})  # fmt: skip
        if len(inc_rows) >= 5000:
            flush()
            done = i / n
            print(f"\r  loading {i:,}/{n:,} incidents ({100 * done:3.0f} %, {time.monotonic() - t0:4.0f} s)",
                  end="", file=sys.stderr, flush=True)  # fmt: skip
    flush()
    if url.startswith("postgresql"):
        with engine.begin() as c:
            c.execute(text("SELECT setval('incidents_id_seq', (SELECT max(id) FROM incidents))"))
            c.execute(text("ANALYZE"))
    else:
        with engine.begin() as c:
            c.execute(text("ANALYZE"))
    print(file=sys.stderr)
    create_user(sessions, "op", "bench-password", "operator")
    create_user(sessions, BUSY, "bench-password", "inspector", BUSY)
    engine.dispose()
    return {**counts, "load_s": round(time.monotonic() - t0, 1)}


def already_loaded(url: str, n: int) -> dict | None:
    """What a reused store holds, or None when it must be loaded (migrated to the newest schema)."""
    if url.startswith("sqlite"):
        return None
    engine, _ = open_store(url)
    try:
        with engine.connect() as c:
            counts = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                      for t in ("incidents", "incident_events", "processed_detections")}  # fmt: skip
    finally:
        engine.dispose()
    if counts["incidents"] < n:
        return None
    return {"incidents": counts["incidents"], "events": counts["incident_events"],
            "requests": counts["processed_detections"], "load_s": "(reused)"}  # fmt: skip


def cpu_of(pids) -> dict[int, float]:
    """CPU seconds (user + system) each process has used, from /proc (Linux); gone ones left out."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d.name))
        except OSError:
            continue
    return kids


class CpuMeter:
    """CPU time a call costs where it is spent, not the wall clock of a loaded machine: the API
    process (and its children) and, on PostgreSQL, the server backends connected to the store."""

    def __init__(self, api_pid: int, url: str) -> None:
        self.api_pid, self.url = api_pid, url

    def _pids(self) -> tuple[list[int], list[int]]:
        api = [self.api_pid, *children(self.api_pid)]
        if not self.url.startswith("postgresql"):
            return api, []
        import psycopg

        dsn = self.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as c:
            pg = [r[0] for r in c.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND pid <> pg_backend_pid()")]  # fmt: skip
        return api, pg

    def __enter__(self) -> CpuMeter:
        api, pg = self._pids()
        self.before = (cpu_of(api), cpu_of(pg))
        return self

    def __exit__(self, *exc) -> None:
        api, pg = self._pids()
        after = (cpu_of(api), cpu_of(pg))
        self.api_s, self.db_s = (
            round(sum(t - b.get(p, 0.0) for p, t in a.items()), 2)
            for a, b in zip(after, self.before, strict=True)
        )


def get(url: str, token: str | None = None) -> tuple[float, int]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as resp:
        body = resp.read()
    return 1000 * (time.perf_counter() - t0), len(body)


def post_json(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def timed(name: str, urls: list[str], token: str | None) -> dict:
    times, sizes = [], []
    for u in urls:
        ms, size = get(u, token)
        times.append(ms)
        sizes.append(size)
    q = np.percentile(times, [50, 95])
    return {"call": name, "n": len(times), "p50_ms": round(q[0], 1), "p95_ms": round(q[1], 1),
            "kb": round(float(np.mean(sizes)) / 1024, 1)}  # fmt: skip


def wrk(url: str, token: str | None, seconds: int = 10) -> float | None:
    if not shutil.which("wrk"):
        return None
    cmd = ["wrk", "-t2", "-c16", f"-d{seconds}s", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def measure(url: str, grid, args, tmp: Path, srv) -> list[dict]:
    port = free_port()
    cfg = CityOpsConfig.model_validate({"data_dir": str(tmp / "data"), "store": {"url": url},
                                        "dispatch": {"port": port}})  # fmt: skip
    config = write_config(cfg, tmp / "config.yaml")
    api = Service("api", config, srv.url, tmp).start()
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until(lambda: answers(base + "/healthz"), 120, 0.5):
            sys.exit("the API did not answer:\n" + api.output()[-2000:])
        op = post_json(base + "/api/v1/login", {"username": "op", "password": "bench-password"})["token"]
        insp = post_json(base + "/api/v1/login", {"username": BUSY, "password": "bench-password"})["token"]
        rng = random.Random(1)
        s, k = args.samples, args.incidents
        streets = sorted({c.street for c in grid.cells})
        v1 = base + "/api/v1"
        today = date.today()
        rows = [
            timed("console list: open, one type, newest first (20)", [
                f"{v1}/incidents?open_only=true&type={TYPES[j % 4]}&limit=20" for j in range(s)], op),
            timed("console list: one street, any state (20)", [
                f"{v1}/incidents?cell={streets[j % len(streets)]}&limit=20" for j in range(s)], op),
            timed("console list: page 50 of all (20 per page)", [
                f"{v1}/incidents?limit=20&offset={20 * (50 + j)}" for j in range(s)], op),
            timed("incident detail + audit trail", [f"{v1}/incidents/{rng.randrange(1, k)}" for _ in range(s)], op),
            timed("inspector's dispatch list (1,168 open)", [f"{v1}/me/dispatches"] * max(5, s // 4), insp),
            timed("Open311 GET requests: open, one service, 90 days", [
                f"{base}/open311/v2/requests.json?status=open&service_code={TYPES[j % 4]}" for j in range(s)], None),
            timed("Open311 GET requests: a closed month a year ago", [
                f"{base}/open311/v2/requests.json?status=closed&start_date={(today - timedelta(days=400 + j)).isoformat()}"
                f"T00:00:00Z&end_date={(today - timedelta(days=370 + j)).isoformat()}T00:00:00Z" for j in range(s)], None),
        ]  # fmt: skip
        # the endpoint's parameter is ``date`` (``day`` was ignored before: every report timed was today's)
        rows.append(timed("report: today per street (the desk's default)", [
            f"{v1}/reports/summary?period=day&by=street"] * max(5, s // 4), op))  # fmt: skip
        for by in ("street", "community", "type"):
            for period in ("day", "week"):
                days = [today - timedelta(days=rng.randrange(1, 700)) for _ in range(max(5, s // 4))]
                rows.append(timed(f"report: {period} per {by}", [
                    f"{v1}/reports/summary?date={d.isoformat()}&period={period}&by={by}" for d in days], op))  # fmt: skip
        for by in ("street", "department"):  # 综合评价: every case of the month and its audit trail
            months = [
                (today.replace(day=1) - timedelta(days=31 * m + 1)).replace(day=15)
                for m in range(max(3, s // 10))
            ]
            rows.append(timed(f"evaluation: a month per {by}", [
                f"{v1}/reports/evaluation?date={d.isoformat()}&period=month&by={by}" for d in months], op))  # fmt: skip
        for by in ("street", "community", "type"):
            t0 = time.perf_counter()
            with CpuMeter(api.pid, url) as cpu:
                for w in range(52):
                    get(
                        f"{v1}/reports/summary?date={(today - timedelta(weeks=w + 1)).isoformat()}&period=week&by={by}",
                        op,
                    )
            rows.append({"call": f"a year of weekly reports per {by} (52 calls)", "n": 1,
                         "p50_ms": round(1000 * (time.perf_counter() - t0), 1), "p95_ms": None, "kb": None,
                         "cpu": f"CPU: API {cpu.api_s} s, database {cpu.db_s} s"})  # fmt: skip
        rows.append({"call": "wrk: console list (open, 20) requests/s",
                     "rps": wrk(f"{v1}/incidents?open_only=true&limit=20", op)})  # fmt: skip
    finally:
        api.stop()
    return rows


def bare_rps(tmp: Path) -> float | None:
    (tmp / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port), "--log-level",
                             "warning"], cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/bare"), 30, 0.2)
        return wrk(f"http://127.0.0.1:{port}/bare", None)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--incidents", type=int, default=370_000)
    ap.add_argument("--stores", default="sqlite,postgresql")
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--pg-url", help="an existing PostgreSQL database to use instead of a fresh one: loaded "
                    "once (when it holds fewer than --incidents cases), then reused by later runs")  # fmt: skip
    args = ap.parse_args()
    os.environ.setdefault("CITYOPS_SECRET", "bench-secret")
    out = {}
    with tempfile.TemporaryDirectory() as tmp_s, EmbeddedRedis(Path(tmp_s) / "redis") as srv:
        tmp = Path(tmp_s)
        grid = load_grid(CityOpsConfig.model_validate({"data_dir": str(tmp / "data")}).grid, tmp / "data")
        inspectors = [f"insp-{k:03d}" for k in range(60)]
        now = datetime.now(UTC)
        for store in args.stores.split(","):
            url = f"sqlite:///{tmp}/history.db" if store == "sqlite" else args.pg_url or pg_database()
            if url is None:
                print(f"{store}: not available, skipped")
                continue
            loaded = already_loaded(url, args.incidents)
            if loaded is None:
                print(f"{store}: loading {args.incidents:,} incidents ...", flush=True)
                loaded = load(url, args.incidents, grid, inspectors, now)
            print(f"{store}: {loaded}", flush=True)
            load_before = os.getloadavg()[0]
            calls = measure(url, grid, args, tmp, srv)
            out[store] = {"loaded": loaded, "calls": calls, "load": (load_before, os.getloadavg()[0])}
        bare = bare_rps(tmp)
    print()
    for store, res in out.items():
        print(f"## {store}: {res['loaded']['incidents']:,} incidents, {res['loaded']['events']:,} events, "
              f"{res['loaded']['requests']:,} Open311 requests (loaded in {res['loaded']['load_s']} s)")  # fmt: skip
        print(f"(load average {res['load'][0]:.1f} before the calls, {res['load'][1]:.1f} after, "
              f"{os.cpu_count()} CPUs: wall-clock figures include waiting for a CPU)")  # fmt: skip
        print("| call | p50 ms | p95 ms | KB |")
        print("| --- | --- | --- | --- |")
        for row in res["calls"]:
            if "rps" in row:
                rps = row["rps"]
                ratio = (
                    f" ({100 * rps / bare:.0f} % of a bare endpoint's {bare:,.0f}/s)" if rps and bare else ""
                )
                print(f"| {row['call']} | {rps if rps is not None else '-'}{ratio} | | |")
            else:
                p95 = row.get("cpu") or row["p95_ms"] or "-"  # a whole run: its CPU time instead
                print(f"| {row['call']} | {row['p50_ms']} | {p95} | {row['kb'] or '-'} |")
        print()
    print(f"bare FastAPI endpoint (same uvicorn, wrk -t2 -c16): {bare} requests/s")
    if args.json:
        Path(args.json).write_text(json.dumps({"stores": out, "bare_rps": bare}, indent=1, default=str))


if __name__ == "__main__":
    main()
