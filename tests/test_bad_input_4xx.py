"""Bad input that used to give 500 (issue 16 item 11): every one is a 4xx with a clear message, and
nothing is written. The API runs in-process (real app, store and Redis); the board's body cap and
deeply nested JSON are tried on the board's own Flask server."""

from __future__ import annotations

import pytest

from tests.helpers import login, report

JSON = {"Content-Type": "application/json"}


def _clear(res, *words):
    assert 400 <= res.status_code < 500, (res.status_code, res.text[:500])
    text = res.text.lower()
    assert any(w in text for w in words), res.text[:500]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(api, constant):  # noqa: F811
    client, grid, _clock, _r, _sessions, _cfg = api
    res = client.post("/api/v1/login", content=f'{{"username": {constant}, "password": "x"}}', headers=JSON)
    _clear(res, "nan", "infinity")
    res = client.post("/api/v1/login", content=f'{{"username": "x", "password": {constant}}}')  # no type
    _clear(res, "nan", "infinity")
    created = report(client, grid, photo=False)
    rid = created["service_request_id"]
    body = f'{{"token": "{created["rating_secret"]}", "rating": {constant}, "comment": ""}}'
    res = client.post(f"/open311/v2/requests/{rid}/rating.json", content=body, headers=JSON)
    _clear(res, "nan", "infinity")
    assert client.get(f"/open311/v2/requests/{rid}.json").json()[0]["rating"] is None
    ops = login(client, "olga")
    inc = client.get("/api/v1/incidents", headers=ops).json()[0]
    bob = login(client, "bob")  # the street 130203002 inspector
    body = f'{{"lon": {constant}, "lat": 39.6, "note": ""}}'
    res = client.post(f"/api/v1/incidents/{inc['id']}/arrive", content=body, headers={**JSON, **bob})
    _clear(res, "nan", "infinity")


def test_deeply_nested_json_is_refused(api):  # noqa: F811
    client = api[0]
    body = '{"username": ' + "[" * 100_000 + "]" * 100_000 + ', "password": "x"}'
    res = client.post("/api/v1/login", content=body, headers=JSON)
    _clear(res, "nested")


def test_naive_dates_on_open311_are_taken_in_the_city_time_zone(api):  # noqa: F811
    client, grid, *_ = api
    rid = report(client, grid, photo=False)["service_request_id"]
    for q in ("start_date=2020-01-01", "start_date=2020-01-01T00:00:00", "end_date=2999-01-01T08:00"):
        res = client.get(f"/open311/v2/requests.json?{q}")
        assert res.status_code == 200, (q, res.text[:300])
        assert [r["service_request_id"] for r in res.json()] == [rid]
    res = client.get("/open311/v2/requests.json?start_date=2999-01-01")
    assert res.status_code == 200 and res.json() == []
    res = client.get("/open311/v2/requests.json?start_date=0001-01-01T00:00:00&end_date=9999-12-31T23:59:59")
    assert res.status_code in (200, 400), res.text[:300]  # Open311 paths answer bad input with 400
    res = client.get("/open311/v2/requests.json?start_date=not-a-date")
    assert res.status_code == 400 and "start_date" in res.json()[0]["description"]


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_report_dates_out_of_range_are_refused(api, day):  # noqa: F811
    client = api[0]
    ops = login(client, "olga")
    for period in ("day", "week"):
        res = client.get(f"/api/v1/reports/summary?date={day}&period={period}", headers=ops)
        _clear(res, "date")
    assert client.get("/api/v1/reports/summary?date=2026-11-25", headers=ops).status_code == 200
