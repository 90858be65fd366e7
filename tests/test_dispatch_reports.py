"""Reports (dispatch/reports.py): period bounds in the city's time zone and the per-group figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.commands import Actor, Extras
from dispatch.intake import citizen_report
from dispatch.reports import COLUMNS, period_bounds, summary, to_csv
from dispatch.store import open_store
from dispatch.wiring import build_dispatch
from gis.default import load_grid
from streams.schemas import Detection
from tests.conftest import make_config

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 local


def test_period_bounds_are_local_days_and_iso_weeks():
    b, e = period_bounds(date(2026, 11, 25), "day", TZ)
    assert (b.isoformat(), e - b) == ("2026-11-25T00:00:00+08:00", timedelta(days=1))
    b, e = period_bounds(date(2026, 11, 25), "week", TZ)
    assert (b.date(), e.date()) == (date(2026, 11, 23), date(2026, 11, 30))  # Monday to Monday


@pytest.fixture
def filled(tmp_path, store_url):
    cfg = make_config(tmp_path, store_url)
    engine, sessions = open_store(cfg.store_url)
    grid = load_grid(cfg.grid, cfg.data)
    now = [T0]
    parts = build_dispatch(cfg, grid, sessions=sessions, clock=lambda: now[0])
    commands, intake = parts.commands, parts.intake
    insp = Actor("a", "inspector", "insp-a")
    cell = next(c for c in grid.cells if c.street == "130203001")
    p = cell.geometry.representative_point()
    ids = []
    for i in range(3):
        det = Detection(id=f"r{i}", type="illegal_parking", lon=p.x + i * 0.01, lat=p.y, observed_at=T0)
        ids.append(intake.handle(det, report=citizen_report(det, f"tok{i}")).incident_id)
    now[0] = T0 + timedelta(seconds=30)
    commands.act(ids[0], "accept", insp)  # within a minute
    now[0] = T0 + timedelta(minutes=10)
    commands.act(ids[0], "arrive", insp)
    commands.act(ids[0], "resolve", insp)
    commands.act(ids[1], "accept", insp)  # 10 minutes late
    commands.rate("r0", "tok0", 5)
    commands.act(ids[2], "reject", Actor("op", "operator"), Extras(note="not in scope"))
    yield sessions, grid, cfg
    engine.dispose()


def test_summary_counts_sla_and_ratings(filled):
    sessions, grid, cfg = filled
    rows = summary(sessions, grid, cfg.sla, day=date(2026, 11, 25), period="day", by="street", tz=TZ)
    assert [r["key"] for r in rows] == ["130203001"]
    r = rows[0]
    assert (r["opened"], r["closed"], r["open_now"]) == (3, 1, 1)  # the rejected one is closed
    assert (r["accept_met"], r["accept_missed"], r["arrive_met"], r["resolve_met"]) == (1, 1, 1, 1)
    assert (r["ratings"], r["mean_rating"]) == (1, 5.0)
    assert r["sla_compliance"] == round(3 / 4, 4)
    by_type = summary(sessions, grid, cfg.sla, day=date(2026, 11, 25), period="week", by="type", tz=TZ)
    assert [(x["key"], x["opened"]) for x in by_type] == [("illegal_parking", 3)]
    assert summary(sessions, grid, cfg.sla, day=date(2026, 11, 26), period="day", by="street", tz=TZ) == []
    csv_text = to_csv(rows)
    assert csv_text.splitlines()[0] == ",".join(COLUMNS) and csv_text.count("\n") == 2
