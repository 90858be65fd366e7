"""What the console and the inspector's phone read from the API (issue 11 items 2, 4 and 11): names
instead of codes, the evidence of the work done, and an inspector's reject with a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gis.projection import distance_m
from tests.helpers import login, png, point, report


def _mine(client, headers) -> dict:
    [inc] = client.get("/api/v1/me/dispatches", headers=headers).json()
    return inc


def test_incidents_carry_names_source_and_escalation(api):
    client, grid, *_ = api
    report(client, grid, street="130203002")
    ops = login(client, "olga")
    [inc] = client.get("/api/v1/incidents", headers=ops).json()
    cell = grid.by_code[inc["cell"]]
    assert inc["source"] == "citizen"
    assert inc["street"] == {"code": cell.street, "name_zh": cell.street_zh, "name_en": cell.street_en}
    assert inc["community"]["code"] == cell.community and inc["community"]["name_zh"] == cell.community_zh
    assert (inc["assignee"], inc["assignee_name"]) == ("insp-b", "B")  # the roster's name
    assert inc["escalated"] is False and inc["escalated_to_name"] is None
    bob = login(client, "bob")
    esc = client.post(f"/api/v1/incidents/{inc['id']}/escalate", headers=bob, json={"note": "too big"}).json()
    assert esc["escalated"] is True and esc["escalated_to"] == "sup-1" and esc["escalated_to_name"] == "S"


def test_login_and_me_give_the_roster_name(api):
    client, *_ = api
    res = client.post("/api/v1/login", json={"username": "bob", "password": "bob-password"}).json()
    assert (res["inspector_id"], res["name"]) == ("insp-b", "B")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {res['token']}"}).json()
    assert me["name"] == "B"
    assert (
        client.get("/api/v1/me", headers=login(client, "olga")).json()["name"] == "olga"
    )  # not on the roster


def test_detail_has_after_photos_and_the_arrival_distance(api):
    client, grid, *_ = api
    report(client, grid, street="130203002")
    bob = login(client, "bob")
    inc = _mine(client, bob)
    iid = inc["id"]
    client.post(f"/api/v1/incidents/{iid}/accept", headers=bob)
    up = [client.post(f"/api/v1/incidents/{iid}/photos", headers=bob, files={"file": (f"{k}.png", png((40 + k, 30)), "image/png")}).json()["photo"]
          for k in range(2)]  # fmt: skip
    lon, lat = point(grid, "130203002", 1)  # the next cell: some way off the incident
    client.post(
        f"/api/v1/incidents/{iid}/arrive", headers=bob, json={"lon": lon, "lat": lat, "photos": up[:1]}
    )
    client.post(f"/api/v1/incidents/{iid}/resolve", headers=bob, json={"note": "done", "photos": up})
    detail = client.get(f"/api/v1/incidents/{iid}", headers=login(client, "olga")).json()
    assert detail["after_photos"] == up  # each once, in the order sent
    arrival = detail["arrival"]
    assert (arrival["lon"], arrival["lat"], arrival["actor"]) == (lon, lat, "bob")
    expected = distance_m(inc["lon"], inc["lat"], lon, lat)
    assert expected > 10 and arrival["distance_m"] == pytest.approx(expected, abs=0.1)
    assert detail["evidence"].startswith("photos/")  # the citizen's photo: the "before"


def test_an_inspector_rejects_own_dispatch_only_with_a_reason(api):
    client, grid, *_ = api
    report(client, grid, street="130203002")
    bob, alice = login(client, "bob"), login(client, "alice")
    inc = _mine(client, bob)
    assert "reject" in inc["actions"] and "escalate" in inc["actions"]
    url = f"/api/v1/incidents/{inc['id']}/reject"
    assert client.post(url, headers=bob, json={"note": "  "}).status_code == 422
    assert client.post(url, headers=alice, json={"note": "not mine"}).status_code == 403
    res = client.post(url, headers=bob, json={"note": "no rubbish here"})
    assert res.status_code == 200 and res.json()["state"] == "rejected"
    detail = client.get(f"/api/v1/incidents/{inc['id']}", headers=login(client, "olga")).json()
    assert (detail["events"][-1]["actor"], detail["events"][-1]["note"]) == ("bob", "no rubbish here")


def test_an_inspector_sees_today_s_finished_work(api):
    client, grid, clock, *_ = api
    for k in range(3):
        report(client, grid, street="130203002", k=k)
    bob, alice = login(client, "bob"), login(client, "alice")
    mine = client.get("/api/v1/me/dispatches", headers=bob).json()
    assert len(mine) == 3
    done, rejected, still_open = (m["id"] for m in mine)
    client.post(f"/api/v1/incidents/{done}/accept", headers=bob)
    client.post(
        f"/api/v1/incidents/{done}/arrive", headers=bob, json={"lon": mine[0]["lon"], "lat": mine[0]["lat"]}
    )
    client.post(f"/api/v1/incidents/{done}/resolve", headers=bob, json={"note": "ok"})
    client.post(f"/api/v1/incidents/{rejected}/reject", headers=bob, json={"note": "nothing there"})
    finished = client.get("/api/v1/me/finished", headers=bob).json()
    assert sorted(f["id"] for f in finished) == sorted([done, rejected]) and still_open not in [
        f["id"] for f in finished
    ]
    assert client.get("/api/v1/me/finished", headers=alice).json() == []
    assert client.get("/api/v1/me/finished", headers=login(client, "olga")).status_code == 403
    clock.now = clock.now + timedelta(days=1)  # tomorrow: a fresh list
    assert client.get("/api/v1/me/finished", headers=bob).json() == []
