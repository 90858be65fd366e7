"""Redis errors that heal by themselves, and the producer's spool: real servers (a private Valkey
per test whose settings are changed), real files, a real full disk (tmpfs) where we may mount one."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from datetime import UTC, datetime

import pytest
import redis
from redis._parsers.base import BaseParser

from streams.bus import GroupConsumer, connect, publish
from streams.embedded import EmbeddedRedis
from streams.errors import Outage, is_transient
from streams.producer import DurableProducer
from streams.schemas import DETECTIONS, Detection, encode
from streams.spool import Spool
from tests.helpers import fill


def _det(i: int) -> Detection:
    return Detection(
        id=f"spool-{i}", type="illegal_parking", lon=118.2, lat=39.65, observed_at=datetime.now(UTC)
    )


def _wait(cond, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if got := cond():
            return got
        time.sleep(0.05)
    return cond()


@pytest.fixture
def server(tmp_path):
    with EmbeddedRedis(tmp_path / "redis") as srv:
        yield srv


# -- the classifier -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "MISCONF Errors writing to the AOF file: No space left on device",
        "OOM command not allowed when used memory > 'maxmemory'.",
        "READONLY You can't write against a read only replica.",
        "LOADING Redis is loading the dataset in memory",
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.",
        "NOREPLICAS Not enough good replicas to write.",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    ],
)
def test_server_replies_that_heal_are_transient(reply):
    exc = BaseParser.parse_error(reply)  # the exception redis-py raises for this reply
    assert is_transient(exc), (type(exc), str(exc))


@pytest.mark.parametrize(
    "reply",
    [
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "NOPERM User vision has no permissions to run the 'xreadgroup' command",
        "WRONGPASS invalid username-password pair or user is disabled.",
        "BUSYGROUP Consumer Group name already exists",
        "BUSYKEY Target key name already exists.",
        "ERR syntax error",
        "NOSCRIPT No matching script. Please use EVAL.",
    ],
)
def test_errors_that_need_a_person_are_not_transient(reply):
    assert not is_transient(BaseParser.parse_error(reply))


def test_classifier_sees_through_a_pipeline_error(server):
    r = connect(server.url)
    r.set("plain", "1")
    r.config_set("maxmemory", 1)
    try:
        pipe = r.pipeline(transaction=False)
        pipe.xadd("s", {"a": "1"})
        with pytest.raises(redis.ResponseError) as oom:
            pipe.execute()
        assert "pipeline" in str(oom.value) and is_transient(oom.value), oom.value
    finally:
        r.config_set("maxmemory", 0)
    pipe = r.pipeline(transaction=False)
    pipe.xadd("plain", {"a": "1"})
    with pytest.raises(redis.ResponseError) as wrongtype:
        pipe.execute()
    assert not is_transient(wrongtype.value)
    misconf = BaseParser.parse_error("MISCONF Errors writing to the AOF file: No space left on device")
    pipe.annotate_exception(misconf, 1, ("XADD", "cityops:incidents", "*", "kind", "incident"))
    assert str(misconf).startswith("Command # 1") and is_transient(misconf)


def test_classifier_on_real_server_errors(server):
    r = connect(server.url)
    r.set("plain", "1")
    with pytest.raises(redis.ResponseError) as wrongtype:
        r.xadd("plain", {"a": "1"})
    assert not is_transient(wrongtype.value)
    r.config_set("maxmemory", 1)
    try:
        with pytest.raises(redis.RedisError) as oom:
            r.xadd("s", {"a": "1"})
        assert is_transient(oom.value), oom.value
    finally:
        r.config_set("maxmemory", 0)
    assert is_transient(redis.ConnectionError("Connection refused"))


def test_outage_logs_once_per_episode(caplog):
    log = logging.getLogger("test.outage")
    outage = Outage(log, "thing")
    exc = BaseParser.parse_error("MISCONF Errors writing to the AOF file: No space left on device")
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        for _ in range(50):
            outage.failed(exc)
        outage.ok()
        outage.ok()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "MISCONF" in lines[0] and "waiting and retrying" in lines[0]
    assert "answers again" in lines[1] and "50 retries" in lines[1]


# -- the spool ------------------------------------------------------------------------------------


def test_spool_write_confirm_and_replay_after_restart(tmp_path):
    sp = Spool(tmp_path, "w1")
    for i in range(5):
        assert sp.add(f"k{i}", {"data": str(i)}) is True
    sp.confirm(["k1", "k3"])
    assert [k for k, _ in sp.items()] == ["k0", "k2", "k4"]
    os.close(sp._fd)  # the process dies: no close(), the file and its lock are left behind
    sp._fd = None
    again = Spool(tmp_path, "w1")
    assert [(k, f["data"]) for k, f in again.items()] == [("k0", "0"), ("k2", "2"), ("k4", "4")]
    again.confirm(["k0", "k2", "k4"])
    assert len(again) == 0 and again.path.stat().st_size == 0
    again.close()
    assert not again.path.exists()


def test_spool_tolerates_corrupt_and_torn_lines(tmp_path):
    path = tmp_path / "w2.jsonl"
    good = [json.dumps({"add": f"k{i}", "fields": {"data": str(i)}}) for i in range(3)]
    path.write_text(
        good[0]
        + "\n"
        + "{not json\n"
        + good[1]
        + "\n"
        + '{"done": "k0"}\n'
        + good[2]
        + "\n"
        + '{"add": "k9", "fi'
    )
    sp = Spool(tmp_path, "w2")
    assert [k for k, _ in sp.items()] == ["k1", "k2"]
    assert sp.corrupt_lines == 2
    assert sp.add("k5", {"data": "5"})
    sp.close()
    reread = Spool(tmp_path, "w2")  # the torn tail was cut, so the new line is whole
    assert [k for k, _ in reread.items()] == ["k1", "k2", "k5"]
    assert reread.corrupt_lines == 0
    reread.close()


def test_spool_is_bounded_oldest_dropped(tmp_path, caplog):
    sp = Spool(tmp_path, "w3", max_entries=3)
    with caplog.at_level(logging.ERROR, logger="streams.spool"):
        for i in range(5):
            sp.add(f"k{i}", {"data": str(i)})
    assert [k for k, _ in sp.items()] == ["k2", "k3", "k4"]
    assert sp.dropped == 2
    assert sum("dropped the oldest" in r.getMessage() for r in caplog.records) == 2
    sp.close()


def test_orphaned_spool_is_adopted_by_the_next_producer(tmp_path):
    dead = Spool(tmp_path, "dead-worker")
    dead.add("a", {"data": "1"})
    dead.add("b", {"data": "2"})
    alive = Spool(tmp_path, "live-worker")
    assert alive.adopt_orphans() == 0  # its producer still holds the lock
    os.close(dead._fd)  # it dies
    dead._fd = None
    new = Spool(tmp_path, "new-worker")
    assert new.adopt_orphans() + alive.adopt_orphans() == 2
    assert not dead.path.exists()
    assert sorted(k for s in (new, alive) for k, _ in s.items()) == ["a", "b"]
    new.close()
    alive.close()


def _mount_tmpfs(path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if res.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")


def test_spool_on_a_full_disk_keeps_in_memory_then_writes(tmp_path, caplog):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "256k")
    try:
        sp = Spool(disk / "spool", "w4")
        assert sp.add("before", {"data": "x"})
        fill(disk)
        with caplog.at_level(logging.ERROR, logger="streams.spool"):
            results = [sp.add(f"k{i}", {"data": "y" * 5000}) for i in range(5)]
        assert results == [False] * 5  # never raises
        assert len(sp) == 6 and len(sp.memory_only) == 5
        assert sum("memory only" in r.getMessage() for r in caplog.records) == 1  # loud, once
        os.unlink(disk / "filler")
        assert sp.flush_memory() == 0
        sp._fd and os.close(sp._fd)
        sp._fd = None  # dies: everything must come back from the file
        back = Spool(disk / "spool", "w4")
        assert [k for k, _ in back.items()] == ["before"] + [f"k{i}" for i in range(5)]
        back.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


# -- the producer ---------------------------------------------------------------------------------


def test_producer_confirms_with_waitaof_and_waits_through_oom(server, tmp_path, caplog):
    r = connect(server.url)
    prod = DurableProducer(connect(server.url), DETECTIONS, Spool(tmp_path / "spool", "p1"), name="p1")
    prod.submit("spool-0", encode(_det(0)))
    assert _wait(lambda: prod.confirmed == 1), prod.spool.items()
    assert prod.mode == "waitaof" and r.xlen(DETECTIONS) == 1
    r.config_set("maxmemory", 1)  # every XADD is refused with OOM now
    try:
        with caplog.at_level(logging.WARNING, logger="streams.producer"):
            for i in range(1, 6):
                prod.submit(f"spool-{i}", encode(_det(i)))
            assert _wait(lambda: prod.outage.retries >= 3)
            assert len(prod.spool) == 5 and r.xlen(DETECTIONS) == 1
    finally:
        r.config_set("maxmemory", 0)
    assert _wait(lambda: len(prod.spool) == 0), prod.spool.items()
    ids = [json.loads(f["data"])["id"] for _, f in r.xrange(DETECTIONS)]
    assert sorted(set(ids)) == [f"spool-{i}" for i in range(6)]
    waits = [rec.getMessage() for rec in caplog.records if "OOM" in rec.getMessage()]
    assert len(waits) == 1, waits  # one line for the episode, not one per retry
    prod.stop()


def test_producer_without_aof_confirms_once_processed(server, tmp_path):
    r = connect(server.url)
    r.config_set("appendonly", "no")
    r.xgroup_create(DETECTIONS, "dispatch", id="0", mkstream=True)
    prod = DurableProducer(connect(server.url), DETECTIONS, Spool(tmp_path / "spool", "p2"), name="p2")
    for i in range(3):
        prod.submit(f"spool-{i}", encode(_det(i)))
    assert _wait(lambda: r.xlen(DETECTIONS) == 3)
    assert prod.mode == "processed"
    time.sleep(1.0)
    assert len(prod.spool) == 3  # sent, but nobody has processed them: still kept
    seen = []
    consumer = GroupConsumer(r, DETECTIONS, "dispatch", "c1", lambda m, e: seen.append(m.id))
    consumer.poll_once(block_ms=100)
    assert sorted(seen) == ["spool-0", "spool-1", "spool-2"]
    assert _wait(lambda: len(prod.spool) == 0), prod.spool.items()
    prod.stop()


# -- consumers ------------------------------------------------------------------------------------


def test_group_consumer_waits_through_a_busy_server(server, caplog):
    """A script that keeps the server BUSY: the consumer waits and goes on (it used to die)."""
    r = connect(server.url)
    r.config_set("busy-reply-threshold", 100)
    seen: list[str] = []
    consumer = GroupConsumer(
        connect(server.url), DETECTIONS, "g", "c1", lambda m, e: seen.append(m.id), block_ms=100
    )
    stop = threading.Event()
    t = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    with caplog.at_level(logging.WARNING, logger="streams.bus"):
        t.start()
        publish(r, DETECTIONS, _det(1))
        assert _wait(lambda: seen == ["spool-1"])
        blocker = redis.Redis.from_url(server.url)
        script = threading.Thread(
            target=lambda: _swallow(lambda: blocker.eval("local i = 0 while true do i = i + 1 end", 0)),
            daemon=True,
        )
        script.start()
        assert _wait(lambda: any("BUSY" in rec.getMessage() for rec in caplog.records), 20)
        redis.Redis.from_url(server.url).script_kill()
        script.join(10)
        assert _wait(lambda: _swallow(r.ping) is True)  # the kill takes effect a moment later
        publish(r, DETECTIONS, _det(2))
        assert _wait(lambda: seen == ["spool-1", "spool-2"]), seen
        assert t.is_alive()
    stop.set()
    t.join(5)
    busy = [rec.getMessage() for rec in caplog.records if "BUSY" in rec.getMessage()]
    assert len(busy) == 1, busy


def _swallow(fn):
    try:
        return fn()
    except redis.RedisError as exc:
        return exc


def test_producer_with_an_xadd_only_acl_user_still_delivers(server, tmp_path):
    """A role that may only XADD (no WAITAOF, no XINFO): the entries still go out, confirmed on
    acceptance, and the spool does not fill up."""
    r = connect(server.url)
    r.acl_setuser("vis", enabled=True, passwords=["+pw"], keys=["cityops:*"], commands=["+xadd", "+ping"])
    url = server.url.replace("redis://", "redis://vis:pw@")
    prod = DurableProducer(connect(url), DETECTIONS, Spool(tmp_path / "spool", "p3"), name="p3")
    for i in range(3):
        prod.submit(f"spool-{i}", encode(_det(i)))
    assert _wait(lambda: len(prod.spool) == 0), (prod.mode, prod.spool.items())
    assert prod.mode == "accepted" and r.xlen(DETECTIONS) == 3
    prod.stop()


# -- dispatch after a Redis restart ---------------------------------------------------------------


def test_dispatch_republishes_incident_events_a_restarted_redis_lost(tmp_path):
    """Events Redis accepted but never wrote down are missing after its restart: dispatch notices
    the new server and publishes them again, so the board sees every incident."""
    from dispatch.service import DispatchService
    from streams.schemas import INCIDENTS, decode
    from tests.conftest import make_config

    srv = EmbeddedRedis(tmp_path / "redis").start()
    try:
        cfg = make_config(tmp_path, dispatch={"merge_radius_m": 0, "sla_sweep_s": 3600})
        svc = DispatchService(cfg, srv.url, consumer="t1")
        r = connect(srv.url)
        svc.consumer.setup()
        grid_pts = [c.geometry.representative_point() for c in svc.intake.grid.cells[:4]]
        for i, p in enumerate(grid_pts):
            d = Detection(
                id=f"lost-{i}", type="illegal_parking", lon=p.x, lat=p.y, observed_at=datetime.now(UTC)
            )
            publish(r, DETECTIONS, d)
        assert _wait(lambda: svc.step(block_ms=100) == 0 and r.xlen(INCIDENTS) >= 8)

        def created() -> set[int]:
            return {
                m.incident_id for m in (decode(f) for _, f in r.xrange(INCIDENTS)) if m.action == "created"
            }

        assert len(created()) == 4
        for eid, _ in r.xrevrange(INCIDENTS, count=3):  # the tail the disk never got
            r.xdel(INCIDENTS, eid)
        assert len(created()) < 4
        port = srv.port
        srv.stop()
        srv = EmbeddedRedis(tmp_path / "redis", port=port).start()
        assert _wait(lambda: svc.step(block_ms=100) == 0 and len(created()) == 4, 30), created()
        svc.parts.close()
    finally:
        srv.stop()


def test_board_live_state_keeps_following_through_a_busy_server(server, caplog):
    """The board's stream follower waits through BUSY (it used to die silently, freezing the board)."""
    from dashboard.live import LiveState
    from streams.schemas import INCIDENTS, IncidentEvent

    def event(i: int) -> IncidentEvent:
        now = datetime.now(UTC)
        return IncidentEvent(
            incident_id=i, version=1, action="created", state="new", type="illegal_parking",
            lon=118.2, lat=39.65, at=now, opened_at=now,
        )  # fmt: skip

    r = connect(server.url)
    r.config_set("busy-reply-threshold", 100)
    live = LiveState(server.url).start()
    try:
        with caplog.at_level(logging.WARNING, logger="dashboard.live"):
            publish(r, INCIDENTS, event(1))
            assert _wait(lambda: 1 in live.incidents)
            blocker = redis.Redis.from_url(server.url)
            script = threading.Thread(
                target=lambda: _swallow(lambda: blocker.eval("local i = 0 while true do i = i + 1 end", 0)),
                daemon=True,
            )
            script.start()
            assert _wait(lambda: any("BUSY" in rec.getMessage() for rec in caplog.records), 30)
            redis.Redis.from_url(server.url).script_kill()
            script.join(10)
            assert _wait(lambda: _swallow(r.ping) is True)
            publish(r, INCIDENTS, event(2))
            assert _wait(lambda: 2 in live.incidents), list(live.incidents)
            assert live._thread.is_alive()
    finally:
        live.stop()
