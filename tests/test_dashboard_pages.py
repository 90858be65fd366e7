"""The pages' pieces on their own (issue 15 item 4): map layers and theme from shared modules (no page
needs another to have registered), the board's traces addressed by name, and callbacks as named
module-level functions, called here directly."""

from __future__ import annotations

import copy
import importlib
import json
from datetime import UTC, datetime

import flask
from dash import Dash, html, no_update
from plotly.utils import PlotlyJSONEncoder

from dashboard import maps
from dashboard.api_client import ApiClient
from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.live import LiveState
from dashboard.pages import board, citizen, console, inspector
from dashboard.theme import OVERDUE_COLOUR, state_colour
from gis.default import load_grid
from streams.schemas import IncidentEvent, encode
from tests.conftest import make_config


def _ctx(tmp_path, api=None) -> DashContext:
    cfg = make_config(tmp_path, cameras=[{"id": "gate_3", "source": "demo:", "lon": 118.19, "lat": 39.65}])
    return DashContext(cfg, LiveState("redis://127.0.0.1:1/0"), load_grid(cfg.grid, cfg.data), api)


def _incident(ctx, k: int, state: str = "new", version: int = 1) -> IncidentEvent:
    cell = ctx.grid.cells[k]
    p = cell.geometry.representative_point()
    now = datetime.now(UTC)
    return IncidentEvent(incident_id=k, version=version, action="created", state=state, type="exposed_rubbish",
                         cell=cell.code, lon=p.x, lat=p.y, at=now, opened_at=now)  # fmt: skip


def apply_patch(value, patch):
    """What the browser does with a Dash ``Patch`` (the operations the board sends) to a figure or a
    panel's list of children."""
    root = {"v": copy.deepcopy(value)}
    ops = json.loads(json.dumps(patch.to_plotly_json()["operations"], cls=PlotlyJSONEncoder))  # as sent
    for op in ops:
        *path, last = ["v", *op["location"]]
        node = root
        for key in path:
            node = node[key]
        if op["operation"] == "Assign":
            node[last] = op["params"]["value"]
        elif op["operation"] == "Append":
            node[last].append(op["params"]["value"])
        elif op["operation"] == "Prepend":
            node[last].insert(0, op["params"]["value"])
        elif op["operation"] == "Delete":
            del node[last]
        else:
            raise AssertionError(f"unexpected patch operation {op}")
    return root["v"]


# -- maps and theme: shared, not owned by a page ---------------------------------------------------
def test_grid_layers_are_built_once_and_shared(tmp_path):
    ctx = _ctx(tmp_path)
    first = maps.grid_layer(ctx.cfg, ctx.grid, "cell")
    assert maps.grid_layer(ctx.cfg, ctx.grid, "cell") is first  # the same object: built once
    assert [f["properties"]["code"] for f in first["features"]] == [str(c) for c in ctx.grid.codes]
    assert set(maps.grid_layers(ctx.cfg, ctx.grid)) == {"cell", "community", "street"}
    assert not hasattr(ctx, "board_layers")


def test_console_detail_has_the_cell_layer_without_the_board(tmp_path):
    """The console's map drew the cell outlines only if the board had registered first."""
    app = Dash(__name__, suppress_callback_exceptions=True)
    ctx = _ctx(tmp_path)
    console.register(app, ctx)  # the console alone, no board
    inc = {"id": 1, "type": "exposed_rubbish", "state": "new", "cell": None, "assignee": None, "count": 1,
           "lon": 118.19, "lat": 39.65, "events": [], "evidence": None, "source": "camera",
           "opened_at": "2026-11-25T02:00:00+00:00"}  # fmt: skip
    [graph] = [c for c in console.arrival_map(ctx, inc, "en") if getattr(c, "id", None) == "detail-map"]
    layers = graph.figure.layout.map.layers
    # the cells around the site (maps.cells_near), not the whole district's layer
    whole = maps.grid_layer(ctx.cfg, ctx.grid, "cell")["features"]
    [cells] = [layer.source for layer in layers if layer.type == "line" and layer.source["features"] != []]
    assert 0 < len(cells["features"]) < len(whole) and all(f in whole for f in cells["features"]), layers


def test_pages_import_nothing_from_each_other():
    for name in ("board", "console", "inspector", "citizen", "phone"):
        mod = importlib.import_module(f"dashboard.pages.{name}")
        src = open(mod.__file__, encoding="utf-8").read()
        others = {"board", "console", "inspector", "citizen"} - {name}
        assert not any(f"dashboard.pages.{o}" in src for o in others), name


# -- the board's traces by name --------------------------------------------------------------------
def test_map_figure_names_its_traces_and_the_view_keeps_their_positions(tmp_path):
    ctx = _ctx(tmp_path)
    view = board.ClientView(0, {})
    fig = board.map_figure(ctx, {}, [], [], "en", view)
    names = [trace["name"] for trace in fig["data"]]
    assert names == [board.CELLS, board.HIGHLIGHT, board.INCIDENTS, board.CAMERAS, board.DEVICES]
    assert view.traces == board.trace_index(fig) == {name: k for k, name in enumerate(names)}


def test_map_traces_and_layers_each_lie_under_a_layer_of_their_own(tmp_path):
    """Plotly's map removes and re-adds (and the map reloads and redraws) every trace and layer whose
    ``below`` another shares, on every update; a trace without points takes the one before's."""
    ctx = _ctx(tmp_path)
    ctx.cfg.cameras.clear()  # nothing to draw in the cameras, devices and outline traces
    fig = board.map_figure(ctx, {}, [_incident(ctx, 1)], [], "en",
                           board.ClientView(0, {}))  # fmt: skip
    belows = [t["below"] for t in fig["data"]] + [layer["below"] for layer in fig["layout"]["map"]["layers"]]
    assert len(set(belows)) == len(belows), belows
    for trace in fig["data"]:
        if trace["type"] == "scattermap":
            assert len(trace["lon"]) >= 1 and len(trace["lat"]) >= 1, trace["name"]
    ids = [board.map_layer_id(t["uid"]) for t in fig["data"]]
    assert [t["below"] for t in fig["data"]] == [*ids[1:], ""]  # each under the next: the order drawn
    patch = board.Patch()
    board.show_drill(ctx, {"level": "district"}, 1.0, patch, board.trace_index(fig))
    after = apply_patch(fig, patch)
    assert after["data"][board.trace_index(fig)[board.HIGHLIGHT]]["lon"] == [
        None
    ]  # no outline, still a point


def test_marker_patch_lands_on_the_markers_trace_whatever_the_order(tmp_path):
    """The board patched ``data[0|1|2]``: with another trace drawn first, a new incident's marker went
    into the cells trace. Addressed by name, it lands on the markers."""
    ctx = _ctx(tmp_path)
    old = [_incident(ctx, 1)]
    counts = ctx.live.open_by_cell(old)
    view = board.ClientView(0, counts)
    fig = board.map_figure(ctx, counts, old, [], "en", view)
    extra = {"type": "scattermap", "name": "heat", "lon": [], "lat": [], "marker": {"color": []}}
    fig["data"] = [extra, *reversed(fig["data"])]  # another layer first, and the rest reordered
    view.traces = board.trace_index(fig)

    new = _incident(ctx, 2, state="dispatched")
    closed = _incident(ctx, 1, state="closed", version=2)
    now_counts = ctx.live.open_by_cell([new])
    after = apply_patch(fig, board.map_patch(ctx, view, now_counts, [new, closed], [], "en"))

    by_name = {trace["name"]: trace for trace in after["data"]}
    markers = by_name[board.INCIDENTS]
    assert markers["customdata"] == [1, 2] and markers["lon"] == [None, new.lon]
    assert markers["marker"]["color"][1] == state_colour("dispatched")
    cells = by_name[board.CELLS]
    z = dict(zip(cells["locations"], cells["z"], strict=True))
    assert z[new.cell] == 1 and z[closed.cell] == 0
    assert by_name["heat"] == extra  # untouched
    assert view.markers == {1: 0, 2: 1}


def test_board_refresh_callback_patches_by_name(tmp_path):
    ctx = _ctx(tmp_path)
    board.register(Dash(__name__, suppress_callback_exceptions=True), ctx)
    ctx.live.apply(encode(_incident(ctx, 1)))
    district = {"level": "district"}
    push = lambda page, have: board.refresh(ctx, ctx.live.version, None, district, 1, None, page, have, "en")  # noqa: E731
    fig, seq = push("page-1", 0)  # a page the server does not know: the whole map
    m = board.trace_index(fig)[board.INCIDENTS]
    assert ctx.board_views.get("page-1", seq).version == ctx.live.version and fig["data"][m][
        "customdata"
    ] == [1]
    assert push("page-1", seq) == (no_update, no_update)  # nothing new
    ctx.live.apply(encode(_incident(ctx, 3, state="accepted")))
    patch, seq2 = push("page-1", seq)
    dropped = push("page-1", seq)  # Dash dropped that answer: the page still holds seq
    assert dropped[0] is not no_update and dropped[-1] != seq2
    after = apply_patch(fig, patch)
    assert (
        after["data"][m]["customdata"] == [1, 3]
        and ctx.board_views.get("page-1", seq2).version == ctx.live.version
    )
    # overdue: red, bigger, and the cell's tooltip counts it
    late = _incident(ctx, 3, state="accepted", version=2).model_copy(update={"breaches": ["arrive"]})
    ctx.live.apply(encode(late))
    patch, seq3 = push("page-1", seq2)
    after = apply_patch(after, patch)
    assert after["data"][m]["marker"]["color"][1] == OVERDUE_COLOUR
    assert after["data"][m]["marker"]["size"][1] > after["data"][m]["marker"]["size"][0]
    k = list(ctx.grid.codes).index(late.cell)
    assert after["data"][0]["customdata"][k] == 1 and after["data"][0]["z"][k] == 1
    assert "Overdue" in after["data"][0]["hovertemplate"] or "overdue" in after["data"][0]["hovertemplate"]
    # closed: its marker is no longer drawn, the others stay where they are, the cell empties
    ctx.live.apply(encode(_incident(ctx, 3, state="closed", version=3)))
    patch, _ = push("page-1", seq3)
    after = apply_patch(after, patch)
    assert after["data"][m]["customdata"] == [1, 3] and after["data"][m]["lon"][1] is None
    assert after["data"][m]["lon"][0] == _incident(ctx, 1).lon and after["data"][0]["z"][k] == 0


def test_cards_lane_is_json_drawn_by_the_page_and_keyed_per_card(tmp_path):
    """The fast lane (KPI tiles and incident cards) is JSON from /board/cards that assets/board.js
    draws itself: computed once per live-state version, a new incident's card on top (the oldest
    dropped at eight), each card keyed by its content so the page redraws only the ones that changed;
    a bad drill-down or language is the district in the board's language."""
    ctx = _ctx(tmp_path)
    app = Dash(__name__, suppress_callback_exceptions=True)
    app.layout = html.Div()
    board.register(app, ctx)
    client = app.server.test_client()
    for k in range(1, 9):
        ctx.live.apply(encode(_incident(ctx, k)))

    def lane(drill=None, lang="en"):
        q = {"lang": lang} | ({"drill": json.dumps(drill)} if drill is not None else {})
        resp = client.get("/board/cards", query_string=q)
        assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
        return resp.get_json()

    first = lane()
    assert len(first["kpis"]) == 10 and [c["id"] for c in first["ticker"]] == list(range(8, 0, -1))
    assert next(k for k in first["kpis"] if k["id"] == "kpi-open")["value"] == "8"
    assert lane() == first  # nothing changed: the same answer (from the cache)
    ctx.live.apply(encode(_incident(ctx, 9, state="dispatched")))
    second = lane()
    assert [c["id"] for c in second["ticker"]] == list(range(9, 1, -1))  # one in, the oldest out
    keys = {c["id"]: c["key"] for c in first["ticker"]}
    assert all(keys[c["id"]] == c["key"] for c in second["ticker"][1:])  # the others are not redrawn
    ctx.live.apply(encode(_incident(ctx, 9, state="accepted", version=2)))
    third = lane()
    changed = [
        c["id"] for c, d in zip(third["ticker"], second["ticker"], strict=True) if c["key"] != d["key"]
    ]
    assert changed == [9] and "Accepted" in third["ticker"][0]["state"]
    assert lane({"level": "street", "code": "no-such-street"}) == third  # not of this grid: the district
    for hostile in (
        {"level": "street", "code": ["x"]},
        {"level": "community", "code": {"a": 1}},
        [1],
        "x",
        7,
    ):
        assert lane(hostile) == third  # an unhashable or odd drill-down: the district, not a 500
    assert client.get("/board/cards", query_string={"lang": "en", "drill": "{not json"}).get_json() == third
    assert lane({"level": "district"}, lang="xx")["kpis"][2]["label"] == t("open", ctx.cfg.dashboard.language)


def test_charts_follow_the_map_and_are_sent_only_when_changed(tmp_path):
    ctx = _ctx(tmp_path)
    board.register(Dash(__name__, suppress_callback_exceptions=True), ctx)
    ctx.live.apply(encode(_incident(ctx, 1)))
    district = {"level": "district"}
    lane = lambda scale, sent: board.chart_update(ctx, 1, None, district, scale, sent, "en")  # noqa: E731
    n = len(board.CHARTS) + 1
    assert lane(None, {}) == (no_update,) * n  # the map has not drawn yet
    *charts, sent = lane(1.0, {})
    assert no_update not in charts and sum(charts[1]["data"][0]["x"]) == 1
    assert lane(1.0, sent) == (no_update,) * n
    ctx.live.apply(encode(_incident(ctx, 2, state="dispatched")))
    *charts, _ = lane(1.0, sent)
    assert sum(charts[1]["data"][0]["x"]) == 2 and sum(charts[2]["data"][0]["x"]) == 2
    bigger = lane(2.0, sent)  # a 4K wall: the same charts in bigger type
    assert bigger[0]["layout"]["font"]["size"] > charts[0]["layout"]["font"]["size"]


def test_drill_down_filters_the_panels_and_names_the_cells(tmp_path):
    ctx = _ctx(tmp_path)
    board.register(Dash(__name__, suppress_callback_exceptions=True), ctx)
    a = _incident(ctx, 1)
    other = next(k for k, c in enumerate(ctx.grid.cells) if c.street != ctx.grid.cells[1].street)
    b = _incident(ctx, other)  # in another street
    for inc in (a, b):
        ctx.live.apply(encode(inc))
    street_a = ctx.grid.by_code[a.cell].street
    assert ctx.grid.by_code[b.cell].street != street_a
    incidents = ctx.live.snapshot()[1]
    street = {"level": "street", "code": street_a}
    whole = board.cards_data(ctx, incidents, [], "en")
    drilled = board.cards_data(ctx, incidents, [], "en", street)
    ids = lambda cards: sorted(c["id"] for c in cards["ticker"])  # noqa: E731
    assert ids(whole) == sorted([1, other]) and ids(drilled) == [1]
    kpi = lambda cards: cards["kpis"][2]["value"]  # noqa: E731 (the open count)
    assert (kpi(whole), kpi(drilled)) == ("2", "1")
    by_unit = board.charts(ctx, board.filtered(ctx, incidents, street), "en", street)[2]
    assert sum(by_unit["data"][0]["x"]) == 1  # by community inside the street
    # the drill callback highlights the street and the labels are names, not codes
    click = {"points": [{"location": a.cell}]}
    target, label, title = board.drill_to(ctx, "board-map", click, None, {"level": "district"}, "en")
    seq = board.update(ctx, {"level": "district"}, 1, "page-2", 0, "en")[-1]  # the page's first answer
    patch = board.update(ctx, target, 1, "page-2", seq, "en")[0]  # the drill store changed
    assert target == {"level": "street", "code": street_a}
    name = ctx.grid.by_code[a.cell].street_en
    assert name in label and title == t("board.by_community", "en")
    ops = patch.to_plotly_json()["operations"]
    lons = next(op for op in ops if op["location"][-1] == "lon")["params"]["value"]
    street = next(u for u in ctx.grid.streets if u.code == street_a).geometry

    ring = [p for p in lons if p is not None]
    assert len(ring) > 10 and min(ring) >= street.bounds[0] - 1e-4 and max(ring) <= street.bounds[2] + 1e-4
    labels = board.cell_labels(ctx.grid, "en")
    assert name in labels[list(ctx.grid.codes).index(a.cell)]


# -- callbacks called directly ---------------------------------------------------------------------
def test_console_callbacks(tmp_path, staff_api):
    api = staff_api(users=[("olga", "operator", None), ("bob", "inspector", "insp-b")])
    client = ApiClient("http://testserver")
    client.http = api.client()  # the real API app in-process
    ctx = _ctx(tmp_path, client)
    assert console.show(None, "en") == ({}, {"display": "none"}, "")
    assert console.show({"token": "tok", "name": "O"}, "en") == ({"display": "none"}, {}, "Signed in: O")
    with flask.Flask(__name__).test_request_context(environ_base={"REMOTE_ADDR": "198.51.100.9"}):
        token, msg = console.login(ctx, 1, None, "olga", "olga-password", "en")
        assert token["token"] and token["name"] == "olga" and msg == ""
        assert console.login(ctx, 1, None, "bob", "bob-password", "en") == (no_update, t("desk_only", "en"))
        assert console.login(ctx, 1, None, "olga", "wrong", "zh-CN") == (no_update, "用户名或密码错误")
    p = api.grid.cells[0].geometry.representative_point()
    made = client.create_request({"service_code": "exposed_rubbish", "lat": p.y, "long": p.x}, None, None)
    assert made.ok, made.error
    title, body, acts = console.show_detail(ctx, None, None, 0, token, "en")
    assert (title, body, acts) == ("Select an incident", [], [])
    title, body, acts = console.show_detail(ctx, 1, 1, 0, token, "en")
    (audit,) = [c for c in body if getattr(c, "id", None) == "detail-audit"]
    assert title[0].children == "#1 " and any(getattr(c, "id", None) == "timeline" for c in audit.children)
    assert {b.id["action"] for b in acts} >= {"assign", "reject"} and all(b.id["incident"] == 1 for b in acts)
    assert all(b.children.endswith(" #1") for b in acts)  # every button names the incident it acts on
    title, body, _ = console.show_detail(ctx, 999, None, 0, token, "zh-CN")
    assert title == "#999" and body.children == "案件 #999 不存在" and "message error" in body.className
    assert console.logout(ctx, 1, token) == (None, "")
    assert console.show_detail(ctx, 1, 1, 0, token, "en")[0] == "#1"  # the login ended at the API


def test_inspector_pure_callbacks():
    auth = {"token": "t", "user": "bob", "inspector": "insp-b"}
    assert inspector.show(None, "en") == ({}, inspector.HIDDEN, "")
    hidden, shown, who = inspector.show(auth, "en")
    assert hidden == inspector.HIDDEN and shown == {} and who == "Signed in as: bob"  # no roster name given
    assert inspector.show({**auth, "name": "Bob Li"}, "en")[2] == "Signed in as: Bob Li"  # never "insp-b"


def test_citizen_position_callbacks():
    assert citizen.from_map({"map.center": {"lon": 118.1234567, "lat": 39.7654321}}) == (
        "118.123457",
        "39.765432",
    )
    lon, lat, fig, msg = citizen.from_gps({"lon": 118.2, "lat": 39.6, "at": 1}, "en")
    assert (lon, lat, msg) == ("118.200000", "39.600000", None)
    assert apply_patch({"layout": {"map": {}}}, fig)["layout"]["map"] == {
        "center": {"lon": 118.2, "lat": 39.6},
        "zoom": 16,
    }
    *_, failed = citizen.from_gps({"error": "denied", "at": 1}, "en")
    assert failed.children.endswith(": denied") and "ph-error" in failed.className


def test_inspector_card_names_the_place_and_links_to_navigation(tmp_path):
    ctx = _ctx(tmp_path)
    cell = ctx.grid.cells[5]
    p = cell.geometry.representative_point()
    item = {"id": 7, "type": "exposed_rubbish", "state": "dispatched", "cell": cell.code, "lon": p.x, "lat": p.y,
            "deadline": None, "evidence": None,  # the names as the API sends them (dispatch.api.staff.areas)
            "street": {"code": cell.street, "name_zh": cell.street_zh, "name_en": cell.street_en},
            "community": {"code": cell.community, "name_zh": cell.community_zh, "name_en": cell.community_en}}  # fmt: skip
    text = str(inspector.card(ctx, item, datetime.now(UTC), "zh-CN", False).to_plotly_json())
    assert cell.street_zh in text and cell.community_zh in text and cell.code not in text
    assert f"geo:{p.y:.6f},{p.x:.6f}?q={p.y:.6f},{p.x:.6f}" in text and "导航前往" in text


def test_console_detail_sends_only_the_sections_that_changed(monkeypatch):
    """draw_detail: the first draw sends everything; a redraw of the same case sends a Patch of the
    changed sections only and keeps the action bar; another case or language draws it all again."""
    from dash import Patch, html

    sections = [
        html.Div("head", id="detail-head"),
        html.Div("media", id="detail-media"),
        html.Div("sla 10:00"),
    ]
    acts = [html.Button("assign #1")]
    monkeypatch.setattr(console, "show_detail", lambda *a: ("#1", list(sections), list(acts)))
    title, body, bar, shown = console.draw_detail(None, 1, 1, 0, "tok", "en", None)
    assert body == sections and bar == acts and len(shown["parts"]) == 3
    assert console.draw_detail(None, 1, 2, 0, "tok", "en", shown)[1:3] == (no_update, no_update)
    sections[2] = html.Div("sla 09:59")
    _, body, bar, again = console.draw_detail(None, 1, 2, 0, "tok", "en", shown)
    assert isinstance(body, Patch) and bar is no_update and again["parts"][:2] == shown["parts"][:2]
    assert body.to_plotly_json()["operations"] == [
        {"operation": "Assign", "location": [2], "params": {"value": sections[2]}}
    ]
    acts[0] = html.Button("reject #1")
    assert console.draw_detail(None, 1, 3, 0, "tok", "en", again)[2] == acts
    assert console.draw_detail(None, 2, 3, 0, "tok", "en", again)[1] == sections  # another case
    assert console.draw_detail(None, 1, 3, 0, "tok", "zh-CN", again)[1] == sections  # another language
