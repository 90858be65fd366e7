"""Comprehensive evaluation (dispatch/evaluation.py) on a generated month of cases, checked against
figures computed by hand from the plan below (real store, commands and audit trail).

18 cases, one per working day of November 2026 from Monday 2 November, reported at 09:00 and filed at
09:10 by the centre (exposed rubbish: sanitation, 4 working hours, 08:00-12:00 / 14:00-18:00).
Case k takes branch k % 6 and lies in street A (k even) or B (k odd):

  b0  handled 11:00, verified 11:30, closed                       on time               (street A)
  b1  handled 16:00 (due 15:10), verified next day 10:00 (late)   closed late, overdue  (street B)
  b2  not filed (不予立案)                                                               (street A)
  b3  returned (回退) by sanitation, dispatched to enforcement by hand 09:40, handled
      10:30, rework (返工) 11:00, accepted again, handled 14:30 (due 17:00), verified,
      closed                                                       on time               (street B)
  b4  extension of 4 h asked and approved, handled 16:30 (due with extension: next day
      09:10), verified 17:00, closed                               on time               (street A)
  b5  dispatched and left open: overdue by the end of the month                          (street B)

District (x3 each branch): reports 18; filed 15 (b2 not); closed 12 (b0 b1 b3 b4); on time 9
(b0 b3 b4); overdue 6 (b1 b5); resolve events 15 (1+1+2+1 per four branches, x3); reworks 3 -> 3/15 =
0.2; returns 3; extensions 3; verifications 15 (b0 1, b1 1, b3 2, b4 1, x3), 12 in time (b1's late)
-> 0.8; close rate 12/15 = 0.8; on-time rate 9/15 = 0.6 (red); valid reports 15/18 = 0.8333.
Street A (b0 b2 b4): reports 9, filed 6, closed 6 on time -> 1.0 (green), valid 6/9 = 0.6667.
Street B (b1 b3 b5): reports 9, filed 9, closed 6, on time 3 -> 0.3333 (red), overdue 6.
Departments (the final one): sanitation b0 b1 b4 b5 = 12 cases, closed 9, on time 6 -> 0.5 (red),
returns 3 (b3, returned by it); enforcement b3 = 3 cases, all on time -> 1.0 (green), rework rate
3/6 = 0.5.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.commands import Actor, Extras
from dispatch.evaluation import XLSX_FILLS, evaluate, period_bounds, to_csv, to_xlsx
from dispatch.store import open_store
from dispatch.wiring import build_dispatch
from gis.default import load_grid
from streams.schemas import Detection
from tests.conftest import make_config
from tests.helpers import point

TZ = ZoneInfo("Asia/Shanghai")
DEPARTMENTS = [
    {"id": "sanitation", "name": "区环卫中心", "kind": "sanitation", "staff": [{"id": "san-1", "name": "S1"}]},
    {"id": "enforcement", "name": "城管执法局", "kind": "enforcement", "staff": [{"id": "enf-1", "name": "E1"}]},
]  # fmt: skip
ROSTER = [
    {"id": "insp-a", "name": "A", "cells": ["130203001"]},
    {"id": "insp-b", "name": "B", "cells": ["130203002"]},
]
STREETS = ("130203001", "130203002")
OPS, SAN, ENF = (
    Actor("olga", "operator"),
    Actor("sam", "department", "san-1"),
    Actor("eric", "department", "enf-1"),
)
INSP = {"130203001": Actor("alice", "inspector", "insp-a"), "130203002": Actor("bob", "inspector", "insp-b")}
PHOTO = Extras(note="see photo", photos=["photos/20261102/x.jpg"])


@pytest.fixture
def month(tmp_path, store_url):
    cfg = make_config(tmp_path, store_url, roster=ROSTER, departments=DEPARTMENTS,
                      workflow={"file_by_centre": ["camera"]})  # fmt: skip
    engine, sessions = open_store(cfg.store_url)
    grid = load_grid(cfg.grid, cfg.data)
    now = [datetime(2026, 11, 2, 9, tzinfo=TZ)]
    parts = build_dispatch(cfg, grid, sessions=sessions, clock=lambda: now[0])
    c = parts.commands
    days = [date(2026, 11, 2) + timedelta(days=n) for n in range(30)]
    days = [d for d in days if d.weekday() < 5][:18]

    def at(d, hh, mm=0, plus=0):
        now[0] = datetime(d.year, d.month, d.day, hh, mm, tzinfo=TZ) + timedelta(days=plus)

    for k, d in enumerate(days):
        street, branch = STREETS[k % 2], k % 6
        insp = INSP[street]
        at(d, 9)
        lon, lat = point(grid, street, k // 2)
        iid = parts.intake.handle(
            Detection(id=f"m{k}", type="exposed_rubbish", lon=lon, lat=lat, observed_at=now[0])
        ).incident_id
        at(d, 9, 10)
        if branch == 2:
            c.act(iid, "reject", OPS, Extras(note="not in scope"))
            continue
        c.act(iid, "file", OPS)
        if branch == 0:
            at(d, 9, 20), c.act(iid, "accept", SAN)
            at(d, 11), c.act(iid, "resolve", SAN, PHOTO)
            at(d, 11, 30), c.act(iid, "verify", insp)
            at(d, 11, 40), c.act(iid, "close", OPS)
        elif branch == 1:
            at(d, 9, 20), c.act(iid, "accept", SAN)
            at(d, 16), c.act(iid, "resolve", SAN, PHOTO)
            at(d, 10, plus=1), c.act(iid, "verify", insp)
            at(d, 10, 10, plus=1), c.act(iid, "close", OPS)
        elif branch == 3:
            at(d, 9, 30), c.act(iid, "return", SAN, Extras(note="enforcement's"))
            at(d, 9, 40), c.assign(iid, "enforcement", OPS)
            at(d, 9, 50), c.act(iid, "accept", ENF)
            at(d, 10, 30), c.act(iid, "resolve", ENF, PHOTO)
            at(d, 11), c.act(iid, "rework", insp, PHOTO)
            at(d, 11, 10), c.act(iid, "accept", ENF)
            at(d, 14, 30), c.act(iid, "resolve", ENF, PHOTO)
            at(d, 15), c.act(iid, "verify", insp)
            at(d, 15, 10), c.act(iid, "close", OPS)
        elif branch == 4:
            at(d, 9, 20), c.act(iid, "accept", SAN)
            at(d, 10), c.act(iid, "request_extension", SAN, Extras(note="truck", hours=4))
            at(d, 10, 10), c.act(iid, "approve_extension", OPS)
            at(d, 16, 30), c.act(iid, "resolve", SAN, PHOTO)
            at(d, 17), c.act(iid, "verify", insp)
            at(d, 17, 10), c.act(iid, "close", OPS)
    end_of_month = datetime(2026, 12, 1, 12, tzinfo=TZ)

    def handling_due(inc):
        clock = c.step_clock(inc)
        return clock.due if clock is not None and clock.stage.value == "handle" else None

    def run(by):
        return evaluate(sessions, grid, day=date(2026, 11, 15), period="month", by=by, tz=TZ,
                        now=end_of_month, due_now=handling_due)  # fmt: skip

    yield run
    parts.close()
    engine.dispose()


def pick(rows, key):
    return next(r for r in rows if r["key"] == key)


def test_district_figures_match_the_hand_computed_ones(month):
    total = pick(month("street"), "(all)")
    assert {k: total[k] for k in ("reports", "filed", "closed", "closed_on_time", "overdue", "resolved", "reworks",
                                  "returns", "extensions", "verifications", "verified_on_time")} == {
        "reports": 18, "filed": 15, "closed": 12, "closed_on_time": 9, "overdue": 6, "resolved": 15, "reworks": 3,
        "returns": 3, "extensions": 3, "verifications": 15, "verified_on_time": 12,
    }  # fmt: skip
    assert (total["close_rate"], total["on_time_rate"], total["rework_rate"]) == (0.8, 0.6, 0.2)
    assert (total["timely_verification_rate"], total["valid_report_rate"]) == (0.8, 0.8333)
    assert (total["grade"], total["colour"]) == ("D", "red")


def test_regions_and_departments(month):
    streets = month("street")
    a, b = pick(streets, "130203001"), pick(streets, "130203002")
    assert (a["reports"], a["filed"], a["closed"], a["on_time_rate"], a["colour"]) == (9, 6, 6, 1.0, "green")
    assert a["valid_report_rate"] == 0.6667
    assert (b["reports"], b["filed"], b["closed"], b["overdue"], b["on_time_rate"], b["colour"]) == (
        9, 9, 6, 6, 0.3333, "red")  # fmt: skip
    assert [r["key"] for r in streets] == ["130203001", "130203002", "(all)"]  # best graded first
    deps = month("department")
    san, enf = pick(deps, "sanitation"), pick(deps, "enforcement")
    assert (san["reports"], san["closed"], san["on_time_rate"], san["returns"], san["colour"]) == (
        12,
        9,
        0.5,
        3,
        "red",
    )
    assert (enf["reports"], enf["on_time_rate"], enf["rework_rate"], enf["returns"], enf["colour"]) == (
        3, 1.0, 0.5, 0, "green")  # fmt: skip
    assert pick(deps, "(none)")["reports"] == 3  # the cases never filed
    inspectors = month("inspector")
    assert pick(inspectors, "insp-a")["reports"] == 9 and pick(inspectors, "insp-b")["verifications"] == 9


def test_csv_in_both_languages(month):
    rows = month("street")
    en, zh = to_csv(rows), to_csv(rows, "zh-CN")
    assert en.splitlines()[0].startswith("key,reports,filed,closed")
    assert zh.splitlines()[0].startswith("key,上报数,立案数,结案数,按期结案数,超期案卷数")
    assert len(en.splitlines()) == len(zh.splitlines()) == 4


def test_xlsx_reads_back_as_the_csv(month):
    """The workbook has the CSV's rows and columns (numbers as numbers, zh-CN headings on request), and
    each grade cell filled in its colour; read back with openpyxl."""
    import csv
    import io

    from openpyxl import load_workbook

    rows = month("department")
    for lang in ("en", "zh-CN"):
        ws = load_workbook(io.BytesIO(to_xlsx(rows, lang))).active
        got = [["" if v is None else v for v in r] for r in ws.iter_rows(values_only=True)]
        want = list(csv.reader(io.StringIO(to_csv(rows, lang))))
        assert got[0] == want[0] and len(got) == len(want) == len(rows) + 1
        for g, w in zip(got[1:], want[1:], strict=True):  # the same values, typed (numbers, text)
            assert [float(v) if isinstance(v, int | float) else v for v in g] == [
                float(x) if isinstance(v, int | float) else x for v, x in zip(g, w, strict=True)
            ]
        assert got[0][1] == ("上报数" if lang == "zh-CN" else "reports")
        grade = got[0].index("等级" if lang == "zh-CN" else "grade") + 1
        for k, r in enumerate(rows, start=2):
            fill = ws.cell(row=k, column=grade).fill.fgColor.rgb
            assert fill.endswith(XLSX_FILLS[r["colour"]]) if r["colour"] in XLSX_FILLS else fill == "00000000"
    sanitation = next(r for r in load_workbook(io.BytesIO(to_xlsx(rows))).active.iter_rows(values_only=True)
                      if r[0] == "sanitation")  # fmt: skip
    assert isinstance(sanitation[1], int) and sanitation[1] == 12 and sanitation[13] == 0.5


def test_evaluation_over_http_xlsx_and_the_board_key(staff_api):
    """``format=xlsx`` over the API (a desk account); the wall board's key reads the figures without a
    login, a wrong key or none does not, and an inspector's login is still refused."""
    import io

    from openpyxl import load_workbook

    from dispatch.accounts import load_secret
    from dispatch.api.addresses import PROXY_HEADER, proxy_key

    api = staff_api(users=[("olga", "operator", None), ("ivan", "inspector", "insp-a")],
                    roster=[{"id": "insp-a", "name": "A", "cells": ["130203"]}])  # fmt: skip
    c = api.client()
    desk = api.login(c, "olga")
    res = c.get("/api/v1/reports/evaluation?by=street&format=xlsx&lang=zh-CN", headers=desk)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in res.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(res.content)).active
    assert next(ws.iter_rows(values_only=True))[:3] == ("key", "上报数", "立案数")
    board = {PROXY_HEADER: proxy_key(load_secret(api.cfg.data))}
    assert c.get("/api/v1/reports/evaluation", headers=board).json()[-1]["key"] == "(all)"
    assert c.get("/api/v1/reports/evaluation", headers={PROXY_HEADER: "0" * 64}).status_code == 401
    assert c.get("/api/v1/reports/evaluation").status_code == 401
    assert c.get("/api/v1/reports/evaluation", headers=api.login(c, "ivan")).status_code == 403
    assert c.get("/api/v1/reports/evaluation?format=pdf", headers=desk).status_code == 422


@pytest.mark.parametrize(
    ("day", "period", "first", "last"),
    [
        (date(2026, 11, 15), "month", date(2026, 11, 1), date(2026, 12, 1)),
        (date(2026, 12, 31), "month", date(2026, 12, 1), date(2027, 1, 1)),
        (date(2026, 11, 15), "quarter", date(2026, 10, 1), date(2027, 1, 1)),
        (date(2026, 2, 3), "quarter", date(2026, 1, 1), date(2026, 4, 1)),
        (date(2026, 11, 26), "week", date(2026, 11, 23), date(2026, 11, 30)),
    ],
)
def test_period_bounds(day, period, first, last):
    b, e = period_bounds(day, period, TZ)
    assert (b.date(), e.date()) == (first, last)
