"""The wall board: every unit cell coloured by open incidents, street and community boundaries,
live incident markers, cameras, KPI tiles, a 24-hour trend, breakdowns, a ticker and a camera wall.

Geometry is sent once, in the first figure. The server remembers, per open page, what it sent
(``ClientView``); each tick sends a ``Patch`` with only the cells whose count changed and the
markers of incidents that are new or changed since, plus the small panels. A page that missed
nothing gets ``no_update``.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

import plotly.graph_objects as go
from dash import Input, Output, Patch, State, callback_context, dcc, html, no_update

from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.iot_board import DEVICES, active_alarms, alarm_cards, device_trace
from dashboard.maps import background_layers, fit_zoom, grid_layers, line_layer
from dashboard.media import media_url
from dashboard.metrics import duration_text, hourly_trend, kpis, open_by
from dashboard.theme import (
    CAMERA_COLOURS,
    CELL_LINE,
    CHART_LAYOUT,
    GRID_LINE,
    MAP_BACKGROUND,
    MAP_STYLE,
    state_colour,
)
from dispatch.lifecycle import OPEN_STATES
from gis.grid import Grid

#: The map's traces by name (each trace's ``name``; the patches find them by it, never by position).
CELLS, INCIDENTS, CAMERAS = "cells", "incidents", "cameras"


# -- what each open page was sent ------------------------------------------------------------------
@dataclass
class ClientView:
    version: int
    counts: dict[str, int]
    markers: dict[int, int] = field(default_factory=dict)  # incident id -> index in the marker trace
    traces: dict[str, int] = field(default_factory=dict)  # trace name -> index in the page's figure
    devices: int = 0  # the live state's devices_version the page's device layer shows


class ClientViews:
    """What each open page holds, keyed by (page id, version the page reports), bounded (LRU).

    The page reports its version back with every tick, so a response that Dash dropped (a newer
    request for the same output was in flight) is simply computed again from the older version.
    """

    def __init__(self, limit: int = 2048) -> None:
        self.limit = limit
        self._views: OrderedDict[tuple[str, int], ClientView] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, cid: str, view: ClientView) -> None:
        with self._lock:
            self._views[(cid, view.version)] = view
            self._views.move_to_end((cid, view.version))
            while len(self._views) > self.limit:
                self._views.popitem(last=False)

    def get(self, cid: str, version: int) -> ClientView | None:
        with self._lock:
            view = self._views.get((cid, version))
            if view is not None:
                self._views.move_to_end((cid, version))
            return view


def plain(text: str) -> str:
    """``text`` for a plotly label: plotly reads ``<a>``, ``<b>``, ``<br>``... in tick labels, hover
    text and annotations as markup, so ``&``, ``<`` and ``>`` from data are sent as entities."""
    return escape(str(text), quote=False)


def marker_text(inc, lang: str) -> str:
    return plain(f"#{inc.incident_id} {t('type.' + inc.type, lang)} · {t('state.' + inc.state, lang)}")


# -- figures ----------------------------------------------------------------------------------------
def map_figure(
    ctx: DashContext, layers: dict, counts: dict[str, int], incidents, cameras, lang: str, view: ClientView
) -> dict:
    """The board's map as a plain figure dict (plotly's validating objects cost ~0.4 s per page
    load for 2,257 polygons and thousands of markers; these keys are plotly's own)."""
    codes = list(ctx.grid.codes)
    live = [i for i in incidents if i.state in OPEN_STATES]
    view.markers = {inc.incident_id: k for k, inc in enumerate(live)}
    w, s, e, n = ctx.grid.bounds
    cells = {
        "type": "choroplethmap",
        "name": CELLS,
        "uid": CELLS,
        "geojson": layers["cell"],
        "locations": codes,
        "z": [counts.get(c, 0) for c in codes],
        "featureidkey": "properties.code",
        "zmin": 0,
        "zmax": 4,
        "colorscale": [
            [0, "#12304f"],
            [0.125, "#12304f"],
            [0.125, "#f0a020"],
            [0.5, "#ff7a1a"],
            [1, "#ff3b30"],
        ],
        "marker": {"line": {"width": 0.3, "color": CELL_LINE}, "opacity": 0.85},
        "showscale": False,
        "hovertemplate": "%{location}: %{z}<extra></extra>",
    }
    markers = marker_trace(
        INCIDENTS,
        [i.lon for i in live],
        [i.lat for i in live],
        [marker_text(i, lang) for i in live],
        [state_colour(i.state) for i in live],
        size=16,
        customdata=[i.incident_id for i in live],
    )
    below = f"plotly-trace-layer-{INCIDENTS}-circle"  # the outlines go under the markers
    view.devices, devices = ctx.live.device_list()
    fig = {
        "data": [cells, markers, camera_trace(ctx, cameras, lang), device_trace(devices, lang)],
        "layout": {
            "map": {
                "style": MAP_STYLE,
                "center": {"lon": (w + e) / 2, "lat": (s + n) / 2},
                "zoom": fit_zoom(ctx.grid.bounds),
                "layers": [
                    *background_layers(ctx.cfg),
                    line_layer(layers["community"], "#5f8fbf", 1.2, below),
                    line_layer(layers["street"], "#9fd0ff", 2.6, below),
                ],
            },
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
            "paper_bgcolor": MAP_BACKGROUND,
            "showlegend": False,
            "uirevision": "board",
        },
    }
    view.traces = trace_index(fig)
    return fig


def trace_index(fig: dict) -> dict[str, int]:
    """Each trace's position in ``fig`` by its name: what a patch of that figure addresses."""
    return {trace["name"]: k for k, trace in enumerate(fig["data"])}


def camera_trace(ctx: DashContext, cameras, lang: str) -> dict:
    health = {c.camera_id: c for c in cameras}
    cams = ctx.cfg.cameras
    states = [health[c.id].state if c.id in health else "starting" for c in cams]
    texts = [
        plain(f"📷 {c.name or c.id} · {t('cam.' + st, lang)}") for c, st in zip(cams, states, strict=True)
    ]
    return marker_trace(
        CAMERAS,
        [c.lon for c in cams],
        [c.lat for c in cams],
        texts,
        [CAMERA_COLOURS[st] for st in states],
        size=11,
    )


def marker_trace(
    name: str, lons: list, lats: list, texts: list, colours: list, *, size: int, **extra
) -> dict:
    """A named trace of points (incidents, cameras) with hover text and a colour each."""
    return {
        "type": "scattermap",
        "name": name,
        "uid": name,
        "mode": "markers",
        "lon": lons,
        "lat": lats,
        "text": texts,
        **extra,
        "marker": {"size": size, "color": colours},
        "hoverinfo": "text",
    }


def bar_figure(labels: list[str], values: list[int], *, horizontal: bool, colour: str) -> go.Figure:
    bar = go.Bar(y=labels, x=values, orientation="h") if horizontal else go.Bar(x=labels, y=values)
    bar.marker.color = colour
    fig = go.Figure(bar)
    fig.update_layout(**CHART_LAYOUT, bargap=0.25)
    counts = {"tickformat": "d", "rangemode": "tozero"}
    if max(values, default=0) <= 5:
        counts["dtick"] = 1
    fig.update_xaxes(gridcolor=GRID_LINE, automargin=True, **(counts if horizontal else {}))
    fig.update_yaxes(gridcolor=GRID_LINE, automargin=True, **({} if horizontal else counts))
    if not horizontal:
        fig.update_xaxes(tickvals=labels[::3])
    return fig


# -- panels -----------------------------------------------------------------------------------------
def kpi_tiles(ctx: DashContext, incidents, cameras, lang: str) -> list:
    stamps = ctx.live.all_stamps()
    k = kpis(incidents, stamps, datetime.now(UTC), ctx.tz)
    online = sum(c.state == "online" for c in cameras)

    def tile(key: str, value, tid: str, warn: bool = False):
        return html.Div(
            [
                html.Div(str(value), className="kpi-value" + (" warn" if warn else ""), id=tid),
                html.Div(t(key, lang), className="kpi-label"),
            ],
            className="kpi",
        )

    compliance = "-" if k.sla_compliance is None else f"{k.sla_compliance:.0%}"
    return [
        tile("today_new", k.today_new, "kpi-today"),
        tile("today_closed", k.today_closed, "kpi-closed"),
        tile("open", k.open, "kpi-open"),
        tile("overdue", k.overdue, "kpi-overdue", warn=k.overdue > 0),
        tile("sla_compliance", compliance, "kpi-sla"),
        tile("median_accept", duration_text(k.median_accept_s), "kpi-accept"),
        tile("median_arrive", duration_text(k.median_arrive_s), "kpi-arrive"),
        tile("median_resolve", duration_text(k.median_resolve_s), "kpi-resolve"),
        tile("cameras_online", f"{online}/{len(ctx.cfg.cameras) or len(cameras)}", "kpi-cameras"),
        tile("active_alarms", len(alarms := active_alarms(incidents)), "kpi-alarms", warn=bool(alarms)),
    ]


def ticker(ctx: DashContext, incidents, lang: str) -> list:
    latest = sorted(incidents, key=lambda i: i.at, reverse=True)[:6]
    rows = alarm_cards(incidents, ctx.tz, lang)  # urgent device alarms first, flashing (no sound)
    if not latest:
        return rows or [html.Div(t("no_incidents", lang), className="empty")]
    for i in latest:
        url = media_url(i.evidence, ctx.api_public_url)
        thumb = html.Img(src=url, className="thumb") if url else html.Div(className="thumb")
        overdue = " · " + t("overdue", lang) if i.breaches else ""
        rows.append(
            html.Div(
                [
                    thumb,
                    html.Div(
                        [
                            html.Div(
                                [
                                    html.Span(f"#{i.incident_id} ", className="inc-id"),
                                    t(f"type.{i.type}", lang),
                                ],
                                className="inc-title",
                            ),
                            html.Div(
                                f"{t('state.' + i.state, lang)}{overdue} · {t('cell', lang)} {i.cell or '-'} · "
                                f"{t('assignee', lang)} {i.assignee or t('unassigned', lang)} · {i.count}{t('count', lang)} · "
                                f"{i.at.astimezone(ctx.tz):%H:%M:%S}",
                                className="inc-meta",
                            ),
                        ]
                    ),
                ],
                className=f"incident state-{i.state}" + (" overdue" if i.breaches else ""),
                id=f"incident-{i.incident_id}",
            )
        )
    return rows


def camera_wall(ctx: DashContext, incidents, cameras, lang: str) -> list:
    health = {c.camera_id: c for c in cameras}
    latest: dict[str, str] = {}
    for inc in sorted(incidents, key=lambda i: i.at):
        url = media_url(inc.evidence, ctx.api_public_url)
        if inc.camera_id and url:
            latest[inc.camera_id] = url
    tiles = []
    for cam in ctx.cfg.cameras:
        h = health.get(cam.id)
        state = h.state if h else "starting"
        img = (
            html.Img(src=latest[cam.id], className="cam-img")
            if cam.id in latest
            else html.Div(t("no_frame", lang), className="cam-img empty")
        )
        caption = f"{cam.name or cam.id} · {t('cam.' + state, lang)}" + (
            f" · {h.fps:.1f} {t('fps', lang)}" if h else ""
        )
        tiles.append(
            html.Div(
                [
                    img,
                    html.Div(
                        [html.Span("●", className=f"dot cam-{state}"), " ", caption], className="cam-caption"
                    ),
                ],
                className="cam-tile",
                id=f"camera-{cam.id}",
            )
        )
    return tiles or [html.Div(t("no_cameras", lang), className="empty")]


def charts(ctx: DashContext, incidents, lang: str) -> tuple[go.Figure, go.Figure, go.Figure]:
    labels, counts = hourly_trend(incidents, datetime.now(UTC), ctx.tz)
    trend = bar_figure(labels, counts, horizontal=False, colour="#3aa0ff")
    by_type = open_by(incidents, lambda i: plain(t("type." + i.type, lang))).most_common(8)[::-1]
    street_of = {
        c.code: (c.street_zh if lang == "zh-CN" else c.street_en) or c.street for c in ctx.grid.cells
    }
    street = lambda i: plain(street_of.get(i.cell or "", t("outside", lang)))  # noqa: E731
    by_street = open_by(incidents, street).most_common(10)[::-1]
    return (
        trend,
        bar_figure([k for k, _ in by_type], [v for _, v in by_type], horizontal=True, colour="#ffb020"),
        bar_figure([k for k, _ in by_street], [v for _, v in by_street], horizontal=True, colour="#36cfc9"),
    )


def panels(ctx: DashContext, incidents, cameras, lang: str) -> tuple:
    """Everything on the board but the map: small, sent whole when anything changed."""
    trend, by_type, by_street = charts(ctx, incidents, lang)
    kpi = kpi_tiles(ctx, incidents, cameras, lang)
    return (
        kpi,
        ticker(ctx, incidents, lang),
        camera_wall(ctx, incidents, cameras, lang),
        trend,
        by_type,
        by_street,
    )


# -- page -------------------------------------------------------------------------------------------
def layout(ctx: DashContext, lang: str, query: dict) -> html.Div:
    version, incidents, cameras = ctx.live.snapshot()
    counts = ctx.live.open_by_cell(incidents)
    cid = uuid.uuid4().hex
    view = ClientView(version, counts)
    fig = map_figure(ctx, grid_layers(ctx.cfg, ctx.grid), counts, incidents, cameras, lang, view)
    ctx.board_views.put(cid, view)
    trend, by_type, by_street = charts(ctx, incidents, lang)
    graph = lambda gid, f: dcc.Graph(id=gid, figure=f, config={"displayModeBar": False}, className="chart")  # noqa: E731
    return html.Div(
        [
            html.Header(
                [
                    html.Div(
                        [
                            html.H1(t("title", lang), id="title"),
                            html.Div(t("subtitle", lang), className="subtitle"),
                        ]
                    ),
                    html.Div(
                        [
                            html.Button(t("district_all", lang), id="drill-reset", className="drill"),
                            html.Span(id="drill-label", className="drill-label"),
                        ],
                        className="drill-bar",
                    ),
                    html.Div(
                        f"{ctx.cfg.district} · {len(ctx.grid)} {t('cells_label', lang)}", className="district"
                    ),
                ],
                className="header",
            ),
            html.Div(kpi_tiles(ctx, incidents, cameras, lang), className="kpis", id="kpis"),
            html.Div(
                [
                    html.Div(
                        [
                            html.H2(t("map", lang)),
                            dcc.Graph(
                                id="board-map",
                                figure=fig,
                                config={"displayModeBar": False, "scrollZoom": True},
                                className="map",
                            ),
                        ],
                        className="panel map-panel",
                    ),
                    html.Div(
                        [html.H2(t("latest", lang)), html.Div(ticker(ctx, incidents, lang), id="ticker")],
                        className="panel side-panel",
                    ),
                ],
                className="main",
            ),
            html.Div(
                [
                    html.Div([html.H2(t("trend_24h", lang)), graph("chart-trend", trend)], className="panel"),
                    html.Div([html.H2(t("by_type", lang)), graph("chart-type", by_type)], className="panel"),
                    html.Div(
                        [html.H2(t("by_street", lang)), graph("chart-street", by_street)], className="panel"
                    ),
                    html.Div(
                        [
                            html.H2(t("cameras", lang)),
                            html.Div(
                                camera_wall(ctx, incidents, cameras, lang),
                                id="camera-wall",
                                className="camera-wall",
                            ),
                        ],
                        className="panel",
                    ),
                ],
                className="bottom",
            ),
            dcc.Store(id="board-client", data=cid),
            dcc.Store(id="board-version", data=version),
            dcc.Store(id="board-lang", data=lang),
            dcc.Store(id="drill", data={"level": "district"}),
            dcc.Interval(id="tick", interval=ctx.cfg.dashboard.refresh_ms),
            cycle_interval(ctx, query),
        ],
        className="board",
    )


def cycle_interval(ctx: DashContext, query: dict) -> dcc.Interval:
    """``?cycle=SECONDS`` (or ``dashboard.cycle_s``) walks the board through the streets."""
    try:
        seconds = float(query.get("cycle", ctx.cfg.dashboard.cycle_s))
    except ValueError:
        seconds = 0.0
    return dcc.Interval(id="cycle", interval=max(seconds, 1.0) * 1000, disabled=seconds <= 0)


def next_in_cycle(drill: dict, streets: list[str]) -> dict:
    if not streets:
        return {"level": "district"}
    if drill.get("level") != "street" or drill.get("code") not in streets:
        return {"level": "street", "code": streets[0]}
    k = streets.index(drill["code"]) + 1
    return {"level": "street", "code": streets[k]} if k < len(streets) else {"level": "district"}


def drill_target(ctx: DashContext, drill: dict, cell: str | None) -> dict:
    """District -> street -> community: one level down from ``drill`` towards ``cell``."""
    c = ctx.grid.by_code.get(cell or "")
    if c is None:
        return {"level": "district"}
    if drill.get("level") == "street" and drill.get("code") == c.street:
        return {"level": "community", "code": c.community}
    return {"level": "street", "code": c.street}


@dataclass(frozen=True)
class Lookups:
    """What the callbacks look up in the grid: a cell's position in the cells trace, the streets and
    communities by code, the streets in order (the cycle's walk)."""

    index: dict[str, int]
    units: dict
    streets: list[str]


@functools.lru_cache(maxsize=8)
def lookups(grid: Grid) -> Lookups:
    return Lookups(
        {c: k for k, c in enumerate(grid.codes)},
        {u.code: u for u in [*grid.streets, *grid.communities]},
        [u.code for u in grid.streets],
    )


# -- callbacks (bound to their inputs and outputs in register) -------------------------------------
def map_patch(
    ctx: DashContext, view: ClientView, counts: dict[str, int], changed, cameras, lang: str
) -> Patch:
    """The map's changes since ``view`` (what that page holds): recoloured cells, new, changed and
    closed markers, camera states. Traces are found by name in ``view.traces``. Updates ``view``'s
    marker positions in place."""
    index = lookups(ctx.grid).index
    cells, markers, cams = (view.traces[name] for name in (CELLS, INCIDENTS, CAMERAS))
    patch = Patch()
    for code in set(view.counts) | set(counts):
        if view.counts.get(code, 0) != counts.get(code, 0) and code in index:
            patch["data"][cells]["z"][index[code]] = counts.get(code, 0)
    for inc in changed:
        k = view.markers.get(inc.incident_id)
        is_open = inc.state in OPEN_STATES
        if k is None:
            if not is_open:
                continue
            view.markers[inc.incident_id] = len(view.markers)
            for key, value in (
                ("lon", inc.lon),
                ("lat", inc.lat),
                ("text", marker_text(inc, lang)),
                ("customdata", inc.incident_id),
            ):
                patch["data"][markers][key].append(value)
            patch["data"][markers]["marker"]["color"].append(state_colour(inc.state))
        else:
            patch["data"][markers]["marker"]["color"][k] = state_colour(inc.state)
            patch["data"][markers]["text"][k] = marker_text(inc, lang)
            if not is_open:  # closed: the point is no longer drawn
                patch["data"][markers]["lon"][k] = None
                patch["data"][markers]["lat"][k] = None
    cam = camera_trace(ctx, cameras, lang)
    patch["data"][cams]["marker"]["color"] = cam["marker"]["color"]
    patch["data"][cams]["text"] = cam["text"]
    version, devices = ctx.live.device_list()
    if DEVICES in view.traces and version != view.devices:  # a device changed state: the layer whole
        dev = device_trace(devices, lang)
        for key in ("lon", "lat", "text"):
            patch["data"][view.traces[DEVICES]][key] = dev[key]
        patch["data"][view.traces[DEVICES]]["marker"]["color"] = dev["marker"]["color"]
        view.devices = version
    return patch


def refresh(ctx: DashContext, _n, cid, have, lang):
    """Each tick: nothing if the page is current, else a patch of the map and the panels whole."""
    if ctx.live.version == have:  # (a device change bumps it too)
        return (no_update,) * 8
    base = ctx.board_views.get(cid, have)
    if base is None:  # a page this server does not know (it restarted): send the whole map again
        version, incidents, cameras = ctx.live.snapshot()
        view = ClientView(version, ctx.live.open_by_cell(incidents))
        fig = map_figure(ctx, grid_layers(ctx.cfg, ctx.grid), view.counts, incidents, cameras, lang, view)
        ctx.board_views.put(cid, view)
        return (fig, *panels(ctx, incidents, cameras, lang), version)
    view = ClientView(base.version, base.counts, dict(base.markers), base.traces, base.devices)
    version, changed, cameras = ctx.live.changes_since(view.version)
    _, incidents, _ = ctx.live.snapshot()
    counts = ctx.live.open_by_cell(incidents)
    patch = map_patch(ctx, view, counts, changed, cameras, lang)
    view.version, view.counts = version, counts
    ctx.board_views.put(cid, view)
    return (patch, *panels(ctx, incidents, cameras, lang), version)


def drill(ctx: DashContext, click, _reset, _cycle, state, lang):
    """A click on a cell drills one level down, the reset button (or the end of a cycle) goes back
    to the district, the cycle timer walks the streets: a patch of the map's centre and zoom."""
    trigger = callback_context.triggered_id
    cell = None
    if trigger == "board-map" and click and click.get("points"):
        cell = click["points"][0].get("location")
    if trigger == "cycle":  # unattended walls: district, then each street in turn
        target = next_in_cycle(state or {}, lookups(ctx.grid).streets)
    else:
        target = drill_target(ctx, state or {}, cell) if cell else {"level": "district"}
    patch = Patch()
    if target["level"] == "district":
        w, s, e, n = ctx.grid.bounds
        centre, zoom, label = ((w + e) / 2, (s + n) / 2), fit_zoom(ctx.grid.bounds), ""
    else:
        u = lookups(ctx.grid).units[target["code"]]
        w, s, e, n = u.geometry.bounds
        centre, zoom = ((w + e) / 2, (s + n) / 2), fit_zoom((w, s, e, n))
        label = (
            f"{t('level.' + target['level'], lang)}: {u.name_zh if lang == 'zh-CN' else u.name_en} ({u.code})"
        )
    patch["layout"]["map"]["center"] = {"lon": centre[0], "lat": centre[1]}
    patch["layout"]["map"]["zoom"] = zoom
    patch["layout"]["uirevision"] = f"{target['level']}-{target.get('code', '')}"
    return patch, target, label


def register(app, ctx: DashContext) -> None:
    ctx.board_views = ClientViews()
    app.callback(
        Output("board-map", "figure"),
        Output("kpis", "children"),
        Output("ticker", "children"),
        Output("camera-wall", "children"),
        Output("chart-trend", "figure"),
        Output("chart-type", "figure"),
        Output("chart-street", "figure"),
        Output("board-version", "data"),
        Input("tick", "n_intervals"),
        State("board-client", "data"),
        State("board-version", "data"),
        State("board-lang", "data"),
    )(functools.partial(refresh, ctx))
    app.callback(
        Output("board-map", "figure", allow_duplicate=True),
        Output("drill", "data"),
        Output("drill-label", "children"),
        Input("board-map", "clickData"),
        Input("drill-reset", "n_clicks"),
        Input("cycle", "n_intervals"),
        State("drill", "data"),
        State("board-lang", "data"),
        prevent_initial_call=True,
    )(functools.partial(drill, ctx))
