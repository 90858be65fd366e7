"""The citizen's pages at phone size (390x844) in real Chromium against real processes (dispatch,
API, board), a real store and Redis: merged reports keep their own report, the outcome (time line,
after-photo, public note, rating by a link with the secret, QR code), "already reported?" with
"add my support", and the public map and list of reports with no personal data and no staff links."""

from __future__ import annotations

import io
import json
import urllib.request
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

from gis.default import load_grid
from gis.projection import LocalMetric
from streams.bus import connect
from tests.conftest import OUTPUT, free_port, make_config
from tests.helpers import launch_browser
from tests.services import create_users, services, write_config

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server):
    tmp = tmp_path_factory.mktemp("citizen")
    cfg = make_config(tmp, roster=[{"id": "insp-a", "name": "Zhang Wei", "cells": ["130203"]}],
                      dispatch={"port": free_port(), "citizen_rate_per_min": 1000},
                      dashboard={"port": free_port()})  # fmt: skip
    r = connect(redis_server)
    r.flushdb()
    grid = load_grid(cfg.grid, cfg.data)
    create_users(cfg, ("olga", "operator"), ("ivan", "inspector", "insp-a"))
    path = write_config(cfg, tmp / "cfg.yaml")
    with services(cfg, path, redis_server, ("dispatch", "api", "dashboard")):
        yield cfg, grid
    r.close()


def api(cfg, method, path, body=None, user=None, form=None, files=None):
    headers = {}
    if user:
        headers["Authorization"] = (
            "Bearer "
            + api(cfg, "POST", "/api/v1/login", {"username": user, "password": f"{user}-password"})["token"]
        )
    data = None
    if form is not None:  # multipart, as Open311 clients post
        boundary = "cityopsboundary"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in form.items()
        ]
        for k, (name, blob, mime) in (files or {}).items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\nContent-Type: {mime}\r\n\r\n'.encode()
                + blob
                + b"\r\n"
            )
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    elif body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    req = urllib.request.Request(
        f"http://127.0.0.1:{cfg.dispatch.port}{path}", method=method, headers=headers, data=data
    )
    with urllib.request.urlopen(req, timeout=15) as resp:
        return json.loads(resp.read())


def photo(colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(buf, "PNG")
    return buf.getvalue()


def phone(p, tmp_path, name):
    ctx = launch_browser(p, tmp_path / name)
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    page.set_viewport_size(PHONE)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return ctx, page


def choose(page, selector, label):
    page.click(selector)
    page.get_by_role("option", name=label, exact=True).click()


@pytest.mark.browser
def test_merged_report_outcome_rating_link_and_support(tmp_path, stack):
    from playwright.sync_api import expect, sync_playwright

    cfg, grid = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    cell = grid.cells[25]
    p0 = cell.geometry.representative_point()
    lon, lat = p0.x, p0.y
    m = LocalMetric(lon, lat)
    x, y = m.forward(np.array([lon]), np.array([lat]))
    lon15, lat15 = (float(v[0]) for v in m.inverse(x + 15.0, y))  # 15 m east: within the merge radius
    first = api(cfg, "POST", "/open311/v2/requests.json", form={
        "service_code": "illegal_advert", "lat": lat, "long": lon, "description": "小广告贴满电线杆 (first)",
        "public_photo": "true", "email": "first@example.cn", "first_name": "Wang", "phone": "13900000000",
    }, files={"media": ("a.png", photo("#aa2222"), "image/png")})[0]  # fmt: skip

    with sync_playwright() as p:
        ctx, page = phone(p, tmp_path, "b")
        page.goto(url + "/citizen?lang=en")
        expect(page.locator("label[for=cit-category]")).to_have_text("Category", timeout=30000)
        nav = page.locator("nav a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert not [h for h in nav if h.startswith(("/console", "/inspector", "/?"))], nav
        choose(page, "#cit-category", "Illegal advertising")
        page.fill("#cit-lon", f"{lon15:.6f}")
        page.fill("#cit-lat", f"{lat15:.6f}")
        # already reported? the first report is offered, with "add my support"
        expect(page.locator(f"#cit-nearby li[data-rid='{first['service_request_id']}']")).to_be_visible(
            timeout=15000
        )
        expect(page.locator("#cit-nearby")).to_contain_text("(first)")
        page.screenshot(path=str(OUTPUT / "citizen-already-reported-390x844.png"), full_page=True)
        page.click("#cit-nearby button.cit-support")
        expect(page.locator("#cit-support-msg .ph-ok")).to_contain_text("support was added", timeout=15000)
        assert api(cfg, "GET", f"/open311/v2/requests/{first['service_request_id']}.json")[0]["supports"] == 1

        # files their own report anyway: merged, but it keeps its own description, photo and position
        page.set_input_files(
            "#cit-photo input[type=file]",
            files=[{"name": "b.png", "mimeType": "image/png", "buffer": photo("#2222aa")}],
        )
        expect(page.locator("#cit-preview")).to_be_visible(timeout=10000)
        page.fill("#cit-description", "second citizen: the same adverts, east side")
        page.click("#cit-public input[type=checkbox]")
        page.click("#cit-submit")
        expect(page.locator("#cit-receipt-id")).to_be_visible(timeout=15000)
        rid = page.locator("#cit-receipt-id").inner_text().strip()
        secret = page.locator("#cit-receipt-token").inner_text().strip()
        link = page.locator("#cit-rate-link").get_attribute("href")
        assert parse_qs(urlsplit(link).query) == {"lang": ["en"], "request": [rid], "secret": [secret]}
        expect(page.locator("#cit-qr")).to_be_visible()
        assert page.locator("#cit-qr").get_attribute("src").startswith("data:image/svg+xml")
        assert page.locator("#cit-qr").evaluate("img => img.naturalWidth") > 50  # the QR code really drew
        expect(page.locator("#cit-merged")).to_have_text("Merged with an earlier report", timeout=15000)
        expect(page.locator("#cit-status-desc")).to_have_text("second citizen: the same adverts, east side")
        assert "(first)" not in page.locator("#cit-status").inner_text()
        own = page.locator("#cit-own-photo").get_attribute("src")
        other = page.locator("img.cit-other-photo").get_attribute("src")
        first_req = api(cfg, "GET", f"/open311/v2/requests/{first['service_request_id']}.json")[0]
        assert other == first_req["media_url"] and own != other
        mine = api(cfg, "GET", f"/open311/v2/requests/{rid}.json")[0]
        assert (mine["long"], mine["lat"]) == pytest.approx((lon15, lat15), abs=1e-6)
        page.screenshot(path=str(OUTPUT / "citizen-merged-receipt-390x844.png"), full_page=True)
        ctx.close()

        # the inspector handles it with an after-photo and a public note; the desk verifies
        [inc] = api(cfg, "GET", "/api/v1/incidents?type=illegal_advert", user="olga")
        after = api(cfg, "POST", f"/api/v1/incidents/{inc['id']}/photos", user="ivan", form={},
                    files={"file": ("after.png", photo("#22aa22"), "image/png")})["photo"]  # fmt: skip
        for action, body in (("accept", {}), ("arrive", {"lon": lon, "lat": lat}),
                             ("resolve", {"note": "adverts removed, pole repainted", "photos": [after]})):  # fmt: skip
            api(cfg, "POST", f"/api/v1/incidents/{inc['id']}/{action}", body, user="ivan")

        # the rating link from another device: no code to paste
        ctx, page = phone(p, tmp_path, "other-device")
        page.goto(link)
        expect(page.locator(".ph-status")).to_have_attribute("data-state", "resolved", timeout=30000)
        steps = page.locator("#cit-timeline li").evaluate_all("els => els.map(e => e.dataset.step)")
        assert steps == ["received", "accepted", "on_site", "resolved"]
        expect(page.locator("#cit-timeline")).to_contain_text("grid inspector")
        assert "Zhang" not in page.locator("#cit-status").inner_text()  # a role, never the inspector's name
        expect(page.locator("#cit-public-note")).to_have_text("adverts removed, pole repainted")
        expect(page.locator("img.cit-after-photo")).to_be_visible()
        assert page.locator("img.cit-after-photo").get_attribute("src").endswith(after)
        expect(page.locator("#cit-rate")).to_be_visible()
        assert page.input_value("#cit-token") == secret
        page.click("#cit-rating label:has-text('★★★★★')")
        page.screenshot(path=str(OUTPUT / "citizen-outcome-rate-390x844.png"), full_page=True)
        page.click("#cit-rate-btn")
        expect(page.locator("#cit-rate-msg .ph-ok")).to_contain_text(
            "Thank you for your rating", timeout=15000
        )
        assert api(cfg, "GET", f"/open311/v2/requests/{rid}.json")[0]["rating"] == 5
        assert page.errors == []
        ctx.close()


@pytest.mark.browser
def test_photos_of_a_merged_report_only_with_consent(tmp_path, stack):
    from playwright.sync_api import expect, sync_playwright

    cfg, grid = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    p0 = grid.cells[40].geometry.representative_point()
    shy = api(cfg, "POST", "/open311/v2/requests.json", form={"service_code": "muck_spill", "lat": p0.y, "long": p0.x},
              files={"media": ("s.png", photo("#777777"), "image/png")})[0]  # fmt: skip
    open_ = api(cfg, "POST", "/open311/v2/requests.json", form={
        "service_code": "muck_spill", "lat": p0.y, "long": p0.x, "public_photo": "true"},
        files={"media": ("o.png", photo("#999999"), "image/png")})[0]  # fmt: skip
    assert open_["merged_into"] is not None
    with sync_playwright() as p:
        ctx, page = phone(p, tmp_path, "consent")
        page.goto(f"{url}/citizen?lang=en&request={open_['service_request_id']}")
        expect(page.locator("#cit-merged")).to_be_visible(timeout=30000)
        expect(page.locator("#cit-own-photo")).to_be_visible()
        assert page.locator("img.cit-other-photo").count() == 0  # the first reporter did not agree
        page.goto(f"{url}/citizen?lang=en&request={shy['service_request_id']}")
        expect(page.locator(".ph-status")).to_be_visible(timeout=30000)
        assert page.locator("#cit-own-photo").count() == 0  # not public, not even on its own page
        expect(page.locator("img.cit-other-photo")).to_be_visible()  # the second one agreed
        ctx.close()


@pytest.mark.browser
def test_public_map_and_list_of_reports(tmp_path, stack):
    from playwright.sync_api import expect, sync_playwright

    cfg, grid = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    p0 = grid.cells[5].geometry.representative_point()
    made = api(cfg, "POST", "/open311/v2/requests.json", form={
        "service_code": "waterlogging", "lat": p0.y, "long": p0.x, "description": "积水没过脚踝",
        "email": "private@example.cn", "first_name": "Secret", "last_name": "Person", "phone": "13700000000",
    })[0]  # fmt: skip
    with sync_playwright() as p:
        ctx, page = phone(p, tmp_path, "list")
        page.goto(url + "/reports")
        expect(page.locator(f"#rep-items li[data-rid='{made['service_request_id']}']")).to_be_visible(
            timeout=30000
        )
        text = page.locator("#rep-list").inner_text()
        assert "积水没过脚踝" in text and "道路积水" in text
        for private in ("private@example.cn", "Secret", "Person", "13700000000", "Zhang", "insp-a"):
            assert private not in page.content(), private
        nav = page.locator("nav a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert not [h for h in nav if h.startswith(("/console", "/inspector", "/?"))], nav
        page.screenshot(path=str(OUTPUT / "citizen-all-reports-390x844.png"), full_page=True)
        # filters: another category hides it; closed hides it; open shows it
        choose(page, "#rep-status", "已办结")
        expect(page.locator(f"#rep-items li[data-rid='{made['service_request_id']}']")).to_have_count(
            0, timeout=15000
        )
        choose(page, "#rep-status", "处理中")
        expect(page.locator(f"#rep-items li[data-rid='{made['service_request_id']}']")).to_be_visible(
            timeout=15000
        )
        assert set(page.locator("#rep-items li").evaluate_all("els => els.map(e => e.dataset.status)")) == {
            "open"
        }
        choose(page, "#rep-category", "机动车乱停乱放")
        expect(page.locator(f"#rep-items li[data-rid='{made['service_request_id']}']")).to_have_count(
            0, timeout=15000
        )
        # each report links to its status page
        choose(page, "#rep-category", "全部类别")
        page.click(f"#rep-items li[data-rid='{made['service_request_id']}'] a")
        expect(page.locator("#cit-status-desc")).to_have_text("积水没过脚踝", timeout=30000)
        assert page.errors == []
        ctx.close()
