"""Keeping out, from outside (issue 16 items 6-9): the real ``cityops api`` (two worker processes) on
its own Redis, hit over HTTP from many threads through a trusted proxy address (127.0.0.2; the API
listens on 127.0.0.1), accounts changed with the real ``cityops users`` command.

Figures: tokens revoked (time from the change to the first refusal), login guessing throttled (password
checks allowed out of 200 concurrent guesses), X-Forwarded-For spoofing refused (requests let through
out of 40 spoofed ones), photo metadata stripped."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from dispatch.accounts import create_user
from dispatch.store import open_store
from streams.embedded import EmbeddedRedis
from tests.conftest import OUTPUT, ROOT, free_port, make_config
from tests.reliability.harness import Service, wait_until, write_config

PROXY = "127.0.0.2"  # the source address of every request here; the only trusted proxy
USERS = [("olga", "operator", None), ("otto", "operator", None), ("sam", "supervisor", None),
         ("ivan", "inspector", "insp-a"), ("gus", "operator", None)]  # fmt: skip


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("security")
    port = free_port()
    cfg = make_config(tmp, roster=[{"id": "insp-a", "name": "A", "cells": ["130203"]}],
                      dispatch={"port": port, "api_workers": 2, "trusted_proxies": [PROXY], "citizen_rate_per_min": 8})  # fmt: skip
    engine, sessions = open_store(cfg.store_url)
    for name, role, insp in USERS:
        create_user(sessions, name, f"{name}-password", role, insp)
    engine.dispose()
    config = write_config(cfg, tmp / "config.yaml")
    logs = OUTPUT / "reliability" / "security"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "api.log").unlink(missing_ok=True)
    with EmbeddedRedis(tmp / "redis") as redis_srv:
        svc = Service("api", config, redis_srv.url, logs).start()
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            transport=httpx.HTTPTransport(local_address=PROXY),
            limits=httpx.Limits(max_connections=64),
            timeout=60,
        )
        try:
            assert wait_until(lambda: _answers(client), 60), svc.output()[-3000:]
            yield client, cfg, config, svc
        finally:
            client.close()
            svc.stop()


def _answers(client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def login(client, user: str, client_ip: str, password: str | None = None) -> httpx.Response:
    return client.post(
        "/api/v1/login",
        json={"username": user, "password": password or f"{user}-password"},
        headers={"X-Forwarded-For": client_ip},
    )


def bearer(client, user: str, client_ip: str) -> dict:
    res = login(client, user, client_ip)
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['token']}"}


def cli(config, *args: str) -> None:
    out = subprocess.run([sys.executable, "-m", "cityops", "users", *args, "--config", str(config)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def refused_after(client, headers, path="/api/v1/incidents", timeout=60.0) -> float | None:
    """Seconds until ``headers`` get 401 (polled from 8 threads: both workers answer), None if never."""
    t0 = time.monotonic()

    def probe(_):
        return client.get(path, headers=headers).status_code == 401

    def all_refused():
        with ThreadPoolExecutor(8) as pool:
            return all(pool.map(probe, range(8)))

    return round(time.monotonic() - t0, 2) if wait_until(all_refused, timeout, step=0.1) else None


def test_tokens_revoked_on_deactivation_role_change_and_logout(api, figures):
    client, cfg, config, svc = api
    olga, ivan = bearer(client, "olga", "203.0.113.1"), bearer(client, "ivan", "203.0.113.1")
    phone, desk = bearer(client, "sam", "203.0.113.2"), bearer(client, "sam", "203.0.113.3")
    assert client.get("/api/v1/incidents", headers=olga).status_code == 200
    cli(config, "set", "olga", "--deactivate")
    deactivated = refused_after(client, olga)
    cli(config, "set", "ivan", "--role", "operator", "--inspector", "")
    role_changed = refused_after(client, ivan, "/api/v1/me/dispatches")
    assert client.post("/api/v1/logout", headers=phone).status_code == 200
    logged_out = refused_after(client, desk)  # the other device, maybe on the other worker
    cli(config, "logout", "gus")
    gus = bearer(client, "gus", "203.0.113.4")
    cli(config, "logout", "gus")
    cli_logout = refused_after(client, gus)
    limit = cfg.dispatch.account_check_s
    figures.update(fault="login ended: deactivated, role lowered, logout (API, other device), logout (CLI)",
                   expected="401 within account_check_s", account_check_s=limit,
                   revoked_after_s=[deactivated, role_changed, logged_out, cli_logout],
                   time_to_recover_s=max(x or 1e9 for x in (deactivated, role_changed, logged_out, cli_logout)),
                   others_answered=client.get("/healthz").status_code == 200)  # fmt: skip
    assert None not in (deactivated, role_changed, logged_out, cli_logout), figures
    res = client.get("/api/v1/incidents", headers=olga)
    assert res.status_code == 401 and "deactivated" in res.json()["detail"]
    assert login(client, "olga", "203.0.113.1").status_code == 401
    assert client.get("/api/v1/incidents", headers=bearer(client, "ivan", "203.0.113.1")).status_code == 200
    assert client.get("/api/v1/incidents", headers=bearer(client, "sam", "203.0.113.2")).status_code == 200


def test_login_throttled_under_concurrent_guessing(api, figures):
    client, cfg, config, svc = api
    guesses, per_account = 200, cfg.dispatch.login_failures_per_account
    t0 = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        answers = list(
            pool.map(lambda i: login(client, "otto", "203.0.113.10", f"guess-{i:04d}"), range(guesses))
        )
    took = time.monotonic() - t0
    codes = [a.status_code for a in answers]
    throttled = [a for a in answers if a.status_code == 429]
    figures.update(fault=f"{guesses} wrong passwords from 64 threads", expected=per_account,
                   got=codes.count(401), throttled=len(throttled), seconds=round(took, 1),
                   others_answered=login(client, "sam", "203.0.113.11").status_code == 200)  # fmt: skip
    assert codes.count(401) == per_account and len(throttled) == guesses - per_account, codes
    assert all(0 < int(a.headers["Retry-After"]) <= cfg.dispatch.login_window_s for a in throttled)
    assert login(client, "otto", "203.0.113.12").status_code == 429  # the right password, elsewhere too
    assert login(client, "sam", "203.0.113.10").status_code == 429  # that address is throttled as well
    assert figures["others_answered"]
    assert wait_until(lambda: "login throttled: account 'otto'" in svc.output(), 30), svc.output()[-2000:]


def test_forwarded_for_spoofing_refused(api, figures):
    client, cfg, config, svc = api
    rate = cfg.dispatch.citizen_rate_per_min
    form = {"service_code": "no-such-service", "lat": "0", "long": "0"}

    def post(i):  # the header: the client wrote 10.9.i.1, the proxy appended 127.0.0.1
        return client.post(
            "/open311/v2/requests.json", data=form, headers={"X-Forwarded-For": f"10.9.{i}.1, 127.0.0.1"}
        ).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(post, range(40)))
    figures.update(fault="40 citizen posts, X-Forwarded-For 10.9.$i.1 spoofed, 16 threads", expected=rate,
                   got=len([c for c in codes if c != 429]), throttled=codes.count(429),
                   others_answered=client.get("/open311/v2/services.json").status_code == 200)  # fmt: skip
    assert codes.count(429) == 40 - rate and set(codes) == {400, 429}, codes
    # another real client behind the proxy is not affected
    res = client.post("/open311/v2/requests.json", data=form, headers={"X-Forwarded-For": "203.0.113.30"})
    assert res.status_code == 400  # Open311 answers bad input with 400 (the spec's error shape)


def test_citizen_photo_metadata_stripped(api, figures, exif_jpeg):
    client, cfg, config, svc = api
    from gis.default import load_grid

    grid = load_grid(cfg.grid, cfg.data)
    point = grid.cells[3].geometry.representative_point()
    sent = exif_jpeg(appended=b"<html><script>alert(1)</script></html>")
    res = client.post(
        "/open311/v2/requests.json",
        data={
            "service_code": "exposed_rubbish",
            "lat": str(point.y),
            "long": str(point.x),
            "public_photo": "true",
        },
        files={"media": ("p.jpg", sent, "image/jpeg")},
        headers={"X-Forwarded-For": "203.0.113.40"},
    )
    assert res.status_code == 201, res.text
    rid = res.json()[0]["service_request_id"]
    media = client.get(f"/open311/v2/requests/{rid}.json").json()[0]["media_url"]
    photo = client.get(urlsplit(media).path)  # absolute (open311.public_base_url): the path on this client
    leaks = [s for s in (b"SpyCam", b"X-1000", b"shot at home", b"Exif", b"<script") if s in photo.content]
    with Image.open(io.BytesIO(photo.content)) as img:
        exif_tags, size = len(img.getexif()), img.size
    figures.update(fault="citizen JPEG with GPS, make/model, comment, HTML appended", expected=0,
                   got=len(leaks) + exif_tags, bytes_in=len(sent), bytes_out=len(photo.content),
                   nosniff=photo.headers.get("x-content-type-options") == "nosniff",
                   others_answered=client.get("/healthz").status_code == 200)  # fmt: skip
    assert photo.status_code == 200 and photo.headers["x-content-type-options"] == "nosniff"
    assert leaks == [] and exif_tags == 0 and size == (32, 64)
