"""The dispatch HTTP API in-process (real app, real store, real Redis): lifecycle, roles, SLA, bad input."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from itsdangerous import URLSafeTimedSerializer
from PIL import Image

from dispatch.commands import Commands
from dispatch.lifecycle import ACTIONS, TRANSITIONS
from streams.schemas import INCIDENTS, decode
from tests.helpers import login, png, point, report

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def incident_of(client, request_id):
    # the operator finds the incident the citizen's request became
    ops = login(client, "olga")
    rows = client.get("/api/v1/incidents", headers=ops).json()
    req = client.get(f"/open311/v2/requests/{request_id}.json").json()[0]
    return next(r for r in rows if abs(r["lat"] - req["lat"]) < 1e-9 and abs(r["lon"] - req["long"]) < 1e-9)


def test_citizen_answers_carry_the_merge_target_and_the_state(api):
    client, grid, clock, r, sessions, cfg = api
    created = report(client, grid)
    inc = incident_of(client, created["service_request_id"])
    again = report(client, grid, photo=False)  # the same spot again: merged, and the answer says into what
    assert created["merged_into"] is None and again["merged_into"] == inc["id"]
    assert again["photo_problem"] is None
    status = client.get(f"/open311/v2/requests/{again['service_request_id']}.json").json()[0]
    assert status["state"] == "dispatched" and status["status"] == "open"


def test_full_lifecycle_from_citizen_report_to_rating(api):
    client, grid, clock, r, sessions, cfg = api
    created = report(client, grid)
    inc = incident_of(client, created["service_request_id"])
    assert inc["state"] == "dispatched" and inc["assignee"] == "insp-b" and inc["source"] == "citizen"

    bob = login(client, "bob")
    mine = client.get("/api/v1/me/dispatches", headers=bob).json()
    assert [m["id"] for m in mine] == [inc["id"]] and "accept" in mine[0]["actions"]
    iid = inc["id"]
    assert client.post(f"/api/v1/incidents/{iid}/accept", headers=bob).json()["state"] == "accepted"
    photo = client.post(
        f"/api/v1/incidents/{iid}/photos", headers=bob, files={"file": ("after.png", png(), "image/png")}
    ).json()["photo"]
    lon, lat = point(grid, "130203002")
    res = client.post(
        f"/api/v1/incidents/{iid}/arrive", headers=bob, json={"lon": lon, "lat": lat, "note": "here"}
    )
    assert res.json()["state"] == "on_site"
    res = client.post(
        f"/api/v1/incidents/{iid}/resolve", headers=bob, json={"note": "cleared", "photos": [photo]}
    )
    assert res.json()["state"] == "resolved"
    ops = login(client, "olga")
    assert (
        client.post(f"/api/v1/incidents/{iid}/verify", headers=ops, json={"note": "checked"}).json()["state"]
        == "verified"
    )
    assert client.post(f"/api/v1/incidents/{iid}/close", headers=ops, json={}).json()["state"] == "closed"

    status = client.get(f"/open311/v2/requests/{created['service_request_id']}.json").json()[0]
    assert status["status"] == "closed" and status["media_url"].startswith(f"{cfg.public_api_url}/photos/")
    assert status["state"] == "closed"
    assert client.get(status["media_url"].removeprefix(cfg.public_api_url)).content == png()
    rid, token = created["service_request_id"], created["rating_secret"]
    assert (
        client.post(
            f"/open311/v2/requests/{rid}/rating.json", json={"token": "x" * 20, "rating": 5}
        ).status_code
        == 403
    )
    assert (
        client.post(f"/open311/v2/requests/{rid}/rating.json", json={"token": token, "rating": 5}).json()[0][
            "rating"
        ]
        == 5
    )
    assert (
        client.post(f"/open311/v2/requests/{rid}/rating.json", json={"token": token, "rating": 1}).status_code
        == 409
    )

    detail = client.get(f"/api/v1/incidents/{iid}", headers=ops).json()
    trail = [
        (e["version"], e["action"], e["from_state"], e["to_state"], e["actor"]) for e in detail["events"]
    ]
    assert trail == [
        (1, "created", None, "new", "system"),
        (2, "assigned", "new", "dispatched", "system"),
        (3, "transition", "dispatched", "accepted", "bob"),
        (4, "transition", "accepted", "on_site", "bob"),
        (5, "transition", "on_site", "resolved", "bob"),
        (6, "transition", "resolved", "verified", "olga"),
        (7, "transition", "verified", "closed", "olga"),
        (8, "rated", "closed", "closed", "citizen"),
    ]
    assert detail["events"][3]["extra"]["lon"] == pytest.approx(lon)
    assert detail["events"][4]["extra"]["photos"] == [photo]
    published = [decode(f) for _, f in r.xrange(INCIDENTS)]
    assert [e.version for e in published if e.incident_id == iid] == list(range(1, 9))


def test_every_illegal_transition_is_refused_by_the_api(api):
    client, grid, *_ = api
    bob, ops = login(client, "bob"), login(client, "olga")
    iid = incident_of(client, report(client, grid)["service_request_id"])["id"]
    # dispatched: cannot arrive, resolve, verify or close yet
    for action, who, body in [
        ("arrive", bob, {"lon": 0, "lat": 0}),
        ("resolve", bob, {}),
        ("verify", ops, {}),
        ("close", ops, {}),
    ]:
        res = client.post(f"/api/v1/incidents/{iid}/{action}", headers=who, json=body)
        assert res.status_code == 409, (action, res.text)
        assert "cannot go from 'dispatched'" in res.json()["detail"]
    assert (
        client.post(f"/api/v1/incidents/{iid}/reject", headers=ops, json={"note": "not ours"}).json()["state"]
        == "rejected"
    )
    for action, who in [("accept", bob), ("verify", ops), ("close", ops), ("reject", ops)]:
        res = client.post(f"/api/v1/incidents/{iid}/{action}", headers=who, json={})
        assert res.status_code == 409 and "final state" in res.json()["detail"]


def test_transition_table_matches_actions():
    states = set(TRANSITIONS)
    for action in ACTIONS.values():
        if action.to_state is None:  # keeps the state (an extension request and its answer)
            assert action.from_states and action.from_states <= states
        else:
            assert action.to_state in states
    # every state can be left except the final ones, and every non-final state is reachable from new
    seen, todo = set(), ["new"]
    while todo:
        s = todo.pop()
        if s not in seen:
            seen.add(s)
            todo += TRANSITIONS[s]
    assert seen == states


def test_role_isolation(api):
    client, grid, *_ = api
    alice, bob = login(client, "alice"), login(client, "bob")
    iid = incident_of(client, report(client, grid, street="130203002")["service_request_id"])["id"]
    assert client.get(f"/api/v1/incidents/{iid}", headers=alice).status_code == 404
    res = client.post(f"/api/v1/incidents/{iid}/accept", headers=alice)
    assert res.status_code == 403 and "not dispatched to you" in res.json()["detail"]
    assert client.get("/api/v1/me/dispatches", headers=alice).json() == []
    assert client.get("/api/v1/incidents", headers=bob).status_code == 403
    assert (
        client.post(f"/api/v1/incidents/{iid}/assign", headers=bob, json={"assignee": "insp-b"}).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/v1/incidents/{iid}/photos", headers=alice, files={"file": ("a.png", png(), "image/png")}
        ).status_code
        == 404
    )
    assert client.get("/api/v1/incidents").status_code == 401


def test_operator_reassigns_and_merges(api):
    client, grid, *_ = api
    ops, alice = login(client, "olga"), login(client, "alice")
    a = incident_of(client, report(client, grid, k=0)["service_request_id"])["id"]
    b = incident_of(client, report(client, grid, k=5)["service_request_id"])["id"]
    assert a != b
    res = client.post(
        f"/api/v1/incidents/{a}/assign", headers=ops, json={"assignee": "insp-a", "note": "B is off sick"}
    )
    assert res.json()["assignee"] == "insp-a"
    assert [d["id"] for d in client.get("/api/v1/me/dispatches", headers=alice).json()] == [a]
    assert (
        client.post(f"/api/v1/incidents/{a}/assign", headers=ops, json={"assignee": "ghost"}).status_code
        == 404
    )
    merged = client.post(f"/api/v1/incidents/{b}/merge", headers=ops, json={"into": a}).json()
    assert merged["state"] == "duplicate" and merged["merged_into"] == a
    assert client.get(f"/api/v1/incidents/{a}", headers=ops).json()["count"] == 2
    assert client.post(f"/api/v1/incidents/{a}/merge", headers=ops, json={"into": a}).status_code == 409


def test_sla_breach_escalates_once_and_survives_restart(api):
    client, grid, clock, r, sessions, cfg = api
    clock.now = T0
    iid = incident_of(client, report(client, grid, code="illegal_parking")["service_request_id"])["id"]
    cmds = client.app.state.ctx.commands
    clock.now = T0 + timedelta(seconds=59)
    assert cmds.sweep_sla() == []
    clock.now = T0 + timedelta(seconds=61)
    assert cmds.sweep_sla() == [(iid, "accept")]
    assert cmds.sweep_sla() == []  # recorded once
    restarted = Commands(cfg, sessions, clock)  # a new process derives clocks from the store
    clock.now = T0 + timedelta(hours=1, seconds=1)
    assert restarted.sweep_sla() == [(iid, "arrive")]
    detail = client.get(f"/api/v1/incidents/{iid}", headers=login(client, "olga")).json()
    assert detail["breaches"] == ["accept", "arrive"] and detail["escalated_to"] == "sup-1"
    assert [e["action"] for e in detail["events"]][-2:] == ["sla_breach", "sla_breach"]
    # per-type targets: a fire-lane case must be on site within 15 minutes
    clock.now = T0
    fire = incident_of(client, report(client, grid, code="fire_lane_blocked", k=3)["service_request_id"])[
        "id"
    ]
    clock.now = T0 + timedelta(minutes=16)
    assert (fire, "arrive") in cmds.sweep_sla()


def test_bad_input_is_refused_with_clear_messages(api):
    client, grid, *_ = api
    lon, lat = point(grid, "130203001")
    form = {"service_code": "exposed_rubbish", "lat": lat, "long": lon}
    post = lambda data, files=None: client.post("/open311/v2/requests.json", data=data, files=files)  # noqa: E731
    desc = lambda res: res.json()[0]["description"]  # noqa: E731 (Open311 errors: the spec's shape)
    res = post({**form, "service_code": "ufo"})
    assert res.status_code == 400 and "unknown service_code" in desc(res)
    res = post({**form, "lat": 10.0, "long": 10.0})
    assert res.status_code == 400 and "outside the district" in desc(res)
    res = post(form, {"media": ("x.png", b"MZ\x90\x00 not an image at all", "image/png")})
    assert res.status_code == 415 and "not a readable image" in desc(res)
    big = png() + b"\x00" * 600_000
    res = post(form, {"media": ("big.png", big, "image/png")})
    assert res.status_code == 413
    bomb = io.BytesIO()
    Image.new("1", (8000, 6000)).save(bomb, "PNG")  # 48 Mpx in a few KB
    res = post(form, {"media": ("bomb.png", bomb.getvalue(), "image/png")})
    assert res.status_code == 400 and "pixels" in desc(res)
    truncated = png((400, 300))[:200]
    assert post(form, {"media": ("t.png", truncated, "image/png")}).status_code == 415
    res = client.post("/api/v1/login", content=b"{not json", headers={"Content-Type": "application/json"})
    assert res.status_code == 422 and "json" in res.text.lower()
    assert client.post("/api/v1/login", json={"username": "olga", "password": "wrong"}).status_code == 401
    assert client.post("/api/v1/login", json={"username": "nobody", "password": "x"}).status_code == 401
    forged = URLSafeTimedSerializer("another-secret", salt="cityops-login").dumps(
        {"u": "olga", "r": "admin", "i": None}
    )
    res = client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {forged}"})
    assert res.status_code == 401 and "not valid" in res.json()["detail"]
    res = client.get("/api/v1/incidents/99999", headers=login(client, "olga"))
    assert res.status_code == 404
    res = client.get("/photos/20260101/..%2Fsecret.key")
    assert res.status_code == 404
    res = client.post("/open311/v2/requests.json", content=b"x" * 10, headers={"Content-Length": "999999999"})
    assert res.status_code == 413


def test_expired_token_is_refused(api, monkeypatch):
    client, *_ = api
    headers = login(client, "olga")
    client.app.state.ctx.tokens.ttl_s = -1
    res = client.get("/api/v1/incidents", headers=headers)
    assert res.status_code == 401 and "expired" in res.json()["detail"]


def test_citizen_flood_is_rate_limited(api):
    client, grid, *_ = api
    codes = [
        client.post(
            "/open311/v2/requests.json", data={"service_code": "ufo", "lat": 0, "long": 0}
        ).status_code
        for _ in range(12)
    ]
    assert codes[:8] == [400] * 8 and set(codes[8:]) == {429}


def test_reports_per_street_as_json_and_csv(api):
    client, grid, clock, r, sessions, cfg = api
    ops = login(client, "olga")
    report(client, grid, street="130203001")
    report(client, grid, street="130203002", k=4)
    day = clock.now.astimezone(ZoneInfo(cfg.timezone)).date().isoformat()
    rows = client.get("/api/v1/reports/summary", params={"by": "street", "date": day}, headers=ops).json()
    by_key = {r["key"]: r for r in rows}
    assert by_key["130203001"]["opened"] == 1 and by_key["130203002"]["open_now"] == 1
    csv_text = client.get(
        "/api/v1/reports/summary", params={"by": "type", "format": "csv", "date": day}, headers=ops
    ).text
    assert csv_text.splitlines()[0].startswith("key,opened,closed") and "exposed_rubbish" in csv_text
    assert client.get("/api/v1/reports/summary", headers=login(client, "bob")).status_code == 403


def test_published_openapi_document_is_current():
    import json

    from dispatch.api.spec import openapi_document
    from tests.conftest import ROOT

    published = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert published == json.loads(json.dumps(openapi_document())), (
        "docs/openapi.json is out of date: python -m dispatch.api.spec > docs/openapi.json"
    )
    paths = published["paths"]
    assert "/open311/v2/requests.{fmt}" in paths and "/api/v1/me/dispatches" in paths
    assert {"/open311/v2/services/{service_code}.{fmt}", "/open311/v2/tokens/{token}.{fmt}"} <= set(paths)
