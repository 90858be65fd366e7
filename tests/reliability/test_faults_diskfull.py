"""Fault: the data disk under the embedded Redis (append-only file on) fills up to the last byte.

Redis then refuses every write with ``MISCONF`` (XADD, XREADGROUP, XACK, even PING) while reads go
on. Detections are published through the vision worker's own publish path during the fault; real
``cityops dispatch`` and ``cityops dashboard`` processes run. Dispatch must wait (not die), the board
must keep answering, and once the space is back every detection must be exactly one incident:

* ``free``: the space comes back with Redis still running; the worker's spool is on the same full
  disk (so it keeps the detections in memory);
* ``crash``: Redis is SIGKILLed while the disk is full (what a stack stopped by the fault did), the
  space is freed and Redis restarted: what it had accepted but never written to disk is gone, and
  only the worker's spool (on a healthy disk here) brings it back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from cityops.config import CameraConfig
from dispatch.service import GROUP
from streams.bus import connect
from streams.embedded import EmbeddedRedis
from streams.schemas import DETECTIONS
from tests.conftest import free_port, make_config
from tests.helpers import fill, wait_http
from tests.reliability.conftest import Stack
from tests.reliability.harness import StoreCounter, incident_stream, pending, spread_detections, wait_until
from vision.worker import CameraRunner

NO_MERGE = {"merge_radius_m": 0, "sla_sweep_s": 3600}
DISK = "16m"


def answered(url: str) -> bool:
    """The server gave any HTTP answer (a 401 from a board that wants a login counts)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            resp.read()
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Producer(threading.Thread):
    """Detections through the vision worker's own publish path (a camera runner's), in order."""

    def __init__(self, runner: CameraRunner, dets) -> None:
        super().__init__(daemon=True)
        self.runner, self.dets, self.handed = runner, dets, 0

    def run(self) -> None:
        for det in self.dets:
            self.runner._publish_detection(det)
            self.handed += 1


def unconfirmed(runner: CameraRunner) -> int:
    """Detections the runner's producer still keeps in its spool (0 before its first one)."""
    prod = getattr(runner, "_producer", None)
    return len(prod.spool) if prod is not None else 0


@pytest.fixture
def disk(tmp_path):
    """A small tmpfs where the embedded Redis keeps its data (``tmp_path/redis``)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "redis"
    mnt.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mnt)], capture_output=True
    )
    if res.returncode:
        pytest.skip(f"cannot mount a tmpfs: {res.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize("how", ["free", "crash"])
def test_full_data_disk_loses_nothing(disk, tmp_path, request, figures, how):
    warm, n = 20, 200
    stack = Stack(tmp_path, request.node.name.replace("[", "-").replace("]", ""))
    try:
        vision = {"confirm_timeout_ms": 1000}
        if how == "free":
            vision["spool_dir"] = str(disk / "spool")  # the spool is on the full disk too
        cfg = make_config(tmp_path, redis={"claim_idle_ms": 2000}, dispatch=NO_MERGE, vision=vision)
        stack.configure(cfg)
        port = free_port()
        dispatch = stack.service("dispatch")
        board = stack.service("dashboard", "--port", str(port))
        live = f"http://127.0.0.1:{port}/api/live"
        wait_http(live, timeout=60)
        r = connect(stack.url)
        counter = StoreCounter(cfg.store_url)
        dets = spread_detections(stack.grid, warm + n, f"disk-{how}")

        cam = CameraConfig(id="diskfull", source="rtsp://127.0.0.1:1/none", lon=dets[0].lon, lat=dets[0].lat)
        runner = CameraRunner(cfg, cam, r, "df")
        Producer(runner, dets[:warm]).run()  # the stack works before the fault
        assert wait_until(lambda: counter.counts()["processed"] >= warm, 60), dispatch.output()[-3000:]

        filled = fill(disk)
        t_fault = time.monotonic()
        prod = Producer(runner, dets[warm:])
        prod.start()
        waited = wait_until(
            lambda: "MISCONF" in dispatch.output() and "waiting and retrying" in dispatch.output(), 90
        )
        board_ok = []
        for _ in range(5):
            board_ok.append(answered(live))
            time.sleep(0.5)
        dispatch_alive_in_fault = dispatch.alive
        spooled_in_fault = unconfirmed(runner)

        if how == "crash":  # Redis dies with the disk full; then the space comes back and it restarts
            stack.redis.proc.send_signal(signal.SIGKILL)
            stack.redis.proc.wait(10)
            stack.redis.proc = None
        os.unlink(disk / "filler")
        t_free = time.monotonic()
        if how == "crash":
            stack.redis = EmbeddedRedis(disk, port=stack.redis.port).start()
        restarted = False
        if not dispatch.alive:  # the old code: dispatch died; start it again to count the damage
            restarted = True
            dispatch.start()

        prod.join(120)
        expected = {d.id for d in dets}

        def settled():
            c = counter.counts()
            ok = (
                c["processed"] >= len(expected)
                and c["unpublished"] == 0
                and pending(r, DETECTIONS, GROUP) == 0
                and unconfirmed(runner) == 0
            )
            return c if ok else None

        done = wait_until(settled, 120)
        t_done = time.monotonic()
        on_board = wait_until(lambda: incident_stream(r)["created_incidents"] >= len(expected), 60)
        board_ok += [answered(live)]
        stored = counter.processed_ids()
        c = counter.counts()
        per_incident = counter.incident_counts()
        lost = len(expected - stored)
        duplicated = c["incidents"] - len(stored) + sum(v - 1 for v in per_incident.values())
        stream = incident_stream(r)  # what the board folds: every incident must be there too
        figures.update(
            fault=f"data disk full (tmpfs {DISK}), "
            + ("space freed" if how == "free" else "Redis SIGKILLed, restarted"),
            expected=n,
            got=len(stored & {d.id for d in dets[warm:]}),
            lost=lost,
            duplicated=duplicated,
            recover_s=round(t_done - t_free, 1),
            fault_s=round(t_free - t_fault, 1),
            others_answered=all(board_ok) and dispatch_alive_in_fault,
            dispatch_alive=dispatch_alive_in_fault,
            dispatch_restarted=restarted,
            spooled_in_fault=spooled_in_fault,
            filled_bytes=filled,
            sends=getattr(runner._producer, "sends", None) if hasattr(runner, "_producer") else None,
            stream_created=stream["created_incidents"],
        )
        assert waited, "dispatch did not log that it waits for Redis:\n" + dispatch.output()[-3000:]
        assert dispatch_alive_in_fault and not restarted, dispatch.output()[-3000:]
        assert all(board_ok), board_ok
        assert done, (counter.counts(), unconfirmed(runner), dispatch.output()[-3000:])
        assert lost == 0, sorted(expected - stored)[:10]
        assert duplicated == 0 and c["incidents"] == len(expected) == c["processed"], c
        assert on_board and stream["created_incidents"] == len(expected), stream
        assert dispatch.alive and board.alive
        runner.producer.stop()
        counter.close()
    finally:
        stack.close()
