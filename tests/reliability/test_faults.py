"""Faults on the detection path (real processes, real Redis with AOF, real store): Redis stopped and
restarted, the dispatch process SIGKILLed mid-burst, the store locked or its connections cut.

In each: every acknowledged detection becomes exactly one incident, none is processed twice, the
services reconnect by themselves; the figures (offered, lost, duplicated, time to recover) are
printed at the end of the run."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time

import pytest

from cityops.config import CameraConfig
from dispatch.service import GROUP
from streams.bus import connect
from streams.schemas import DETECTIONS
from tests.conftest import free_port, make_config, postgres_url
from tests.helpers import wait_http
from tests.reliability.harness import (
    Answering,
    StoreCounter,
    get_json,
    incident_stream,
    pending,
    publish_chunks,
    spread_detections,
    wait_until,
)
from vision.worker import CameraRunner

NO_MERGE = {"merge_radius_m": 0, "sla_sweep_s": 3600}


def settled(counter: StoreCounter, r, n: int):
    """All ``n`` detections stored, their events published and nothing left pending."""
    c = counter.counts()
    return c if c["processed"] >= n and c["unpublished"] == 0 and pending(r, DETECTIONS, GROUP) == 0 else None


def check_exactly_once(counter: StoreCounter, r, acked: set[str], figures: dict) -> None:
    c = counter.counts()
    stored = counter.processed_ids()
    lost = len(acked - stored)
    per_incident = counter.incident_counts()
    duplicated = c["incidents"] - len(stored) + sum(v - 1 for v in per_incident.values())
    stream = incident_stream(r)
    figures.update(
        lost=lost,
        duplicated=duplicated,
        incidents=c["incidents"],
        stream_created=stream["created_incidents"],
        stream_repeats=stream["repeated_events"],
    )
    assert lost == 0, f"{lost} acknowledged detections never became incidents"
    assert c["incidents"] == len(acked) == c["processed"] == c["created_events"], c
    assert duplicated == 0
    assert stream["created_incidents"] == len(acked), stream  # every incident reached the board's stream


class Publisher(threading.Thread):
    """Publishes detections through the vision worker's own publish path (retry until Redis takes it),
    at ``rate`` per second; ``acked`` holds the ids Redis acknowledged."""

    def __init__(self, cfg, r, dets, rate: float) -> None:
        super().__init__(daemon=True)
        cam = CameraConfig(id="pub", source="rtsp://127.0.0.1:1/none", lon=dets[0].lon, lat=dets[0].lat)
        self.runner = CameraRunner(cfg, cam, r, "rel")
        self.dets, self.rate, self.acked = dets, rate, set()

    def run(self) -> None:
        t0 = time.monotonic()
        for i, det in enumerate(self.dets):
            delay = t0 + i / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.runner._publish_detection(det)
            if self.runner.stop_event.is_set():
                return
            self.acked.add(det.id)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_redis_restart_mid_stream_loses_nothing(stack, tmp_path, figures, how):
    cfg = make_config(tmp_path, redis={"claim_idle_ms": 2000}, dispatch=NO_MERGE)
    stack.configure(cfg)
    port = free_port()
    dispatch = stack.service("dispatch")
    board = stack.service("dashboard", "--port", str(port))
    wait_http(f"http://127.0.0.1:{port}/api/live", timeout=60)
    r = connect(stack.url)
    dets = spread_detections(stack.grid, 1500, f"redis-{how}")
    pub = Publisher(cfg, r, dets, rate=150)
    pub.start()
    assert wait_until(lambda: len(pub.acked) >= 400, 30)
    t_down = time.monotonic()
    with Answering([f"http://127.0.0.1:{port}/healthz"], [dispatch, board]) as watch:
        t_up = stack.restart_redis(3.0, None if how == "SIGTERM" else signal.SIGKILL)
    pub.join(120)
    assert not pub.is_alive(), "the publisher did not get through after Redis came back"
    counter = StoreCounter(cfg.store_url)
    done = wait_until(lambda: settled(counter, r, len(pub.acked)), 120)
    t_done = time.monotonic()
    live = wait_until(
        lambda: (
            (n := len(get_json(f"http://127.0.0.1:{port}/api/live")["incidents"])) >= len(pub.acked) and n
        ),
        60,
    )
    t_board = time.monotonic()
    figures.update(
        offered=len(dets),
        rate_per_s=150,
        fault=f"redis {how}, down 3.0 s",
        acked=len(pub.acked),
        publish_retries_s=round(t_up - t_down, 1),
        recover_s=round(t_done - t_up, 1),
        board_recover_s=round(t_board - t_up, 1),
        board_incidents=live,
        others_answered=watch.answered,
    )
    assert watch.answered, watch.failures[:5]
    assert done, counter.counts()
    assert dispatch.alive and board.alive, dispatch.output()[-3000:]
    assert len(pub.acked) == len(dets)
    check_exactly_once(counter, r, pub.acked, figures)
    assert live == len(dets)
    counter.close()


def test_dispatch_sigkill_during_burst_of_10000(stack, tmp_path, figures):
    n = 10_000
    cfg = make_config(tmp_path, redis={"claim_idle_ms": 1000}, dispatch=NO_MERGE)
    stack.configure(cfg)
    r = connect(stack.url)
    counter = StoreCounter(cfg.store_url)
    dispatch = stack.service("dispatch")
    api_port = free_port()
    api = stack.service("api", "--port", str(api_port))
    wait_http(f"http://127.0.0.1:{api_port}/healthz", timeout=60)
    dets = spread_detections(stack.grid, n, "burst")
    t0 = time.monotonic()
    publish_chunks(r, DETECTIONS, dets)
    t_pub = time.monotonic() - t0
    killed_at = wait_until(lambda: (c := counter.counts()["processed"]) >= n // 4 and c, 120, step=0.05)
    assert killed_at, dispatch.output()[-3000:]
    with Answering([f"http://127.0.0.1:{api_port}/healthz"], [api]) as watch:
        dispatch.kill(signal.SIGKILL)
        at_kill = counter.counts()["processed"]
        t_restart = time.monotonic()
        dispatch.start()
        done = wait_until(lambda: settled(counter, r, n), 300, step=0.5)
    t_done = time.monotonic()
    figures.update(
        offered=n,
        publish_s=round(t_pub, 2),
        fault="dispatch SIGKILL",
        processed_at_kill=at_kill,
        recover_s=round(t_done - t_restart, 1),
        throughput_per_s=round(n / (t_done - t0), 0),
        others_answered=watch.answered,
    )
    assert watch.answered, watch.failures[:5]
    assert done, (counter.counts(), dispatch.output()[-3000:])
    check_exactly_once(counter, r, {d.id for d in dets}, figures)
    assert dispatch.alive
    counter.close()


class SqliteLock:
    """Another connection holding the SQLite write lock (BEGIN EXCLUSIVE plus a write)."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)

    def __enter__(self):
        self.db.execute("BEGIN EXCLUSIVE")
        self.db.execute("UPDATE incidents SET count = count WHERE id = 1")
        return self

    def __exit__(self, *exc):
        self.db.execute("ROLLBACK")
        self.db.close()


def pg_terminate_others(url: str) -> int:
    import psycopg

    db = url.rsplit("/", 1)[-1]
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        rows = c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (db,),
        ).fetchall()
    return len(rows)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_store_unavailable_intake_waits_and_retries(stack, tmp_path, figures, backend):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/cityops.db"
    else:
        url = postgres_url()
        if url is None:
            pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    cfg = make_config(tmp_path, url, redis={"claim_idle_ms": 2000}, dispatch={**NO_MERGE, "sla_sweep_s": 1})
    stack.configure(cfg)
    r = connect(stack.url)
    counter = StoreCounter(cfg.store_url)
    dispatch = stack.service("dispatch")
    api_port = free_port()
    api = stack.service("api", "--port", str(api_port))
    wait_http(f"http://127.0.0.1:{api_port}/healthz", timeout=60)
    watch = Answering([f"http://127.0.0.1:{api_port}/healthz"], [dispatch, api]).__enter__()
    dets = spread_detections(stack.grid, 600, f"store-{backend}")
    publish_chunks(r, DETECTIONS, dets[:100])
    assert wait_until(lambda: counter.counts()["processed"] >= 100, 60), dispatch.output()[-3000:]
    outage_s = 12.0
    t_fault = time.monotonic()
    if backend == "sqlite":
        with SqliteLock(url.split("///", 1)[1]):
            for k in range(4):  # detections keep arriving while the store is locked
                publish_chunks(r, DETECTIONS, dets[100 + 100 * k : 200 + 100 * k])
                time.sleep(outage_s / 4)
        fault = f"SQLite write-locked by another connection for {outage_s:.0f} s"
    else:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as locker:
            locker.execute("LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE")
            for k in range(4):
                publish_chunks(r, DETECTIONS, dets[100 + 100 * k : 200 + 100 * k])
                time.sleep(outage_s / 4)
            locker.rollback()
        cut = 0
        for _ in range(3):  # then cut every connection of the service, three times
            cut += pg_terminate_others(url)
            time.sleep(1.0)
        fault = f"PostgreSQL table locked {outage_s:.0f} s, then {cut} connections terminated"
    t_back = time.monotonic()
    watch.__exit__(None, None, None)
    publish_chunks(r, DETECTIONS, dets[500:])
    done = wait_until(lambda: settled(counter, r, len(dets)), 180, step=0.5)
    t_done = time.monotonic()
    figures.update(
        offered=len(dets),
        fault=fault,
        outage_s=round(t_back - t_fault, 1),
        recover_s=round(t_done - t_back, 1),
        others_answered=watch.answered,
    )
    assert watch.answered, watch.failures[:5]
    assert dispatch.alive, f"dispatch exited with {dispatch.proc.returncode}: {dispatch.output()[-3000:]}"
    assert done, (counter.counts(), dispatch.output()[-3000:])
    check_exactly_once(counter, r, {d.id for d in dets}, figures)
    counter.close()
