"""Consumer groups against a real Redis server: claim after a crash, idempotence, dead letters, AOF."""

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from streams.bus import GroupConsumer, connect, ensure_group, publish
from streams.embedded import EmbeddedRedis
from streams.schemas import DEAD_LETTERS, Detection

STREAM, GROUP = "test:detections", "dispatch"

DOOMED = """
import sys, time
from streams.bus import connect
r = connect(sys.argv[1])
res = r.xreadgroup("dispatch", "doomed", {"test:detections": ">"}, count=10, block=5000)
print(len(res[0][1]) if res else 0, flush=True)
time.sleep(60)  # never acknowledges: killed by the test
"""


def detection(i: int) -> Detection:
    return Detection(
        id=f"d-{i}", type="illegal_parking", lon=118.19, lat=39.66, observed_at=datetime.now(UTC)
    )


def test_killed_consumer_message_is_claimed_and_processed_once(redis_url, r):
    ensure_group(r, STREAM, GROUP)
    child = subprocess.Popen([sys.executable, "-c", DOOMED, redis_url], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    publish(r, STREAM, detection(1))
    assert child.stdout.readline().strip() == "1"  # read, not acknowledged
    child.send_signal(signal.SIGKILL)
    child.wait(5)
    assert r.xpending(STREAM, GROUP)["pending"] == 1

    seen = []
    live = GroupConsumer(
        r, STREAM, GROUP, "survivor", lambda m, eid: seen.append(m.id), claim_idle_ms=300, block_ms=50
    )
    live.setup()
    live.poll_once()
    assert seen == []  # not idle long enough yet: the owner might still be alive
    time.sleep(0.4)
    live.poll_once()
    assert seen == ["d-1"]
    for _ in range(3):
        live.poll_once()
    assert seen == ["d-1"], "claimed message processed more than once"
    assert r.xpending(STREAM, GROUP)["pending"] == 0


def test_failed_handler_leaves_message_pending_then_succeeds(r):
    calls = []

    def flaky(msg, eid):
        calls.append(msg.id)
        if len(calls) == 1:
            raise RuntimeError("store down")

    c = GroupConsumer(r, STREAM, GROUP, "c1", flaky, claim_idle_ms=100, block_ms=50)
    c.setup()
    publish(r, STREAM, detection(2))
    c.poll_once()
    assert r.xpending(STREAM, GROUP)["pending"] == 1 and c.failed == 1
    time.sleep(0.15)
    c.poll_once()
    assert calls == ["d-2", "d-2"]
    assert r.xpending(STREAM, GROUP)["pending"] == 0


def test_malformed_entry_goes_to_dead_letters(r):
    c = GroupConsumer(r, STREAM, GROUP, "c1", lambda m, e: None, block_ms=50)
    c.setup()
    r.xadd(STREAM, {"kind": "detection", "v": "1", "data": "{broken"})
    c.poll_once()
    assert c.dead == 1
    assert r.xpending(STREAM, GROUP)["pending"] == 0
    ((_, fields),) = r.xrange(DEAD_LETTERS)
    assert "not JSON" in fields["error"] and fields["stream"] == STREAM


def test_stream_length_is_bounded(r):
    for i in range(1500):
        publish(r, STREAM, detection(i), maxlen=200)
    assert r.xlen(STREAM) < 400  # approximate trimming keeps it near the bound


def test_embedded_server_keeps_acknowledged_data_across_restart(tmp_path):
    with EmbeddedRedis(tmp_path) as srv:
        c = connect(srv.url)
        publish(c, STREAM, detection(1))
        port = srv.port
        assert c.config_get("appendonly")["appendonly"] == "yes"
        c.close()
    assert any(p.name.startswith("appendonly") for p in tmp_path.iterdir())
    with EmbeddedRedis(tmp_path, port=port) as srv:
        c = connect(srv.url)
        assert c.xlen(STREAM) == 1
        c.close()
    assert srv.proc is None
