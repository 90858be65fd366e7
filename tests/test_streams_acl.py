"""The embedded server's ACL users against a real Valkey: the password file, each role's rights, no
anonymous access, and the services working end to end as their own roles."""

from __future__ import annotations

import json
import os
import socket
import stat
from datetime import UTC, datetime

import pytest
import redis
from fastapi.testclient import TestClient

from dashboard.live import LiveState
from dispatch.api.app import create_api
from dispatch.service import DispatchService
from dispatch.store import open_store
from gis.default import load_grid
from streams import acl
from streams.bus import connect, publish
from streams.embedded import EmbeddedRedis
from streams.schemas import (
    CAMERA_HEALTH,
    DEAD_LETTERS,
    DETECTIONS,
    DEVICE_HEALTH,
    INCIDENTS,
    CameraHealth,
    Detection,
    IncidentEvent,
)
from tests.conftest import ROOT, make_config
from vision.leases import Leases


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with EmbeddedRedis(tmp_path_factory.mktemp("acl-redis"), acl=True) as s:
        yield s


@pytest.fixture
def admin(srv):
    r = connect(srv.url)
    r.flushdb()
    yield r
    r.close()


def as_role(srv, role):
    return connect(srv.url_for(role))


def det(id_="d1", type_="illegal_parking", lon=118.19, lat=39.66):
    return Detection(id=id_, type=type_, lon=lon, lat=lat, observed_at=datetime.now(UTC))


def event(incident_id=1, state="dispatched", version=1):
    now = datetime.now(UTC)
    return IncidentEvent(
        incident_id=incident_id,
        version=version,
        action="created" if version == 1 else "transition",
        state=state,
        type="illegal_parking",
        lon=118.19,
        lat=39.66,
        at=now,
        opened_at=now,
    )


def raw(srv, line: bytes) -> bytes:
    """One command on a plain socket, as any local process could send it."""
    with socket.create_connection((srv.host, srv.port), timeout=5) as s:
        s.sendall(line)
        return s.recv(200)


def refused(call) -> str:
    with pytest.raises(redis.exceptions.NoPermissionError) as exc:
        call()
    return str(exc.value)


def test_password_file_is_private_and_reused(tmp_path):
    old = os.umask(0)  # even with a permissive umask the files are never readable by others
    try:
        with EmbeddedRedis(tmp_path, acl=True) as s:
            first = dict(s.passwords)
            connect(s.url_for("vision")).xadd(DETECTIONS, {"x": "1"})
    finally:
        os.umask(old)
    for name in (EmbeddedRedis.PASSWORDS, EmbeddedRedis.ACL_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    stored = json.loads((tmp_path / EmbeddedRedis.PASSWORDS).read_text())
    assert stored == first and set(stored) == set(acl.ROLES)
    assert len(set(stored.values())) == len(stored) and all(len(p) >= 32 for p in stored.values())
    acl_text = (tmp_path / EmbeddedRedis.ACL_FILE).read_text()
    assert not any(p in acl_text for p in stored.values()), "the ACL file holds hashes, not passwords"
    assert not any(tmp_path.glob(".*")), "no temporary file left behind"

    (tmp_path / EmbeddedRedis.PASSWORDS).chmod(0o644)  # someone widened it: narrowed on the next start
    with EmbeddedRedis(tmp_path, acl=True) as s:
        assert s.passwords == first
        assert connect(s.url_for("dispatch")).xlen(DETECTIONS) == 1  # same data, same passwords
    assert stat.S_IMODE((tmp_path / EmbeddedRedis.PASSWORDS).stat().st_mode) == 0o600


def test_unauthenticated_and_wrong_password_are_refused(srv, admin):
    assert raw(srv, b"PING\r\n").startswith(b"-NOAUTH")
    assert raw(srv, b"XADD cityops:detections * kind detection\r\n").startswith(b"-NOAUTH")
    assert raw(srv, b"AUTH default anything\r\n").startswith(b"-WRONGPASS")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=srv.host, port=srv.port, protocol=2).xadd(INCIDENTS, {"kind": "incident"})
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(acl.user_url(srv.host, srv.port, "vision", "guessed")).ping()
    assert admin.xlen(DETECTIONS) == 0 and admin.xlen(INCIDENTS) == 0


def test_vision_only_appends_detections_and_health_and_keeps_its_leases(srv, admin):
    v = as_role(srv, "vision")
    publish(v, DETECTIONS, det())
    publish(v, CAMERA_HEALTH, CameraHealth(camera_id="c1", state="online", at=datetime.now(UTC)))
    assert admin.xlen(DETECTIONS) == 1 and admin.xlen(CAMERA_HEALTH) == 1
    assert "key" in refused(lambda: v.xadd(INCIDENTS, {"kind": "incident"}))
    assert "key" in refused(lambda: v.xadd(DEAD_LETTERS, {"x": "1"}))
    assert "flushall" in refused(v.flushall)
    assert "xreadgroup" in refused(lambda: v.xreadgroup("dispatch", "v", {DETECTIONS: ">"}))
    assert "key" in refused(lambda: v.xrange(INCIDENTS))
    assert "xack" in refused(lambda: v.xack(DETECTIONS, "dispatch", "0-1"))
    admin.xgroup_create(DETECTIONS, "dispatch", id="0")
    assert v.xinfo_groups(DETECTIONS)[0]["name"] == "dispatch"  # a spool may see what was taken
    assert len(v.xrange(DETECTIONS)) == 1 and v.xpending(DETECTIONS, "dispatch")["pending"] == 0
    assert "xtrim" in refused(lambda: v.xtrim(DETECTIONS, 0))
    assert "config" in refused(lambda: v.config_set("appendonly", "no"))
    assert "key" in refused(lambda: v.set("cityops:ratelimit:1.2.3.4", 0))
    assert "key" in refused(lambda: v.eval("return redis.call('del', KEYS[1])", 1, DETECTIONS))
    leases = Leases(v, "w1", 5)  # what the vision worker does with its camera leases
    leases.heartbeat()
    assert leases.live_workers() == 1 and leases.acquire("cam-1") and not leases.acquire("cam-1")
    assert leases.renew("cam-1") and leases.holder("cam-1") == "w1"
    leases.release("cam-1")
    leases.leave()
    assert leases.holder("cam-1") is None


def test_dashboard_only_reads(srv, admin):
    publish(admin, INCIDENTS, event())
    d = as_role(srv, "dashboard")
    assert len(d.xrange(INCIDENTS)) == 1 and d.xread({INCIDENTS: "0-0", CAMERA_HEALTH: "0-0"})
    assert "xadd" in refused(lambda: d.xadd(INCIDENTS, {"kind": "incident"}))
    assert "del" in refused(lambda: d.delete(INCIDENTS))
    assert "xgroup" in refused(lambda: d.xgroup_create(INCIDENTS, "g"))
    assert "key" in refused(lambda: d.xrange(DETECTIONS))


def test_api_and_dispatch_rights(srv, admin):
    a, dp = as_role(srv, "api"), as_role(srv, "dispatch")
    assert (
        a.xadd(INCIDENTS, {"x": "1"}) and dp.xadd(INCIDENTS, {"x": "2"}) and dp.xadd(DEAD_LETTERS, {"x": "3"})
    )
    # the API publishes signed webhook alarms (iot.webhook): it could already open incidents itself
    assert a.xadd(DETECTIONS, {"x": "1"}) and "xreadgroup" in refused(
        lambda: a.xreadgroup("dispatch", "api", {DETECTIONS: ">"})
    )
    io = as_role(srv, "iot")  # the MQTT bridge: alarms in, device contact times, nothing else
    assert (
        io.xadd(DETECTIONS, {"x": "1"})
        and io.xadd(DEAD_LETTERS, {"x": "1"})
        and io.hset("cityops:iot:seen", "d", "t")
        and io.xadd(DEVICE_HEALTH, {"x": "1"})
    )
    assert "key" in refused(lambda: io.xadd(INCIDENTS, {"x": "1"}))
    assert "xread" in refused(lambda: io.xread({DEVICE_HEALTH: "0-0"}))
    assert as_role(srv, "dashboard").xread({DEVICE_HEALTH: "0-0"})  # the board's device layer
    assert "set" in refused(lambda: io.set("cityops:vision:lease:cam-1", "me"))
    pipe = a.pipeline()  # the login throttle's counters
    pipe.incr("cityops:login:fail:account:olga")
    pipe.expire("cityops:login:fail:account:olga", 900, nx=True)
    pipe.decr("cityops:login:fail:address:10.0.0.1")
    assert pipe.execute() == [1, True, -1]
    assert "key" in refused(lambda: dp.xadd(DETECTIONS, {"x": "1"}))
    assert "key" in refused(lambda: a.set("cityops:vision:lease:cam-1", "me"))
    assert "flushdb" in refused(dp.flushdb)
    assert "acl" in refused(lambda: dp.acl_list())


def test_services_work_end_to_end_as_their_roles(srv, admin, tmp_path, monkeypatch):
    """vision publishes, dispatch (its own user) consumes, dead-letters and publishes incidents, the
    API (its own user) publishes citizen reports and counts its rate limit, the board reads."""
    monkeypatch.setenv("CITYOPS_SECRET", "test-secret")
    cfg = make_config(tmp_path, dispatch={"citizen_rate_per_min": 3})
    grid = load_grid(cfg.grid, cfg.data)
    p = grid.cells[0].geometry.representative_point()
    v = as_role(srv, "vision")
    publish(v, DETECTIONS, det("cam-1", lon=p.x, lat=p.y))
    publish(v, DETECTIONS, det("forged", type_="<script>x</script>", lon=p.x, lat=p.y))
    svc = DispatchService(cfg, srv.url_for("dispatch"), consumer="acl-1")
    live = LiveState(srv.url_for("dashboard"))
    try:
        svc.consumer.setup()
        assert svc.step(block_ms=500) == 2
        svc.step(block_ms=10)
        assert svc.consumer.dead == 1 and admin.xlen(DEAD_LETTERS) == 1
        assert admin.xpending(DETECTIONS, "dispatch")["pending"] == 0
        live.poll(block_ms=100)
        assert [i.type for i in live.incidents.values()] == ["illegal_parking"]

        engine, sessions = open_store(cfg.store_url)
        app = create_api(cfg, sessions, grid, connect(srv.url_for("api")))
        with TestClient(app) as client:
            codes = [
                client.post(
                    "/open311/v2/requests.json",
                    data={"service_code": "exposed_rubbish", "lat": p.y, "long": p.x + 0.01 * k},
                ).status_code
                for k in range(5)
            ]
        engine.dispose()
        assert codes == [201, 201, 201, 429, 429]  # counted in Redis as the api user
        live.poll(block_ms=100)
        assert sorted(i.type for i in live.incidents.values()) == ["exposed_rubbish"] * 3 + [
            "illegal_parking"
        ]
    finally:
        svc.parts.close()
        live.r.close()


def test_documented_setuser_lines_work_on_an_external_server(tmp_path):
    """The lines docs/security.md gives for an external server, run as written on a server without
    ACLs: afterwards each role is confined like the embedded server's."""
    doc = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    lines = acl.setuser_commands()
    for line in lines:
        assert line in doc, f"docs/security.md lacks: {line}"
    with EmbeddedRedis(tmp_path) as plain:
        admin = connect(plain.url)
        for line in lines:
            role = line.split()[2]
            assert admin.execute_command(*line.replace(f"<{role}-password>", f"pw-{role}").split()) in (
                "OK",
                b"OK",
            )
        admin.execute_command("ACL", "SETUSER", "ops", "on", ">ops-pw", "~*", "&*", "+@all")
        admin.execute_command("ACL", "SETUSER", "default", "off")
        admin.close()
        vision = connect(acl.user_url(plain.host, plain.port, "vision", "pw-vision"))
        assert vision.xadd(DETECTIONS, {"x": "1"})
        assert "key" in refused(lambda: vision.xadd(INCIDENTS, {"x": "1"}))
        dash = connect(acl.user_url(plain.host, plain.port, "dashboard", "pw-dashboard"))
        assert "xadd" in refused(lambda: dash.xadd(INCIDENTS, {"x": "1"}))
        assert raw(plain, b"XADD cityops:incidents * kind incident\r\n").startswith(b"-NOAUTH")


def test_supervisor_gives_each_service_its_own_user(tmp_path):
    from urllib.parse import urlsplit

    from cityops.supervisor import SERVICES, service_env

    srv = EmbeddedRedis(tmp_path, acl=True)  # the URLs only: nothing started
    users = {name: urlsplit(service_env({"X": "1"}, name, srv.url, srv)["REDIS_URL"]) for name in SERVICES}
    assert {n: u.username for n, u in users.items()} == {n: acl.SERVICE_ROLES[n] for n in SERVICES}
    assert all(u.password == srv.passwords[u.username] for u in users.values())
    assert service_env({"X": "1"}, "vision", "redis://h:1/0", None) == {
        "X": "1",
        "REDIS_URL": "redis://h:1/0",
    }
