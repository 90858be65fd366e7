"""Keeping out (issue 16, items 6-9), against the real API app, store and Redis: logins that end,
throttled password guessing, X-Forwarded-For that cannot be spoofed, photos without metadata."""

from __future__ import annotations

import io
import logging
import time
from urllib.parse import urlsplit

import pytest
import redis
from PIL import ExifTags, Image, PngImagePlugin
from starlette.requests import Request

from dispatch.accounts import load_secret, update_user
from dispatch.api.addresses import PROXY_HEADER, client_address, proxy_key, trusted_networks
from dispatch.api.throttle import LoginThrottle
from tests.conftest import free_port

USERS = [
    ("ada", "admin", None),
    ("olga", "operator", None),
    ("sam", "supervisor", None),
    ("bob", "inspector", "insp-b"),
]  # user0..user11 in the guessing tests do not exist: unknown names fail (and count) the same


@pytest.fixture
def api(staff_api):
    return staff_api(users=USERS, dispatch={"account_check_s": 0.5, "citizen_rate_per_min": 8})


def wait_for_status(client, headers, status, timeout=15.0):
    """Poll a staff route until it answers ``status`` (a cached account state lasts account_check_s)."""
    deadline = time.monotonic() + timeout
    while True:
        res = client.get("/api/v1/incidents", headers=headers)
        if res.status_code == status or time.monotonic() > deadline:
            return res
        time.sleep(0.1)


# -- item 6: logins end ----------------------------------------------------------------------------
def test_token_refused_after_deactivation(api):
    client = api.client()
    olga, ada = api.login(client, "olga"), api.login(client, "ada")
    assert client.get("/api/v1/incidents", headers=olga).status_code == 200
    res = client.patch("/api/v1/users/olga", headers=olga, json={"active": False})
    assert res.status_code == 403 and "admin" in res.json()["detail"]
    res = client.patch("/api/v1/users/olga", headers=ada, json={"active": False})
    assert res.status_code == 200 and res.json()["active"] is False
    res = client.get("/api/v1/incidents", headers=olga)
    assert res.status_code == 401 and "deactivated" in res.json()["detail"]
    assert (
        client.post("/api/v1/login", json={"username": "olga", "password": "olga-password"}).status_code
        == 401
    )
    # changed by another process (the CLI, another API worker): refused once this one's cache lapses
    sam = api.login(client, "sam")
    update_user(api.sessions, "sam", active=False)
    res = wait_for_status(client, sam, 401)
    assert res.status_code == 401 and "deactivated" in res.json()["detail"]


def test_token_refused_after_role_change(api):
    client = api.client()
    sam, ada = api.login(client, "sam"), api.login(client, "ada")
    assert client.get("/api/v1/incidents", headers=sam).status_code == 200
    res = client.patch("/api/v1/users/sam", headers=ada, json={"role": "inspector", "inspector_id": "insp-a"})
    assert res.status_code == 200 and res.json()["role"] == "inspector"
    res = client.get("/api/v1/incidents", headers=sam)
    assert res.status_code == 401 and "log in again" in res.json()["detail"]
    sam = api.login(client, "sam")  # the new login carries the new role
    assert client.get("/api/v1/incidents", headers=sam).status_code == 403
    # bad changes are refused whole
    res = client.patch("/api/v1/users/olga", headers=ada, json={"role": "inspector"})
    assert res.status_code == 422 and "roster id" in res.json()["detail"]
    assert client.patch("/api/v1/users/nobody", headers=ada, json={"active": False}).status_code == 404
    assert client.get("/api/v1/incidents", headers=api.login(client, "olga")).status_code == 200
    # lowered by another process
    olga = api.login(client, "olga")
    update_user(api.sessions, "olga", role="inspector", inspector_id="insp-a")
    assert wait_for_status(client, olga, 401).status_code == 401


def test_token_refused_after_logout(api):
    client = api.client()
    phone, desk = api.login(client, "olga"), api.login(client, "olga")  # two devices
    assert client.post("/api/v1/logout").status_code == 401
    res = client.post("/api/v1/logout", headers=phone)
    assert res.status_code == 200 and "logged out" in res.json()["detail"]
    for headers in (phone, desk):
        res = client.get("/api/v1/incidents", headers=headers)
        assert res.status_code == 401 and "log in again" in res.json()["detail"]
    assert client.post("/api/v1/logout", headers=phone).status_code == 401
    assert client.get("/api/v1/incidents", headers=api.login(client, "olga")).status_code == 200


def test_token_refused_after_password_change(api):
    client = api.client()
    old, other = api.login(client, "olga"), api.login(client, "olga")
    body = {"current_password": "wrong-password", "new_password": "olga-new-password"}
    assert client.post("/api/v1/me/password", headers=old, json=body).status_code == 403
    body["current_password"] = "olga-password"
    res = client.post("/api/v1/me/password", headers=old, json=body)
    assert res.status_code == 200, res.text
    fresh = {"Authorization": f"Bearer {res.json()['token']}"}
    assert client.get("/api/v1/incidents", headers=fresh).status_code == 200
    for headers in (old, other):
        assert client.get("/api/v1/incidents", headers=headers).status_code == 401
    assert (
        client.post("/api/v1/login", json={"username": "olga", "password": "olga-password"}).status_code
        == 401
    )
    api.login(client, "olga", "olga-new-password")
    # an admin's reset ends the logins too
    ada = api.login(client, "ada")
    assert (
        client.patch("/api/v1/users/olga", headers=ada, json={"password": "olga-third-pw"}).status_code == 200
    )
    assert client.get("/api/v1/incidents", headers=fresh).status_code == 401


# -- item 7: password guessing ---------------------------------------------------------------------
def test_wrong_passwords_are_throttled_per_account(api, caplog):
    client = api.client("198.51.100.20")
    wrong = {"username": "olga", "password": "not-her-password"}
    with caplog.at_level(logging.INFO, logger="cityops.api.login"):
        codes = [client.post("/api/v1/login", json=wrong) for _ in range(200)]
    limit = api.cfg.dispatch.login_failures_per_account
    assert [r.status_code for r in codes[:limit]] == [401] * limit
    assert {r.status_code for r in codes[limit:]} == {429}
    retry = int(codes[-1].headers["Retry-After"])
    assert 0 < retry <= api.cfg.dispatch.login_window_s
    assert "too many failed logins" in codes[-1].json()["detail"]
    throttled = [r.message for r in caplog.records if "login throttled" in r.message]
    assert sum("account 'olga'" in m for m in throttled) == 1 and len(throttled) <= 2
    # the right password is refused too while throttled, from any address
    for address in ("198.51.100.20", "198.51.100.21"):
        res = api.client(address).post("/api/v1/login", json={**wrong, "password": "olga-password"})
        assert res.status_code == 429 and int(res.headers["Retry-After"]) > 0
    # other accounts are not affected
    api.login(api.client("198.51.100.22"), "sam")


def test_wrong_passwords_are_throttled_per_address_across_accounts(api):
    client = api.client("198.51.100.30")
    limit = api.cfg.dispatch.login_failures_per_address
    names = [f"user{i}" for i in range(12)]

    def fail(n):
        for k in range(n):
            res = client.post(
                "/api/v1/login", json={"username": names[k % len(names)], "password": "guess-123"}
            )
            assert res.status_code == 401, (k, res.text)

    fail(limit - 10)
    api.login(client, "ada")  # a success gives back its own attempt only: the failures stay counted
    fail(10)
    res = client.post("/api/v1/login", json={"username": "sam", "password": "sam-password"})
    assert res.status_code == 429 and "your address" in res.json()["detail"]
    assert int(res.headers["Retry-After"]) > 0
    api.login(api.client("198.51.100.31"), "sam")  # the same account from elsewhere is fine


def test_login_throttle_counts_the_forwarded_client_not_the_spoofed_one(api):
    proxy = api.client("127.0.0.1")  # the board: a proxy by its key
    board = {PROXY_HEADER: proxy_key(load_secret(api.cfg.data))}
    limit = api.cfg.dispatch.login_failures_per_address
    codes = [
        proxy.post(
            "/api/v1/login",
            json={"username": f"user{i % 12}", "password": "guess-123"},
            headers={**board, "X-Forwarded-For": f"10.9.{i}.1, 203.0.113.8"},
        ).status_code
        for i in range(limit + 5)
    ]
    assert codes[:limit] == [401] * limit and set(codes[limit:]) == {429}
    res = proxy.post(
        "/api/v1/login",
        json={"username": "ada", "password": "ada-password"},
        headers={**board, "X-Forwarded-For": "203.0.113.9"},
    )
    assert res.status_code == 200  # another client behind the same proxy is not throttled


def test_login_throttle_keeps_counting_in_memory_while_redis_is_away(caplog):
    """Redis unreachable (a real client on a port nobody listens on): logins still work (not closed)
    and guessing is still throttled, counted in the process (not open)."""
    r = redis.Redis(port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    throttle = LoginThrottle(r, per_account=3, per_address=5, window_s=60)
    with caplog.at_level(logging.WARNING, logger="cityops.api.login"):
        verdicts = [throttle.attempt("olga", "198.51.100.40") for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert 0 < verdicts[-1].retry_after <= 60
    assert sum("Redis unavailable" in r.message for r in caplog.records) == 1  # said once, not per login
    assert throttle.attempt("sam", "198.51.100.41").allowed
    throttle.succeeded("sam", "198.51.100.41")


# -- item 8: X-Forwarded-For -----------------------------------------------------------------------
def _request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
    return Request({"type": "http", "headers": headers, "client": (peer, 1234)})


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("198.51.100.1", ["10.9.0.1"], "198.51.100.1"),  # not a proxy: its header means nothing
        ("127.0.0.1", ["10.9.0.1, 203.0.113.7"], "203.0.113.7"),  # the client chose only the left part
        ("127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["10.9.0.1, 203.0.113.7, 10.20.3.4"], "203.0.113.7"),  # two proxies (a CIDR)
        ("127.0.0.1", ["10.9.0.1", "203.0.113.7"], "203.0.113.7"),  # two header lines: in order
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["127.0.0.1"], "127.0.0.1"),
        ("::ffff:127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["2001:db8::1"], "2001:db8::1"),
        ("testclient", ["10.9.0.1"], "testclient"),
    ],
)
def test_client_address_is_the_rightmost_untrusted(peer, forwarded, expected):
    trusted = trusted_networks(("127.0.0.1", "::1", "10.20.0.0/16"))
    assert client_address(_request(peer, *forwarded), trusted) == expected


def test_the_boards_key_makes_a_proxy_of_any_peer_and_a_wrong_key_does_not():
    key = proxy_key("s3cret")
    assert key != proxy_key("other") and "s3cret" not in key
    req = _request("127.0.0.1", "203.0.113.7")
    req_key = Request(
        {
            "type": "http",
            "headers": [(b"x-forwarded-for", b"203.0.113.7"), (PROXY_HEADER.lower().encode(), key.encode())],
            "client": ("127.0.0.1", 1234),
        }
    )
    assert client_address(req, ()) == "127.0.0.1"  # nothing trusted by address: the header means nothing
    assert client_address(req_key, (), key) == "203.0.113.7"
    assert client_address(req_key, (), proxy_key("other")) == "127.0.0.1"


def test_the_issues_spoofed_header_from_a_local_process_hits_the_rate_limit(staff_api):
    """The default config trusts no address: a local process (127.0.0.1) that is not the board is
    counted as itself whatever it writes in X-Forwarded-For; the board, with its key, forwards citizens."""
    api = staff_api(dispatch={"citizen_rate_per_min": 8})
    local = api.client("127.0.0.1")
    form = {"service_code": "ufo", "lat": 0, "long": 0}
    codes = [
        local.post(
            "/open311/v2/requests.json", data=form, headers={"X-Forwarded-For": f"10.9.{i}.1, 127.0.0.1"}
        ).status_code
        for i in range(12)
    ]
    assert codes[:8] == [400] * 8 and set(codes[8:]) == {429}, codes
    board = {PROXY_HEADER: proxy_key(load_secret(api.cfg.data))}
    for citizen in ("198.51.100.1", "198.51.100.2"):  # each citizen behind the board has their own allowance
        res = local.post(
            "/open311/v2/requests.json", data=form, headers={**board, "X-Forwarded-For": citizen}
        )
        assert res.status_code == 400, res.text


def test_forwarded_for_spoofing_hits_the_citizen_rate_limit(staff_api):
    # the issue's header, sent through a trusted proxy: the proxy (127.0.0.2 here; when the proxy and
    # the claimed client share an address no rule can tell them apart) appended 127.0.0.1, the real
    # client; the left part is whatever that client wrote
    api = staff_api(dispatch={"citizen_rate_per_min": 8, "trusted_proxies": ["127.0.0.2", "10.20.0.0/16"]})
    proxy = api.client("127.0.0.2")
    form = {"service_code": "ufo", "lat": 0, "long": 0}
    for chain in ("10.9.{i}.1, 127.0.0.1", "10.9.{i}.1, 198.51.100.7, 10.20.0.5"):
        codes = [
            proxy.post(
                "/open311/v2/requests.json", data=form, headers={"X-Forwarded-For": chain.format(i=i)}
            ).status_code
            for i in range(12)
        ]
        assert codes[:8] == [400] * 8 and set(codes[8:]) == {429}, (chain, codes)
    # different real clients behind the proxy still have their own allowance
    res = proxy.post("/open311/v2/requests.json", data=form, headers={"X-Forwarded-For": "198.51.100.8"})
    assert res.status_code == 400


# -- item 9: photos --------------------------------------------------------------------------------
def test_exif_fixture_really_carries_gps_and_camera(exif_jpeg):
    with Image.open(io.BytesIO(exif_jpeg())) as img:
        exif = img.getexif()
        assert exif[ExifTags.Base.Make] == "SpyCam Corp"
        assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"


def _citizen_photo(api, client, data: bytes, name="p.jpg", mime="image/jpeg"):
    cell = api.grid.cells[0].geometry.representative_point()
    res = client.post(
        "/open311/v2/requests.json",
        data={"service_code": "exposed_rubbish", "lat": cell.y, "long": cell.x, "public_photo": "true"},
        files={"media": (name, data, mime)},
    )
    assert res.status_code == 201, res.text
    rid = res.json()[0]["service_request_id"]
    media = client.get(f"/open311/v2/requests/{rid}.json").json()[0]["media_url"]
    return client.get(urlsplit(media).path)


def assert_clean(data: bytes):
    for secret in (b"SpyCam", b"X-1000", b"shot at home", b"Exif", b"<html", b"<script"):
        assert secret not in data, secret
    with Image.open(io.BytesIO(data)) as img:
        assert not img.getexif() and "exif" not in img.info and "comment" not in img.info
        return img.size, img.convert("RGB").getpixel((img.width // 2, 2)), img.convert("RGB")


def test_citizen_photo_is_served_without_gps_or_camera(api, exif_jpeg):
    client = api.client()
    res = _citizen_photo(api, client, exif_jpeg())
    assert res.status_code == 200 and res.headers["content-type"] == "image/jpeg"
    assert res.headers["x-content-type-options"] == "nosniff"
    size, _, rgb = assert_clean(res.content)
    assert size == (32, 64)  # orientation 6 (rotate 90 clockwise) applied: the red half is on top now
    top, bottom = rgb.getpixel((16, 8)), rgb.getpixel((16, 56))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


def test_html_appended_to_a_photo_is_not_stored(api, exif_jpeg):
    client = api.client()
    payload = b"<html><script>alert(document.cookie)</script></html>"
    res = _citizen_photo(api, client, exif_jpeg(appended=payload), name="x.jpg")
    assert res.content.endswith(b"\xff\xd9")
    assert_clean(res.content)
    stored = list((api.cfg.data / "photos").rglob("*.jpg"))
    assert len(stored) == 1 and payload not in stored[0].read_bytes()


def test_staff_photo_upload_is_reencoded_too(api, exif_jpeg):
    client = api.client()
    cell = next(c for c in api.grid.cells if c.street == "130203002").geometry.representative_point()
    res = client.post(
        "/open311/v2/requests.json", data={"service_code": "exposed_rubbish", "lat": cell.y, "long": cell.x}
    )
    assert res.status_code == 201, res.text
    bob = api.login(client, "bob")
    iid = client.get("/api/v1/me/dispatches", headers=bob).json()[0]["id"]
    png = io.BytesIO()
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Comment", "SpyCam at home")
    Image.new("RGBA", (20, 10), (10, 200, 10, 128)).save(png, "PNG", pnginfo=meta)
    for name, data, mime in (
        ("a.jpg", exif_jpeg(orientation=1), "image/jpeg"),
        ("b.png", png.getvalue(), "image/png"),
    ):
        res = client.post(f"/api/v1/incidents/{iid}/photos", headers=bob, files={"file": (name, data, mime)})
        assert res.status_code == 200, res.text
        stored = (api.cfg.data / res.json()["photo"]).read_bytes()
        assert_clean(stored)
        served = client.get(f"/{res.json()['photo']}")
        assert served.content == stored and served.headers["x-content-type-options"] == "nosniff"
    with Image.open(io.BytesIO(stored)) as img:  # the PNG keeps its transparency
        assert img.mode == "RGBA" and img.getpixel((5, 5))[3] == 128


def test_citizen_rate_window_comes_from_the_config(staff_api):
    api = staff_api(dispatch={"citizen_rate_per_min": 2, "citizen_rate_window_s": 7})
    client = api.client("198.51.100.77")
    form = {"service_code": "ufo", "lat": 0, "long": 0}
    codes = [client.post("/open311/v2/requests.json", data=form) for _ in range(3)]
    assert [r.status_code for r in codes] == [400, 400, 429]
    assert codes[-1].headers["Retry-After"] == "7"
    assert 0 < api.r.ttl("cityops:ratelimit:198.51.100.77") <= 7
