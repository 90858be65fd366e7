"""Open311 GeoReport v2 as the spec (wiki.open311.org/GeoReport_v2) says, in-process on the real app,
store and Redis: both formats, service definitions and attributes, tokens, errors, filters, address
resolution, private fields, api_key, media_url, camera incidents, status notes and the time line."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import xmltodict

from dispatch.accounts import load_secret
from dispatch.api.addresses import PROXY_HEADER, proxy_key
from streams.schemas import Detection
from tests.helpers import login, png, point

V2 = "/open311/v2"


def post(client, fmt="json", files=None, **data):
    return client.post(f"{V2}/requests.{fmt}", data=data, files=files)


def xml(res):
    assert res.headers["content-type"].startswith("text/xml"), res.headers
    return xmltodict.parse(res.content)


def test_every_endpoint_answers_json_and_xml_with_the_specs_element_names(api):
    client, grid, *_ = api
    lon, lat = point(grid, "130203002")
    services = client.get(f"{V2}/services.json").json()
    assert {"service_code", "service_name", "metadata", "type", "keywords", "group"} <= set(services[0])
    doc = xml(client.get(f"{V2}/services.xml"))
    assert [s["service_code"] for s in doc["services"]["service"]] == [s["service_code"] for s in services]

    definition = client.get(f"{V2}/services/road_damage.json").json()
    assert definition["service_code"] == "road_damage"
    where = next(a for a in definition["attributes"] if a["code"] == "where")
    assert where["required"] is True and where["datatype"] == "string"
    d = xml(client.get(f"{V2}/services/road_damage.xml"))["service_definition"]
    attrs = d["attributes"]["attribute"]
    blocking = next(a for a in attrs if a["code"] == "blocking")
    assert blocking["datatype"] == "singlevaluelist" and [v["key"] for v in blocking["values"]["value"]] == [
        "yes",
        "no",
    ]

    created = xml(post(client, "xml", service_code="exposed_rubbish", lat=lat, long=lon, description="bags"))
    req = created["service_requests"]["request"]
    rid, token = req["service_request_id"], req["token"]
    assert rid.startswith("R") and token and req["rating_secret"] != token
    tok = xml(client.get(f"{V2}/tokens/{token}.xml"))["service_requests"]["request"]
    assert tok == {"service_request_id": rid, "token": token}
    assert client.get(f"{V2}/tokens/{token}.json").json() == [{"service_request_id": rid, "token": token}]
    one = xml(client.get(f"{V2}/requests/{rid}.xml"))["service_requests"]["request"]
    assert one["service_request_id"] == rid and one["status"] == "open" and one["description"] == "bags"
    listed = xml(client.get(f"{V2}/requests.xml"))["service_requests"]["request"]
    listed = listed if isinstance(listed, list) else [listed]
    assert [r["service_request_id"] for r in listed] == [rid]
    assert client.get(f"{V2}/requests.json?jurisdiction_id=lubei").status_code == 200


def test_errors_come_in_the_specs_shape_in_both_formats(api):
    client, grid, *_ = api
    res = client.get(f"{V2}/requests/Rnope.json")
    assert res.status_code == 404 and res.json()[0]["code"] == 404 and "Rnope" in res.json()[0]["description"]
    res = client.get(f"{V2}/requests/Rnope.xml")
    err = xml(res)["errors"]["error"]
    assert res.status_code == 404 and err["code"] == "404" and "Rnope" in err["description"]
    res = post(client, "xml", service_code="ufo", lat=1, long=1)
    assert res.status_code == 400 and "unknown service_code" in xml(res)["errors"]["error"]["description"]
    res = client.get(f"{V2}/requests.json?status=pending")
    assert res.status_code == 400 and "status" in res.json()[0]["description"]
    assert client.get(f"{V2}/services/ufo.json").json()[0]["code"] == 404
    assert "detail" not in client.get(f"{V2}/tokens/none.json").text
    res = client.post(f"{V2}/requests.xml", content=b"x" * 10, headers={"Content-Length": "999999999"})
    assert res.status_code == 413 and xml(res)["errors"]["error"]["code"] == "413"


def test_attributes_are_validated_against_the_definition(api):
    client, grid, *_ = api
    lon, lat = point(grid, "130203001")
    base = {"service_code": "road_damage", "lat": lat, "long": lon}
    res = post(client, **base)
    assert res.status_code == 400 and "attribute[where] is required" in res.json()[0]["description"]
    res = post(client, **base, **{"attribute[where]": "by the gate", "attribute[blocking]": "maybe"})
    assert res.status_code == 400 and "one of ['no', 'yes']" in res.json()[0]["description"]
    res = post(client, **base, **{"attribute[where]": "x", "attribute[colour]": "red"})
    assert res.status_code == 400 and "unknown attribute" in res.json()[0]["description"]
    res = post(client, **base, **{"attribute[where]": "north gate", "attribute[blocking]": "yes"})
    assert res.status_code == 201, res.text


def test_requests_filters_as_the_spec_says(api):
    client, grid, clock, *_ = api
    now = clock.now
    ids = {}
    for i, (street, code) in enumerate(
        [("130203001", "exposed_rubbish"), ("130203002", "illegal_advert"), ("130203001", "muck_spill")]
    ):
        lon, lat = point(grid, street, i)
        clock.now = now - timedelta(days=[1, 10, 120][i])
        ids[code] = post(client, service_code=code, lat=lat, long=lon).json()[0]["service_request_id"]
    clock.now = now
    listed = lambda q="": [r["service_request_id"] for r in client.get(f"{V2}/requests.json{q}").json()]  # noqa: E731
    # no dates: the last 90 days only, newest first
    assert listed() == [ids["exposed_rubbish"], ids["illegal_advert"]]
    # comma lists; service_request_id overrides the other arguments (the 120-day-old one comes back)
    assert listed(f"?service_request_id={ids['muck_spill']},{ids['exposed_rubbish']}&status=closed") == [
        ids["muck_spill"], ids["exposed_rubbish"]
    ]  # fmt: skip
    assert listed("?service_code=illegal_advert,exposed_rubbish") == [
        ids["exposed_rubbish"],
        ids["illegal_advert"],
    ]
    assert listed("?status=open,closed") == listed() and listed("?status=closed") == []
    # dates with a time zone, and without (taken in the city's: Asia/Shanghai is UTC+8)
    start = (now - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%S")
    assert listed(f"?start_date={start}Z") == [ids["exposed_rubbish"]]
    old = (now - timedelta(days=121)).strftime("%Y-%m-%dT%H:%M:%S")
    end = (now - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%S")
    assert listed(f"?start_date={old}%2B00:00&end_date={end}%2B00:00") == [ids["muck_spill"]]
    res = client.get(f"{V2}/requests.json?start_date={old}Z&end_date={start}Z")
    assert res.status_code == 400 and "90 days" in res.json()[0]["description"]
    assert len(client.get(f"{V2}/requests.json?page_size=1").json()) == 1


def test_address_string_is_resolved_in_chinese_pinyin_and_english_or_answered_with_candidates(api):
    client, grid, *_ = api
    community = next(u for u in grid.communities if u.code.endswith("002") and u.parent.endswith("002"))
    for address in (
        community.name_zh + " 东门",
        "wenhualu di2 shequ",
        community.name_en.upper(),
        "Wenhualu Comunity 2",
    ):
        res = post(client, service_code="illegal_advert", address_string=address)
        assert res.status_code == 201, (address, res.text)
        rid = res.json()[0]["service_request_id"]
        req = client.get(f"{V2}/requests/{rid}.json").json()[0]
        assert grid.by_code[grid.locate(req["long"], req["lat"])].community == community.code, address
        assert community.name_zh in req["address"]
    res = post(client, service_code="illegal_advert", address_string="Community 2")
    body = res.json()[0]
    assert res.status_code == 400 and "not clear" in body["description"] and len(body["candidates"]) >= 2
    assert all(c["name"].endswith("Community 2") for c in body["candidates"][:2])
    pick = body["candidates"][0]["address_id"]
    assert post(client, service_code="illegal_advert", address_id=pick).status_code == 201
    res = post(client, "xml", service_code="illegal_advert", address_string="Beijing Road")
    assert res.status_code == 400 and "names no street" in xml(res)["errors"]["error"]["description"]


def test_media_url_is_a_stored_link_and_contact_details_stay_private(api):
    client, grid, *_ = api
    lon, lat = point(grid, "130203001")
    link = "http://127.0.0.1:9/never-fetched.jpg"  # nothing listens there: a fetch would fail the POST
    res = post(client, service_code="illegal_advert", lat=lat, long=lon, media_url=link, email="li@example.cn",
               first_name="Li", last_name="Lei", phone="13800000000", device_id="dev-1", account_id="acc-7")  # fmt: skip
    assert res.status_code == 201 and res.json()[0]["account_id"] == "acc-7"
    rid = res.json()[0]["service_request_id"]
    for path in (f"/requests/{rid}.json", f"/requests/{rid}.xml", "/requests.json", "/requests.xml"):
        text = client.get(V2 + path).text
        assert link in text
        for private in ("li@example.cn", "Lei", "13800000000", "acc-7"):
            assert private not in text, (path, private)
    assert (
        post(
            client, service_code="illegal_advert", lat=lat, long=lon, media_url="file:///etc/passwd"
        ).status_code
        == 400
    )


def test_photo_url_is_absolute_and_shown_only_with_consent(api):
    client, grid, clock, r, sessions, cfg = api
    lon, lat = point(grid, "130203001")
    files = {"media": ("p.png", png(), "image/png")}
    shown = post(client, files=files, service_code="illegal_advert", lat=lat, long=lon, public_photo="true")
    hidden = post(client, files=files, service_code="muck_spill", lat=lat, long=lon)
    url = client.get(f"{V2}/requests/{shown.json()[0]['service_request_id']}.json").json()[0]["media_url"]
    assert url.startswith(cfg.public_api_url + "/photos/") and client.get(urlsplit(url).path).content == png()
    assert (
        client.get(f"{V2}/requests/{hidden.json()[0]['service_request_id']}.json").json()[0]["media_url"]
        is None
    )


def test_api_key_when_required_and_the_board_without_one(staff_api):
    key = "integration-key-0123456789"
    api = staff_api(
        open311={"require_api_key": True, "api_keys": [key], "public_base_url": "https://311.example.cn/"}
    )
    client = api.client("198.51.100.9")
    lon, lat = point(api.grid, "130203001")
    form = {"service_code": "illegal_advert", "lat": lat, "long": lon}
    res = client.post(f"{V2}/requests.json", data=form)
    assert res.status_code == 403 and "api_key" in res.json()[0]["description"]
    assert (
        client.post(f"{V2}/requests.json", data={**form, "api_key": "wrong-key-0123456789"}).status_code
        == 403
    )
    assert client.post(f"{V2}/requests.json", data={**form, "api_key": key}).status_code == 201
    assert client.post(f"{V2}/requests.json?api_key={key}", data=form).status_code == 201  # in the URL too
    board = {PROXY_HEADER: proxy_key(load_secret(api.cfg.data))}
    assert client.post(f"{V2}/requests.json", data=form, headers=board).status_code == 201
    files = {"media": ("p.png", png(), "image/png")}
    res = client.post(
        f"{V2}/requests.json", data={**form, "api_key": key, "public_photo": "true"}, files=files
    )
    url = client.get(f"{V2}/requests/{res.json()[0]['service_request_id']}.json").json()[0]["media_url"]
    assert url.startswith("https://311.example.cn/photos/")


def test_camera_incidents_are_listed_when_the_setting_says_so(staff_api):
    for listed in (False, True):
        api = staff_api(open311={"list_camera_incidents": listed})
        ctx = api.app.state.ctx
        lon, lat = point(api.grid, "130203001")
        det = Detection(id=f"cam-{listed}", type="illegal_parking", lon=lon, lat=lat, observed_at=ctx.commands.clock(),
                        camera_id="cam-secret-7", evidence="evidence/cam/1.jpg")  # fmt: skip
        iid = ctx.intake.handle(det).incident_id
        client = api.client()
        rows = client.get(f"{V2}/requests.json").json()
        mine = [r for r in rows if r["service_request_id"] == f"C{iid}"]
        assert bool(mine) is listed
        if listed:
            assert mine[0]["service_code"] == "illegal_parking" and mine[0]["media_url"] is None
            text = client.get(f"{V2}/requests/C{iid}.xml").text
            assert "cam-secret-7" not in text and "evidence/" not in text and "insp-" not in text
        else:
            assert client.get(f"{V2}/requests/C{iid}.json").status_code == 404


def test_status_notes_timeline_and_times_say_what_happened(api):
    client, grid, clock, r, sessions, cfg = api
    lon, lat = point(grid, "130203002")
    created = post(client, service_code="exposed_rubbish", lat=lat, long=lon).json()[0]
    rid = created["service_request_id"]
    first = client.get(f"{V2}/requests/{rid}.json").json()[0]
    assert first["status_notes"] == "sent to the grid inspector" and first["expected_datetime"]
    assert [s["name"] for s in first["timeline"]] == ["received"]
    ops, bob = login(client, "olga"), login(client, "bob")
    [inc] = client.get("/api/v1/incidents", headers=ops).json()
    photo = client.post(f"/api/v1/incidents/{inc['id']}/photos", headers=bob,
                        files={"file": ("after.png", png(), "image/png")}).json()["photo"]  # fmt: skip
    steps = [
        ("accept", {}),
        ("arrive", {"lon": lon, "lat": lat}),
        ("resolve", {"note": "bags taken away", "photos": [photo]}),
    ]
    for minutes, (action, body) in enumerate(steps, start=1):
        clock.now += timedelta(minutes=minutes)
        res = client.post(f"/api/v1/incidents/{inc['id']}/{action}", headers=bob, json=body)
        assert res.status_code == 200, res.text
        req = client.get(f"{V2}/requests/{rid}.json").json()[0]
        assert req["updated_datetime"] > first["updated_datetime"]
        if action == "accept":
            assert req["status_notes"] == "accepted by the grid inspector" and "B" not in req["status_notes"]
    assert req["status_notes"] == "resolved by the grid inspector: bags taken away"
    assert [s["name"] for s in req["timeline"]] == ["received", "accepted", "on_site", "resolved"]
    assert req["timeline"][-1]["note"] == "bags taken away" and req["timeline"][1]["by"] == "grid inspector"
    assert req["public_note"] == "bags taken away" and req["after_photos"][0].endswith(photo)
    assert req["expected_datetime"] is None and req["status"] == "closed"
    steps_xml = xml(client.get(f"{V2}/requests/{rid}.xml"))["service_requests"]["request"]["timeline"]["step"]
    assert [s["name"] for s in steps_xml] == ["received", "accepted", "on_site", "resolved"]


def test_merged_reports_keep_their_own_report(api):
    client, grid, *_ = api
    lon, lat = point(grid, "130203001")
    files = {"media": ("p.png", png(), "image/png")}
    a = post(client, files=files, service_code="illegal_advert", lat=lat, long=lon, description="first",
             public_photo="true").json()[0]  # fmt: skip
    b = post(client, files=files, service_code="illegal_advert", lat=lat + 0.0001, long=lon, description="second",
             public_photo="true").json()[0]  # fmt: skip
    c = post(client, service_code="illegal_advert", lat=lat, long=lon + 0.0001, description="third").json()[0]
    assert a["merged_into"] is None and b["merged_into"] == c["merged_into"] is not None
    ra, rb = (client.get(f"{V2}/requests/{x['service_request_id']}.json").json()[0] for x in (a, b))
    assert (ra["description"], rb["description"]) == ("first", "second")
    assert rb["lat"] == lat + 0.0001 and rb["merged"] is True and ra["merged"] is False
    assert (
        rb["media_url"] != ra["media_url"]
        and rb["photos"] == [ra["media_url"]]
        and ra["photos"] == [rb["media_url"]]
    )
    support = client.post(f"{V2}/requests/{a['service_request_id']}/support.json")
    assert support.status_code == 200 and support.json()[0]["supports"] == 1
    near = client.get(
        f"{V2}/nearby.json", params={"service_code": "illegal_advert", "lat": lat, "long": lon}
    ).json()
    assert [n["service_request_id"] for n in near] == [a["service_request_id"]]
    far = client.get(
        f"{V2}/nearby.json", params={"service_code": "muck_spill", "lat": lat, "long": lon}
    ).json()
    assert far == []


def test_xml_answers_stay_well_formed_with_control_characters(api):
    client, grid, *_ = api
    lon, lat = point(grid, "130203001")
    res = post(client, service_code="illegal_advert", lat=lat, long=lon, description="bell\x07 <b>&amp;")
    rid = res.json()[0]["service_request_id"]
    req = xml(client.get(f"{V2}/requests/{rid}.xml"))["service_requests"]["request"]
    assert req["description"] == "bell\ufffd <b>&amp;"


def test_migration_keeps_older_citizen_reports_and_their_rating_secret(tmp_path, store_url):
    from datetime import UTC, datetime

    from sqlalchemy import text

    from dispatch.commands import Commands, token_hash
    from dispatch.lifecycle import State
    from dispatch.migrate import upgrade
    from dispatch.store import CitizenReport, make_engine
    from tests.conftest import make_config

    engine = make_engine(store_url)
    upgrade(engine, "0003")
    at = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO incidents (id, type, state, source, lon, lat, count, description, version, opened_at,"
            " updated_at, resolved_at, breaches) VALUES (7, 'exposed_rubbish', :st, 'citizen', 118.2, 39.65, 1,"
            " 'old pile', 3, :at, :at, :at, '[]')"), {"st": str(State.RESOLVED), "at": at})  # fmt: skip
        conn.execute(text("INSERT INTO processed_detections (detection_id, incident_id, at, token_hash, rating_comment)"
                          " VALUES ('Rold', 7, :at, :h, ''), ('cam-1', 7, :at, NULL, '')"), {"at": at, "h": token_hash("old-secret")})  # fmt: skip
    upgrade(engine)
    from sqlalchemy.orm import sessionmaker

    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions() as s:
        rows = s.query(CitizenReport).all()
        assert [(r.id, r.incident_id, r.description, r.service_code, r.at) for r in rows] == [
            ("Rold", 7, "old pile", "exposed_rubbish", at)
        ]
        assert rows[0].token and rows[0].secret_hash == token_hash("old-secret")
    Commands(make_config(tmp_path, store_url), sessions).rate("Rold", "old-secret", 4)
    with sessions() as s:
        assert s.get(CitizenReport, "Rold").rating == 4
    engine.dispose()


def test_a_report_the_desk_merged_follows_the_incident_it_went_into(api):
    client, grid, *_ = api
    a_lon, a_lat = point(grid, "130203002", 0)
    b_lon, b_lat = point(grid, "130203002", 3)  # far apart: two incidents
    a = post(client, service_code="illegal_advert", lat=a_lat, long=a_lon).json()[0]["service_request_id"]
    b = post(client, service_code="illegal_advert", lat=b_lat, long=b_lon).json()[0]["service_request_id"]
    ops, bob = login(client, "olga"), login(client, "bob")
    first, second = sorted(i["id"] for i in client.get("/api/v1/incidents", headers=ops).json())
    assert (
        client.post(f"/api/v1/incidents/{second}/merge", headers=ops, json={"into": first}).status_code == 200
    )
    assert client.post(f"/api/v1/incidents/{first}/accept", headers=bob).status_code == 200
    req = client.get(f"{V2}/requests/{b}.json").json()[0]
    assert req["state"] == "accepted" and req["merged"] is True and req["status"] == "open"
    assert client.get(f"{V2}/requests/{a}.json").json()[0]["merged"] is False


def test_open311_settings_are_validated():
    import pytest
    from pydantic import ValidationError

    from cityops.config import CityOpsConfig

    for bad in ({"public_base_url": "311.example.cn/api"}, {"api_keys": ["short"]}, {"max_requests": 0},
                {"list_camera_incidents": "sometimes"}):  # fmt: skip
        with pytest.raises(ValidationError):
            CityOpsConfig.model_validate({"open311": bad})
    cfg = CityOpsConfig.model_validate({"open311": {"public_base_url": "https://311.example.cn/"}})
    assert cfg.public_api_url == "https://311.example.cn"
    assert CityOpsConfig().public_api_url == CityOpsConfig().api_url
