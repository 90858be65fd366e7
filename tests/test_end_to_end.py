"""A detection travels worker -> stream -> dispatch -> store + incidents stream -> board's live data."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from dashboard.live import LiveState
from dispatch.service import DispatchService
from dispatch.store import Incident, IncidentEventRow
from streams.bus import publish
from streams.schemas import DETECTIONS, INCIDENTS, Detection, decode
from tests.conftest import OUTPUT, make_config
from tests.helpers import launch_browser


def in_street(service, street):
    cell = next(c for c in service.intake.grid.cells if c.street == street)
    p = cell.geometry.representative_point()
    return cell.code, p.x, p.y


def test_detection_to_incident_to_live_state(tmp_path, redis_url, r, store_url):
    cfg = make_config(tmp_path, store_url)
    svc = DispatchService(cfg, redis_url, consumer="t1")
    svc.consumer.setup()
    live = LiveState(redis_url)
    code, lon, lat = in_street(svc, "130203001")
    d = Detection(
        id="cam-1:z:illegal_parking:r:1:20.0",
        type="illegal_parking",
        camera_id="cam-1",
        lon=lon,
        lat=lat,
        observed_at=datetime.now(UTC),
        evidence="evidence/x.jpg",
    )
    publish(r, DETECTIONS, d)
    publish(r, DETECTIONS, d)  # a replay (e.g. a worker retry after a timeout)
    assert svc.step(block_ms=200) == 2
    svc.step(block_ms=10)

    with svc.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1
        inc = s.scalars(select(Incident)).one()
        assert (
            s.scalar(
                select(func.count())
                .select_from(IncidentEventRow)
                .where(IncidentEventRow.published.is_(False))
            )
            == 0
        )
    assert inc.cell == code and inc.assignee == "insp-a"
    events = [decode(f) for _, f in r.xrange(INCIDENTS)]
    assert [(e.incident_id, e.version, e.action) for e in events] == [
        (inc.id, 1, "created"),
        (inc.id, 2, "assigned"),
    ]

    live.poll(block_ms=100)
    _, incidents, _ = live.snapshot()
    assert [(i.incident_id, i.state, i.cell, i.assignee) for i in incidents] == [
        (inc.id, "dispatched", code, "insp-a")
    ]
    # a republished old version (outbox crash window) changes nothing
    before = live.version
    assert not live.apply(dict(r.xrange(INCIDENTS)[0][1]))
    assert live.version == before
    svc.parts.close()


@pytest.mark.browser
def test_board_shows_new_incident_without_reload(tmp_path, redis_url, r, board):
    from playwright.sync_api import sync_playwright

    cfg, url = board
    svc = DispatchService(cfg, redis_url, consumer="t-browser")
    svc.consumer.setup()
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.goto(url + "/")
        page.wait_for_selector("#board-map .js-plotly-plot", timeout=30000)
        page.wait_for_function(
            "() => document.querySelectorAll('#board-map path.choroplethlocation, #board-map canvas').length > 0",
            timeout=30000,
        )
        n_cells = page.evaluate(
            "document.getElementById('board-map').querySelector('.js-plotly-plot').data[0].locations.length"
        )
        assert n_cells == 60
        assert page.locator("#title").inner_text() == "城市运行指挥中心"
        page.evaluate("window.__marker = 'same-page'")

        code, lon, lat = in_street(svc, "130203002")
        publish(
            r,
            DETECTIONS,
            Detection(
                id="browser-1", type="exposed_rubbish", lon=lon, lat=lat, observed_at=datetime.now(UTC)
            ),
        )
        svc.step(block_ms=500)
        page.wait_for_selector("#ticker [id^=incident-]", timeout=15000)
        text = page.locator("#ticker").inner_text()
        cell = svc.intake.grid.by_code[code]  # the card names the place and the inspector (roster: B)
        assert "暴露垃圾" in text and cell.community_zh in text and "处置人 B" in text
        assert page.evaluate("window.__marker") == "same-page"  # no reload happened
        # the map follows the cards (the board's slow lane): wait for the cell's count to show
        page.wait_for_function(
            "() => document.getElementById('board-map').querySelector('.js-plotly-plot')"
            ".data[0].z.reduce((a, b) => a + b, 0) === 1",
            timeout=30000,
        )
        page.screenshot(path=str(OUTPUT / "board-1920x1080.png"))

        page.click("#lang-switch")
        page.wait_for_function(
            "() => document.getElementById('title') && document.getElementById('title').innerText.includes('Command')",
            timeout=15000,
        )
        assert "Exposed rubbish" in page.locator("#ticker").inner_text()
        ctx.close()
    svc.parts.close()


def test_live_state_forgets_finished_incidents_after_retention():
    from datetime import timedelta

    from streams.schemas import IncidentEvent, encode

    live = LiveState("redis://127.0.0.1:1/0", retention_s=3600)  # no server needed: apply() and prune() only
    now = datetime.now(UTC)
    old = now - timedelta(hours=2)
    for i, state, at in [
        (1, "closed", old),
        (2, "dispatched", old),
        (3, "closed", now),
        (4, "rejected", old),
    ]:
        live.apply(encode(IncidentEvent(incident_id=i, version=1, action="created", state=state, type="illegal_parking",
                                        lon=0, lat=0, at=at, opened_at=at)))  # fmt: skip
    assert live.prune(now) == 2
    assert sorted(live.incidents) == [2, 3]  # open work stays, however old; recent history stays
