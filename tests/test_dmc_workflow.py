"""The seven steps (数字城管) through the real API, store and Redis: a citizen report checked on site,
not filed; another filed, dispatched to its department, returned, re-dispatched by hand, extensions
refused and approved, handled, sent back for rework, verified on site and closed; the audit trail
names every step in zh-CN and English. Plus routing by type and place, and who may do what."""

from __future__ import annotations

import pytest

from dispatch.lifecycle import ACTIONS, Stage, Step
from dispatch.steps import route
from tests.helpers import login, png, point, report

DEPARTMENTS = [
    {"id": "sanitation", "name": "区环卫中心", "kind": "sanitation", "staff": [{"id": "san-1", "name": "S1"}]},
    {"id": "enforcement", "name": "城管执法局", "kind": "enforcement", "staff": [{"id": "enf-1", "name": "E1"}]},
    {"id": "street-2-sanitation", "name": "二街道环卫所", "kind": "sanitation", "areas": ["130203002"],
     "staff": [{"id": "san-2", "name": "S2"}]},
]  # fmt: skip
ROSTER = [
    {"id": "insp-a", "name": "A", "cells": ["130203001"]},
    {"id": "insp-b", "name": "B", "cells": ["130203002"]},
]
USERS = [
    ("alice", "inspector", "insp-a"),
    ("bob", "inspector", "insp-b"),
    ("olga", "operator", None),
    ("sam", "department", "san-1"),
    ("sue", "department", "san-2"),
    ("eric", "department", "enf-1"),
]
WORKFLOW = {"check_citizen_reports": True, "file_by_centre": ["citizen", "inspector"]}


@pytest.fixture
def dmc(staff_api):
    api = staff_api(users=USERS, roster=ROSTER, departments=DEPARTMENTS, workflow=WORKFLOW)
    client = api.client()
    who = {name: login(client, name) for name, *_ in USERS}
    return api, client, who


def post(client, iid, action, who, status=200, **body):
    res = client.post(f"/api/v1/incidents/{iid}/{action}", headers=who, json=body)
    assert res.status_code == status, (action, res.text)
    return res.json()


def photo(client, iid, who) -> str:
    res = client.post(
        f"/api/v1/incidents/{iid}/photos", headers=who, files={"file": ("p.png", png(), "image/png")}
    )
    assert res.status_code == 200, res.text
    return res.json()["photo"]


def incident_of(client, who, request_id):
    req = client.get(f"/open311/v2/requests/{request_id}.json").json()[0]
    rows = client.get("/api/v1/incidents", headers=who).json()
    return next(r for r in rows if abs(r["lat"] - req["lat"]) < 1e-9 and abs(r["lon"] - req["long"]) < 1e-9)


def test_one_case_through_every_step_and_branch(dmc):
    api, client, who = dmc
    ops, alice, bob, sam, eric = who["olga"], who["alice"], who["bob"], who["sam"], who["eric"]

    # 信息收集 → 核实 → not confirmed → 不予立案 (with a reason)
    false = incident_of(client, ops, report(client, api.grid, street="130203001")["service_request_id"])
    assert (false["state"], false["inspector"], false["stage"]["zh"]) == ("checking", "insp-a", "核实")
    assert client.get(f"/api/v1/incidents/{false['id']}", headers=bob).status_code == 404  # not bob's cell
    post(client, false["id"], "confirm", bob, 403)
    assert post(client, false["id"], "refute", alice, 422)["detail"].startswith(
        "refute (核实不属实) needs a reason"
    )
    assert post(client, false["id"], "refute", alice, note="nothing there")["state"] == "new"
    post(client, false["id"], "reject", ops, 422)  # 不予立案 needs its reason
    assert (
        post(client, false["id"], "reject", ops, note="not in scope: private ground")["state"] == "rejected"
    )

    # a second report elsewhere in the cell: 核实 confirmed → 立案 → 派遣 to the owner (sanitation)
    lon, lat = point(api.grid, "130203001", 1)
    res = client.post(
        "/open311/v2/requests.json", data={"service_code": "exposed_rubbish", "lat": lat, "long": lon}
    )
    iid = incident_of(client, ops, res.json()[0]["service_request_id"])["id"]
    mine = client.get("/api/v1/me/dispatches", headers=alice).json()
    assert [m["id"] for m in mine] == [iid] and mine[0]["actions"] == ["confirm", "refute"]
    post(client, iid, "confirm", alice, note="pile by the gate, confirmed")
    inc = post(client, iid, "file", ops, note="立案")
    assert (inc["state"], inc["department"], inc["assignee"]) == ("dispatched", "sanitation", "sanitation")
    assert (
        inc["stage"]["stage"] == "handle" and inc["stage"]["hours"] == 4 and inc["stage"]["time"] == "working"
    )
    assert inc["due"] == {}  # the inspector's accept/arrive/resolve clocks are not a department's

    # the department sees it; 回退 (with a reason) back to the centre, which dispatches by hand
    assert [d["id"] for d in client.get("/api/v1/me/dispatches", headers=sam).json()] == [iid]
    assert client.get("/api/v1/me/dispatches", headers=eric).json() == []
    post(client, iid, "accept", eric, 403)
    post(client, iid, "return", sam, 422)
    inc = post(client, iid, "return", sam, note="not ours: construction waste, enforcement's")
    assert (inc["state"], inc["department"], inc["assignee"]) == ("returned", None, None)
    assert client.get(f"/api/v1/incidents/{iid}", headers=sam).status_code == 404  # no longer theirs
    assert post(client, iid, "assign", ops, assignee="enforcement")["department"] == "enforcement"

    # 延期申请: refused, then asked again and approved (the handling clock grows by the hours)
    post(client, iid, "approve_extension", ops, 409)  # nothing asked yet
    inc = post(client, iid, "request_extension", eric, hours=4, note="needs a truck")
    assert inc["extension_request"]["hours"] == 4 and "approve_extension" not in inc["actions"]
    post(client, iid, "request_extension", eric, 409, hours=2, note="again")  # one at a time
    ops_view = client.get(f"/api/v1/incidents/{iid}", headers=ops).json()
    assert {"approve_extension", "refuse_extension"} <= set(ops_view["actions"])
    post(client, iid, "refuse_extension", ops, 422)  # a refusal says why
    inc = post(client, iid, "refuse_extension", ops, note="4 working hours is enough")
    assert inc["extension_request"] is None and inc["stage"]["hours"] == 4
    post(client, iid, "request_extension", eric, hours=8, note="the truck is booked until tomorrow")
    inc = post(client, iid, "approve_extension", ops)
    assert inc["extension_h"] == 8 and inc["stage"]["hours"] == 12

    # 处置 and 处理反馈 with photos; 核查 fails → 返工 with the inspector's photos
    post(client, iid, "accept", eric)
    inc = post(client, iid, "resolve", eric, note="cleared", photos=[photo(client, iid, eric)])
    assert inc["state"] == "resolved" and inc["stage"]["zh"] == "核查"
    assert {m["id"] for m in client.get("/api/v1/me/dispatches", headers=alice).json()} == {iid}
    post(client, iid, "rework", alice, 422, note="still there")  # needs photos
    post(client, iid, "rework", bob, 403, note="x", photos=[photo(client, iid, alice)])
    inc = post(
        client, iid, "rework", alice, note="half of it is still there", photos=[photo(client, iid, alice)]
    )
    assert (inc["state"], inc["department"], inc["accepted_at"]) == ("dispatched", "enforcement", None)
    assert inc["extension_h"] == 0  # a new handling round

    # handled again; 核查 passed on site; 结案 at the centre
    post(client, iid, "accept", eric)
    post(client, iid, "resolve", eric, note="all cleared", photos=[photo(client, iid, eric)])
    post(client, iid, "close", ops, 409)  # not before the inspector's check
    assert post(client, iid, "verify", alice, note="checked on site")["state"] == "verified"
    inc = post(client, iid, "close", ops, note="结案")
    assert inc["state"] == "closed" and inc["stage"] is None and inc["actions"] == []

    # the audit trail names every step in its standard term, zh-CN and English
    events = client.get(f"/api/v1/incidents/{iid}", headers=ops).json()["events"]
    acts = [e["extra"].get("act") for e in events if e["extra"].get("act")]
    assert acts == ["request_check", "confirm", "file", "assign", "return", "assign", "request_extension",
                    "refuse_extension", "request_extension", "approve_extension", "accept", "resolve", "rework",
                    "accept", "resolve", "verify", "close"]  # fmt: skip
    for e in events:
        if e["extra"].get("act"):
            a = ACTIONS[e["extra"]["act"]]
            assert (e["extra"]["term_zh"], e["extra"]["term_en"]) == (a.zh, a.en)
            assert e["extra"]["step_zh"] in {s.zh for s in Step}
    left = [e["extra"]["stage_zh"] for e in events if "stage_zh" in e["extra"]]
    assert left[:3] == [Stage.CHECK.zh, Stage.FILE.zh, Stage.DISPATCH.zh] and left[-2:] == ["核查", "结案"]
    assert all(e["extra"]["late"] is False for e in events if "late" in e["extra"])


def test_inspector_reports_and_the_centre_files(dmc):
    api, client, who = dmc
    lon, lat = point(api.grid, "130203002")
    res = client.post("/api/v1/reports", headers=who["bob"], json={"type": "E0102", "lon": lon, "lat": lat})
    assert res.status_code == 201, res.text
    iid = res.json()["incident_id"]
    inc = client.get(f"/api/v1/incidents/{iid}", headers=who["olga"]).json()
    assert (inc["state"], inc["source"], inc["inspector"], inc["stage"]["zh"]) == (
        "new",
        "inspector",
        "insp-b",
        "立案",
    )
    # sanitation is owned per street: street 130203002 has its own office
    assert post(client, iid, "file", who["olga"])["department"] == "street-2-sanitation"
    assert (
        client.post(
            "/api/v1/reports", headers=who["olga"], json={"type": "E0102", "lon": lon, "lat": lat}
        ).status_code
        == 403
    )
    bad = client.post(
        "/api/v1/reports", headers=who["bob"], json={"type": "nonsense", "lon": lon, "lat": lat}
    )
    assert bad.status_code == 422


def test_camera_cases_go_straight_to_the_owner(dmc):
    """Sources the centre does not file by hand are filed and dispatched at intake."""
    from datetime import UTC, datetime

    from streams.schemas import Detection

    api, client, who = dmc
    lon, lat = point(api.grid, "130203001")
    det = Detection(id="cam-1", type="illegal_advert", lon=lon, lat=lat, observed_at=datetime.now(UTC))
    iid = api.app.state.ctx.intake.handle(det).incident_id
    inc = client.get(f"/api/v1/incidents/{iid}", headers=who["olga"]).json()
    assert (inc["state"], inc["department"], inc["inspector"]) == ("dispatched", "enforcement", "insp-a")
    assert inc["filed_at"] is not None


def test_routing_by_type_and_place():
    from cityops.config import DepartmentConfig

    deps = [DepartmentConfig(**{k: v for k, v in d.items() if k != "staff"}) for d in DEPARTMENTS]
    assert route(deps, "exposed_rubbish", "130203001005") == "sanitation"
    assert route(deps, "E0102", "130203002001") == "street-2-sanitation"  # the street's own office first
    assert route(deps, "street_vending", None) == "enforcement"
    assert route(deps, "waterlogging", "130203001005") is None  # no drainage department configured
    listed = DepartmentConfig(id="parks", name="P", types=["E01"])  # a whole category by its code
    assert route([*deps, listed], "exposed_rubbish", "130203001005") == "parks"


def test_migration_keeps_existing_incidents_working(store_url):
    """Incidents stored before the seven steps keep their states; the inspector they were dispatched to
    becomes the cell's inspector, and each open one's step clock starts at its step's stamp."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text
    from sqlalchemy.orm import sessionmaker

    from dispatch.migrate import upgrade
    from dispatch.store import Incident, make_engine

    t0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    engine = make_engine(store_url)
    upgrade(engine, "0003")
    rows = [  # (id, state, assignee, dispatched_at, resolved_at)
        (1, "new", None, None, None),
        (2, "accepted", "insp-a", t0 + timedelta(minutes=1), None),
        (3, "resolved", "insp-b", t0 + timedelta(minutes=1), t0 + timedelta(hours=2)),
        (4, "closed", "insp-a", t0 + timedelta(minutes=1), t0 + timedelta(hours=2)),
    ]
    with engine.begin() as conn:
        for iid, state, who, dispatched, resolved in rows:
            conn.execute(
                text(
                    "INSERT INTO incidents (id, type, state, source, cell, lon, lat, assignee, count, description,"
                    " version, opened_at, updated_at, dispatched_at, resolved_at, breaches) VALUES (:id, 'illegal_parking',"
                    " :state, 'camera', '130203001001', 118.1, 39.6, :who, 1, '', 1, :t0, :t0, :d, :r, '[]')"
                ),
                {"id": iid, "state": state, "who": who, "t0": t0, "d": dispatched, "r": resolved},
            )
    upgrade(engine)
    with sessionmaker(engine)() as s:
        got = {i.id: i for i in s.query(Incident).all()}
    assert [got[i].state for i in (1, 2, 3, 4)] == ["new", "accepted", "resolved", "closed"]
    assert [got[i].inspector for i in (1, 2, 3, 4)] == [None, "insp-a", "insp-b", "insp-a"]
    assert got[1].stage_at == t0 and got[1].filed_at is None
    assert got[2].stage_at == t0 + timedelta(minutes=1) and got[2].filed_at == t0 + timedelta(minutes=1)
    assert got[3].stage_at == t0 + timedelta(hours=2)
    assert got[4].stage_at is None and got[4].late == [] and got[4].extension_h == 0
    engine.dispose()


def test_step_clocks_run_in_working_time_and_late_steps_escalate(tmp_path, store_url):
    """A report the centre must file, left over the weekend: its 立案 clock (0.5 working hours) runs out
    on Monday 08:20, not on Friday night; an urgent type's handling clock counts natural hours."""
    from datetime import UTC, datetime

    from dispatch.commands import Actor, Extras
    from dispatch.store import Incident, open_store
    from dispatch.wiring import build_dispatch
    from gis.default import load_grid
    from streams.schemas import Detection
    from tests.conftest import make_config

    cfg = make_config(
        tmp_path, store_url, roster=ROSTER,
        departments=DEPARTMENTS + [{"id": "drainage", "name": "排水管理处", "kind": "drainage"}],
        workflow={"file_by_centre": ["camera"]},
    )  # fmt: skip
    engine, sessions = open_store(cfg.store_url)
    grid = load_grid(cfg.grid, cfg.data)
    now = [datetime(2026, 11, 27, 9, 50, tzinfo=UTC)]  # Friday 17:50 in Shanghai
    parts = build_dispatch(cfg, grid, sessions=sessions, clock=lambda: now[0])
    lon, lat = point(grid, "130203001")
    iid = parts.intake.handle(
        Detection(id="c1", type="exposed_rubbish", lon=lon, lat=lat, observed_at=now[0])
    ).incident_id
    wet = parts.intake.handle(
        Detection(id="c2", type="waterlogging", lon=lon + 0.002, lat=lat, observed_at=now[0])
    ).incident_id
    ops = Actor("olga", "operator")
    parts.commands.act(wet, "file", ops)  # urgent: 2 natural hours to handle it
    now[0] = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # Saturday 10:00
    assert parts.commands.sweep_sla() == [(wet, "handle")]  # natural hours ran out overnight
    now[0] = datetime(2026, 11, 30, 0, 19, tzinfo=UTC)  # Monday 08:19: 10 min on Friday + 19 on Monday
    assert parts.commands.sweep_sla() == []
    now[0] = datetime(2026, 11, 30, 0, 21, tzinfo=UTC)  # 08:21: past the 30 working minutes
    assert parts.commands.sweep_sla() == [(iid, "file")]
    assert parts.commands.sweep_sla() == []  # recorded once
    inc = parts.commands.act(iid, "file", ops, Extras(note="late"))
    with sessions() as s:
        inc = s.get(Incident, iid)
        assert inc.late == ["file"] and inc.state == "dispatched" and inc.department == "sanitation"
    parts.close()
    engine.dispose()
