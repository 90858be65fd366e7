"""The wall board: every unit cell coloured by open incidents, street and community boundaries,
live incident markers (overdue in red), cameras, KPI tiles, a 24-hour trend, breakdowns, incident
cards and a camera wall, on exactly one screen at any wall size (assets/board.css).

Push, not poll: the board's server holds ``/board/events`` open (server-sent events) and names the
live state's version whenever it changes; assets/board.js follows it in two lanes, so a redraw of the
map (thousands of markers and cells; every plotly update of a map redraws all of it) never holds up
a card:

- the fast lane, without Dash: board.js fetches ``/board/cards`` (:func:`live_cards`, JSON computed
  once per live-state version, language and drill-down) and draws the KPI tiles and the incident
  cards itself, text only, replacing only the cards whose key changed; Dash renders ``#kpis`` and
  ``#ticker`` empty and never touches them again. The camera panel is Dash's, asked for only when its
  key (:func:`camera_key`) in that JSON changes (``board-cams-push``);
- the slow lane, :func:`refresh` and :func:`chart_update` on ``board-map-push`` (set once the pushes
  pause, or at least every few seconds while they do not): the map as a ``Patch`` with only the
  cells whose counts changed and the markers of incidents that are new or changed since what that
  page holds (``ClientView``, remembered per open page), and each chart only when it differs from
  what the page shows.

The geometry is never in a figure: the map loads it by URL (dashboard.geometry, cached by the
browser), and the charts come only once the map has drawn (the script sets ``board-scale`` then).
Panels are computed once per (live-state version, language, drill-down, scale), however many walls
show them (:class:`PanelCache`).

Drill-down (a click on the map or on a street's bar; ``?cycle=`` walks the streets) highlights the
street or community and filters the KPIs, cards and charts to it. A click on a card flies the map to
the incident and opens its detail.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from dash import Input, Output, Patch, State, callback_context, dcc, html, no_update
from flask import Response, request
from plotly.utils import PlotlyJSONEncoder

from dashboard import component_layer, eval_panel
from dashboard.access import staff_only
from dashboard.camera_wall import board_summary
from dashboard.context import DashContext
from dashboard.i18n import LANGS, t
from dashboard.iot_board import DEVICES, active_alarms, device_trace
from dashboard.maps import background_layers, fit_zoom, grid_layers, has_basemap, line_layer
from dashboard.media import media_url
from dashboard.metrics import duration_text, hourly_trend, kpis, open_by
from dashboard.theme import (
    CAMERA_COLOURS,
    CELL_COUNT_COLOURS,
    CELL_LINE,
    CHART_LAYOUT,
    CHART_MIN_FONT_PX,
    COMMUNITY_LINE,
    GRID_LINE,
    IDLE_CELL,
    IDLE_CELL_OVER_BASEMAP,
    MAP_BACKGROUND,
    MAP_STYLE,
    OVERDUE_COLOUR,
    STATE_COLOURS,
    STREET_LINE,
    incident_colour,
)
from dispatch.lifecycle import OPEN_STATES
from gis.grid import Grid
from streams.media import is_photo

#: The map's traces by name (each trace's ``name``; the patches find them by it, never by position).
CELLS, HIGHLIGHT, INCIDENTS, CAMERAS = "cells", "highlight", "incidents", "cameras"
#: The slow lane's charts (:func:`chart_update`; figures, each sent only when it changed); the fast
#: lane's panels (#kpis, #ticker) are JSON that assets/board.js draws (:func:`live_cards`).
CHARTS = ("chart-trend", "chart-type", "chart-street")
PANELS = CHARTS  # the order of :class:`Panels`' values
#: board.js updates the map once pushes have paused this long, or at least this often while they do
#: not, and gives the map's redraws at most this share of the page's time (a slow machine: less often).
#: A map update blocks the page for a few frames (without a GPU each frame of 2,257 cells and 5,000
#: markers costs 0.3-0.9 s), and a card that comes then waits for them: during a burst the map
#: catches up every 10 s at most, and takes at most a tenth of the page's time.
MAP_QUIET_MS, MAP_MAX_WAIT_MS, MAP_SHARE = 1000, 10000, 0.1
MARKER_PX, OVERDUE_PX, CAMERA_PX = 14, 20, 11  # at 1920x1080; times the page's scale
FLEET, FLEET_PX = 500, 5  # more cameras than this: smaller points


# -- what each open page was sent ------------------------------------------------------------------
@dataclass
class ClientView:
    version: int  # the live state's version the page's map shows
    counts: dict[str, int]
    markers: dict[int, int] = field(default_factory=dict)  # incident id -> index in the marker trace
    traces: dict[str, int] = field(default_factory=dict)  # trace name -> index in the page's figure
    overdue: dict[str, int] = field(default_factory=dict)  # cell -> open overdue incidents
    scale: float = 1.0
    drill: str = '{"level": "district"}'  # the drill-down the map shows (JSON, sorted keys)
    focused: int | None = None  # the incident whose card was clicked last
    seq: int = 0  # this view's number: what the page reports back (board-version) once it holds it
    devices: int = 0  # the live state's devices_version the page's device layer shows
    cameras: tuple = ()  # each camera's (colour, text) in the camera layer the page shows
    components: bool = False  # whether the page shows the component layer (component_layer)


class ClientViews:
    """What each open page holds, keyed by (page id, view number the page reports), bounded (LRU).

    Every answer carries a new view number and the page reports the one it holds with every
    request, so an answer that Dash dropped (a newer request for the same outputs was in flight) is
    simply computed again from the view the page really holds.
    """

    def __init__(self, limit: int = 2048) -> None:
        self.limit = limit
        self._views: OrderedDict[tuple[str, int], ClientView] = OrderedDict()
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    def put(self, cid: str, view: ClientView) -> int:
        """Remember ``view`` under a new number (returned, and set on it)."""
        with self._lock:
            view.seq = next(self._seq)
            self._views[(cid, view.seq)] = view
            self._views.move_to_end((cid, view.seq))
            while len(self._views) > self.limit:
                self._views.popitem(last=False)
            return view.seq

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


def marker_text(inc, lang: str, labels: dict | None = None) -> str:
    """An incident marker's hover text. ``labels`` (a dict kept by the caller) holds the text after
    the number for each (type, state, overdue), for the thousands of markers of one figure."""
    overdue = bool(inc.breaches) and inc.state in OPEN_STATES
    key = (inc.type, inc.state, overdue)
    label = labels.get(key) if labels is not None else None
    if label is None:
        more = f" · {t('overdue', lang)}" if overdue else ""
        label = plain(f"{t('type.' + inc.type, lang)} · {t('state.' + inc.state, lang)}{more}")
        if labels is not None:
            labels[key] = label
    return f"#{inc.incident_id} {label}"


def is_overdue(inc) -> bool:
    return bool(inc.breaches) and inc.state in OPEN_STATES


def view_zoom(bounds: tuple[float, float, float, float], scale: float) -> float:
    """The zoom at which ``bounds`` fills the board's map (about 1250x520 px at 1920x1080, less a margin), times
    the wall's scale (a 4K wall shows the same view, not a small island in the middle)."""
    return fit_zoom(bounds, round(1100 * scale), round(440 * scale))  # a margin around it


def marker_size(inc, scale: float) -> int:
    return round((OVERDUE_PX if is_overdue(inc) else MARKER_PX) * scale)


def district_name(ctx: DashContext, lang: str) -> str:
    key = f"district.{ctx.cfg.district}"
    name = t(key, lang)
    return ctx.cfg.district if name == key else name


# -- names, not codes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lookups:
    """What the callbacks look up in the grid: a cell's position in the cells trace, the streets and
    communities by code, the streets in order (the cycle's walk), each cell's street and community."""

    index: dict[str, int]
    units: dict
    streets: list[str]
    parents: dict[str, tuple[str, str]]  # cell -> (street code, community code)


@functools.lru_cache(maxsize=8)
def lookups(grid: Grid) -> Lookups:
    return Lookups(
        {c: k for k, c in enumerate(grid.codes)},
        {u.code: u for u in [*grid.streets, *grid.communities]},
        [u.code for u in grid.streets],
        {c.code: (c.street, c.community) for c in grid.cells},
    )


@functools.lru_cache(maxsize=8)
def place_names(grid: Grid, lang: str) -> dict[str, tuple[str, str]]:
    """Each cell's (street name, community name) in ``lang``."""
    zh = lang == "zh-CN"
    return {
        c.code: (
            (c.street_zh if zh else c.street_en) or c.street,
            (c.community_zh if zh else c.community_en) or c.community,
        )
        for c in grid.cells
    }


@functools.lru_cache(maxsize=8)
def cell_labels(grid: Grid, lang: str) -> list[str]:
    """The cells trace's hover names: street · community · cell number (plotly-escaped)."""
    names = place_names(grid, lang)
    return [plain(f"{names[c][0]} · {names[c][1]} · {t('cell', lang)} {c[-3:]}") for c in grid.codes]


def unit_name(ctx: DashContext, code: str, lang: str) -> str:
    u = lookups(ctx.grid).units.get(code)
    if u is None:
        return code
    return u.name_zh if lang == "zh-CN" else u.name_en


def inspector_name(ctx: DashContext, roster_id: str | None, lang: str) -> str:
    if not roster_id:
        return t("unassigned", lang)
    return {r.id: r.name for r in ctx.cfg.roster}.get(roster_id, roster_id)


def in_unit(ctx: DashContext, drill: dict | None):
    """A predicate on incidents: inside the drilled street or community (everything for the district)."""
    level, code = (drill or {}).get("level"), (drill or {}).get("code")
    if level not in ("street", "community") or not code:
        return None
    pos = 0 if level == "street" else 1
    parents = lookups(ctx.grid).parents
    return lambda inc: inc.cell in parents and parents[inc.cell][pos] == code


# -- figures ----------------------------------------------------------------------------------------
def cell_counts(incidents) -> tuple[dict[str, int], dict[str, int]]:
    """Open and open-overdue incidents by cell."""
    open_n: dict[str, int] = {}
    overdue: dict[str, int] = {}
    for inc in incidents:
        if inc.state in OPEN_STATES and inc.cell:
            open_n[inc.cell] = open_n.get(inc.cell, 0) + 1
            if inc.breaches:
                overdue[inc.cell] = overdue.get(inc.cell, 0) + 1
    return open_n, overdue


def map_figure(
    ctx: DashContext,
    counts: dict[str, int],
    incidents,
    cameras,
    lang: str,
    view: ClientView,
    overdue: dict[str, int] | None = None,
) -> dict:
    """The board's map as a plain figure dict (plotly's validating objects cost ~0.4 s per page
    load for 2,257 polygons and thousands of markers; these keys are plotly's own). The geometry
    comes by URL (dashboard.geometry)."""
    geometry = ctx.geometry
    codes = list(ctx.grid.codes)
    overdue = overdue if overdue is not None else cell_counts(incidents)[1]
    live = [i for i in incidents if i.state in OPEN_STATES]
    labels: dict = {}
    view.markers = {inc.incident_id: k for k, inc in enumerate(live)}
    view.overdue = dict(overdue)
    w, s, e, n = ctx.grid.bounds
    basemap = has_basemap(ctx.cfg)
    empty = IDLE_CELL_OVER_BASEMAP if basemap else IDLE_CELL
    cells = {
        "type": "choroplethmap",
        "name": CELLS,
        "uid": CELLS,
        "geojson": geometry.url("cell"),
        "locations": codes,
        "z": [counts.get(c, 0) for c in codes],
        "text": cell_labels(ctx.grid, lang),
        "customdata": [overdue.get(c, 0) for c in codes],
        "featureidkey": "properties.code",
        "zmin": 0,
        "zmax": 4,
        "colorscale": [  # z 0 idle; 1, 2 and 4 or more open incidents (zmax) in theme.CELL_COUNT_COLOURS
            [0, empty],
            [0.125, empty],
            [0.125, CELL_COUNT_COLOURS[0]],
            [0.5, CELL_COUNT_COLOURS[1]],
            [1, CELL_COUNT_COLOURS[2]],
        ],
        "marker": {"line": {"width": 0.3, "color": CELL_LINE}, "opacity": 0.85},
        "showscale": False,
        "hovertemplate": f"<b>%{{text}}</b><br>{t('board.open', lang)} %{{z}} · "
        f"{t('board.overdue', lang)} %{{customdata}}<extra></extra>",
    }
    markers = marker_trace(
        INCIDENTS,
        [i.lon for i in live],
        [i.lat for i in live],
        [marker_text(i, lang, labels) for i in live],
        [incident_colour(i.state, bool(i.breaches)) for i in live],
        size=[marker_size(i, view.scale) for i in live],
        customdata=[i.incident_id for i in live],
    )
    view.devices, devices = ctx.live.device_list()
    cams = camera_trace(ctx, cameras, lang, view.scale)
    view.cameras = tuple(zip(cams["marker"]["color"], cams["text"], strict=True))
    data = [
        cells,
        highlight_trace(),
        *component_layer.traces(ctx, lang, view.components),
        markers,
        cams,
        device_trace(devices, lang),
    ]
    fig = {
        "data": stacked(data),
        "layout": {
            "map": {
                "style": MAP_STYLE,
                "center": {"lon": (w + e) / 2, "lat": (s + n) / 2},
                "zoom": view_zoom(ctx.grid.bounds, view.scale),
                "layers": [  # each under a different layer (see stacked)
                    *underlays(ctx),
                    line_layer(
                        geometry.url("community"), COMMUNITY_LINE, 1.2, map_layer_id(INCIDENTS, "line")
                    ),
                    line_layer(geometry.url("street"), STREET_LINE, 2.6, map_layer_id(INCIDENTS, "circle")),
                ],
            },
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
            "paper_bgcolor": MAP_BACKGROUND,
            "showlegend": False,
            "autosize": True,
            "uirevision": "board",
        },
    }
    view.traces = trace_index(fig)
    return fig


def map_layer_id(trace: str, kind: str = "fill") -> str:
    """The id plotly gives the map layer of ``kind`` (fill, line, circle, symbol) of trace ``trace``."""
    return f"plotly-trace-layer-{trace}-{kind}"


def stacked(traces: list[dict]) -> list[dict]:
    """``traces``, bottom to top, each drawn under the next one's layers (the last on top).

    Plotly's map removes and adds again, on every update, every trace and layer whose ``below``
    is the same as another's (the default: all of them), and the map then reloads every source (the
    2,257 cells too) and redraws several times. With a ``below`` of its own each (and the layout
    layers under distinct layers too), an update only sets the data of the traces. A trace without
    points is hidden by plotly and takes the ``below`` of the trace before it, so the outline, the
    cameras and the devices always have one (an empty one when there is nothing to draw)."""
    out = []
    for k, trace in enumerate(traces):
        above = traces[k + 1]["uid"] if k + 1 < len(traces) else None
        trace = {**trace, "below": map_layer_id(above) if above else ""}
        if "lon" in trace and trace["uid"] != INCIDENTS:  # the markers: their positions are the patches
            trace["lon"], trace["lat"] = never_empty(trace["lon"]), never_empty(trace["lat"])
        out.append(trace)
    return out


def never_empty(values: list) -> list:
    """``values``, or one empty point (drawn as nothing) for none: see :func:`stacked`."""
    return list(values) if len(values) else [None]


def underlays(ctx: DashContext) -> list[dict]:
    """The backgrounds (dashboard.maps) under the cells, each under a different layer: the dark fill
    under the traces, the basemap (when configured) under the cells' fill, so over the dark fill."""
    layers = background_layers(ctx.cfg)
    return [layers[0], *({**layer, "below": map_layer_id(CELLS)} for layer in layers[1:])]


def highlight_trace() -> dict:
    """The drilled street's or community's outline (empty for the whole district), over the cells."""
    return {"type": "scattermap", "name": HIGHLIGHT, "uid": HIGHLIGHT, "mode": "lines", "lon": [], "lat": [],
            "line": {"color": "#ffd166", "width": 5}, "hoverinfo": "skip"}  # fmt: skip


def trace_index(fig: dict) -> dict[str, int]:
    """Each trace's position in ``fig`` by its uid (its name but for the component layer's, which are
    named in the page's language): what a patch of that figure addresses."""
    return {trace.get("uid", trace["name"]): k for k, trace in enumerate(fig["data"])}


def camera_trace(ctx: DashContext, cameras, lang: str, scale: float = 1.0) -> dict:
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
        size=round((CAMERA_PX if len(cams) <= FLEET else FLEET_PX) * scale),  # a fleet would hide the cells
    )


def marker_trace(name: str, lons: list, lats: list, texts: list, colours: list, *, size, **extra) -> dict:
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


def bar_figure(
    labels: list[str],
    values: list[int],
    *,
    horizontal: bool,
    colour: str,
    scale: float = 1.0,
    customdata: list | None = None,
) -> dict:
    """A bar chart as a plain figure dict (plotly's validating objects cost ~40 ms a chart with
    thousands of incidents; with no template: plotly's default one is ~8 KB per chart)."""
    bar = {"type": "bar", "marker": {"color": colour}}
    bar.update({"y": labels, "x": values, "orientation": "h"} if horizontal else {"x": labels, "y": values})
    if customdata is not None:
        bar["customdata"] = customdata
    counts = {"tickformat": "d", "rangemode": "tozero"}
    if max(values, default=0) <= 5:
        counts["dtick"] = 1
    xaxis = {
        "gridcolor": GRID_LINE,
        "automargin": True,
        **(counts if horizontal else {"tickvals": labels[::3]}),
    }
    yaxis = {"gridcolor": GRID_LINE, "automargin": True, **({} if horizontal else counts)}
    font = {
        **CHART_LAYOUT["font"],
        "size": max(CHART_MIN_FONT_PX, round(CHART_LAYOUT["font"]["size"] * scale)),
    }
    layout = {**CHART_LAYOUT, "font": font, "bargap": 0.25, "autosize": True, "xaxis": xaxis, "yaxis": yaxis}
    return {"data": [bar], "layout": {"template": {}, **layout}}


def empty_chart() -> dict:
    """A chart's first draw: nothing (its data follows once the map is drawn)."""
    return {"data": [], "layout": {**CHART_LAYOUT, "autosize": True, "xaxis": {"visible": False},
                                   "yaxis": {"visible": False}}}  # fmt: skip


# -- panels -----------------------------------------------------------------------------------------
def kpi_tiles(ctx: DashContext, incidents, cameras, lang: str, stamps: dict | None = None) -> list[dict]:
    """The KPI tiles as data (assets/board.js draws them): ``{"id", "value", "label", "warn"}``."""
    stamps = ctx.live.all_stamps() if stamps is None else stamps
    k = kpis(incidents, stamps, datetime.now(UTC), ctx.tz)
    online = sum(c.state == "online" for c in cameras)
    alarms = len(active_alarms(incidents))
    compliance = "-" if k.sla_compliance is None else f"{k.sla_compliance:.0%}"
    tiles = [
        ("today_new", k.today_new, "kpi-today", False),
        ("today_closed", k.today_closed, "kpi-closed", False),
        ("open", k.open, "kpi-open", False),
        ("overdue", k.overdue, "kpi-overdue", k.overdue > 0),
        ("sla_compliance", compliance, "kpi-sla", False),
        ("median_accept", duration_text(k.median_accept_s), "kpi-accept", False),
        ("median_arrive", duration_text(k.median_arrive_s), "kpi-arrive", False),
        ("median_resolve", duration_text(k.median_resolve_s), "kpi-resolve", False),
        ("cameras_online", f"{online}/{len(ctx.cfg.cameras) or len(cameras)}", "kpi-cameras", False),
        ("active_alarms", alarms, "kpi-alarms", alarms > 0),
    ]
    return [
        {"id": tid, "value": str(value), "label": t(key, lang), "warn": warn}
        for key, value, tid, warn in tiles
    ]


def thumbnail(ctx: DashContext, inc, lang: str, cls: str = "thumb"):
    url = media_url(inc.evidence, ctx.media_key)
    if url:
        return html.Img(src=url, className=cls, alt=t("type." + inc.type, lang))
    return html.Div(t("board.no_photo", lang), className=f"{cls} empty")


def card(ctx: DashContext, inc, lang: str) -> dict:
    """One incident card as data (assets/board.js draws it, text only): picture, number and type,
    state (overdue in red), street and community, inspector, reports and time. A click on it opens
    its detail."""
    street, community = place_names(ctx.grid, lang).get(inc.cell or "", (t("outside", lang), ""))
    overdue = is_overdue(inc)
    return {
        "kind": "incident",
        "id": inc.incident_id,
        "cls": f"incident state-{inc.state}" + (" overdue" if overdue else ""),
        "photo": media_url(inc.evidence, ctx.media_key) or None,
        "alt": t("type." + inc.type, lang),
        "no_photo": t("board.no_photo", lang),
        "type": t(f"type.{inc.type}", lang),
        "state": t("state." + inc.state, lang) + (f" · {t('overdue', lang)}" if overdue else ""),
        "overdue": overdue,
        "colour": incident_colour(inc.state, overdue),
        "place": " · ".join(x for x in (street, community) if x),
        "meta": f"{t('assignee', lang)} {inspector_name(ctx, inc.assignee, lang)} · {inc.count}"
        f"{t('count', lang)} · {inc.at.astimezone(ctx.tz):%H:%M:%S}",
    }


def alarm_card(ctx: DashContext, inc, lang: str) -> dict:
    """An open device alarm's flashing card as data (sound-free, above the incident cards)."""
    cleared = " · " + t("alarm_cleared", lang) if inc.action == "device_clear" else ""
    return {
        "kind": "alarm",
        "id": inc.incident_id,
        "cls": f"alarm-card alarm-{inc.type}",
        "badge": t("alarm", lang),
        "type": t(f"type.{inc.type}", lang),
        "meta": f"{t('state.' + inc.state, lang)}{cleared} · {t('cell', lang)} {inc.cell or '-'} · "
        f"{t('assignee', lang)} {inc.assignee or t('unassigned', lang)} · "
        f"{inc.opened_at.astimezone(ctx.tz):%H:%M:%S}",
    }


def ticker(ctx: DashContext, incidents, lang: str, limit: int = 8) -> list[dict]:
    """The side panel's cards as data: the urgent device alarms first (the most urgent on top), then
    the ``limit`` latest incidents; one ``empty`` item when there is nothing."""
    latest = sorted(incidents, key=lambda i: i.at, reverse=True)[:limit]
    rows = [alarm_card(ctx, i, lang) for i in active_alarms(incidents)[:3]]
    if not latest and not rows:
        return [{"kind": "empty", "id": 0, "text": t("no_incidents", lang)}]
    rows += [card(ctx, i, lang) for i in latest]
    for row in rows:
        row["key"] = digest(row)  # board.js redraws a card only when its key changed
    return rows


def charts(
    ctx: DashContext, incidents, lang: str, drill: dict | None = None, scale: float = 1.0
) -> tuple[dict, dict, dict]:
    """Trend, open by type and open by street (by community inside a drilled street or community);
    the last one's bars carry their unit codes (a click on one drills to it)."""
    labels, counts = hourly_trend(incidents, datetime.now(UTC), ctx.tz)
    trend = bar_figure(labels, counts, horizontal=False, colour="#3aa0ff", scale=scale)
    by_type = [
        (plain(t("type." + k, lang)), v) for k, v in open_by(incidents, lambda i: i.type).most_common(8)
    ][::-1]
    level = 1 if (drill or {}).get("level") in ("street", "community") else 0
    parents = lookups(ctx.grid).parents
    unit = lambda i: parents[i.cell][level] if i.cell in parents else ""  # noqa: E731
    by_unit = open_by(incidents, unit).most_common(10)[::-1]
    names = [plain(unit_name(ctx, code, lang) if code else t("outside", lang)) for code, _ in by_unit]
    return (
        trend,
        bar_figure(
            [k for k, _ in by_type], [v for _, v in by_type], horizontal=True, colour="#ffb020", scale=scale
        ),
        bar_figure(
            names,
            [v for _, v in by_unit],
            horizontal=True,
            colour="#36cfc9",
            scale=scale,
            customdata=[code for code, _ in by_unit],
        ),  # fmt: skip
    )


def digest(value) -> str:
    return hashlib.blake2b(json.dumps(value, cls=PlotlyJSONEncoder).encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Panels:
    values: tuple  # in PANELS order (the charts)
    digests: tuple  # one digest per chart


def cards_data(ctx: DashContext, incidents, cameras, lang: str, drill: dict | None = None) -> dict:
    """The fast lane's panels for the drilled unit (the whole district by default), as data: the KPI
    tiles and the cards (alarms first). assets/board.js draws them, text only."""
    keep = in_unit(ctx, drill)
    mine = [i for i in incidents if keep(i)] if keep else incidents
    return {"kpis": kpi_tiles(ctx, mine, cameras, lang), "ticker": ticker(ctx, mine, lang)}


def camera_key(cameras) -> str:
    """What the camera panel shows of the cameras (state, error, whole frames per second): board.js
    asks Dash for the panel again only when this changes."""
    return digest(sorted((c.camera_id, c.state, c.error or "", round(c.fps)) for c in cameras))


class PanelCache:
    """Panels computed once per (live-state version, language, drill-down, scale), however many walls
    show them: the fast lane's cards as the JSON body served (:func:`cards_json`) and the slow lane's
    charts (:func:`get`). Small and bounded."""

    def __init__(self, limit: int = 32) -> None:
        self.limit = limit
        self._cache: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, key: tuple, compute):
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        got = compute()
        with self._lock:
            self._cache[key] = got
            while len(self._cache) > self.limit:
                self._cache.popitem(last=False)
        return got

    def get(self, ctx: DashContext, lang: str, drill: dict | None, scale: float) -> Panels:
        """The charts at the wall's ``scale``, each with its digest."""
        version, incidents, _ = ctx.live.snapshot()
        drill = drill or {"level": "district"}
        key = ("charts", version, lang, json.dumps(drill, sort_keys=True), scale, int(time.time() // 60))

        def compute() -> Panels:
            values = charts(ctx, filtered(ctx, incidents, drill), lang, drill, scale)
            return Panels(values, tuple(digest(v) for v in values))

        return self._get(key, compute)

    def cards_json(self, ctx: DashContext, lang: str, drill: dict | None) -> str:
        """The fast lane's JSON: ``{"version", "kpis", "ticker", "cams"}`` (cams: :func:`camera_key`)."""
        version, incidents, cameras = ctx.live.snapshot()
        drill = drill or {"level": "district"}
        key = ("cards", version, lang, json.dumps(drill, sort_keys=True), int(time.time() // 60))

        def compute() -> str:
            body = {"version": version, **cards_data(ctx, incidents, cameras, lang, drill)}
            body["cams"] = camera_key(cameras)
            return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

        return self._get(key, compute)


def filtered(ctx: DashContext, incidents, drill: dict | None) -> list:
    keep = in_unit(ctx, drill)
    return [i for i in incidents if keep(i)] if keep else list(incidents)


def legend(lang: str) -> html.Div:
    """The map's key: a colour per open state, overdue, cameras."""
    chips = [(colour, t("state." + state, lang)) for state, colour in STATE_COLOURS.items()]
    chips += [
        (OVERDUE_COLOUR, t("board.legend_overdue", lang)),
        (CAMERA_COLOURS["online"], t("board.legend_camera", lang)),
    ]
    return html.Div(
        [
            html.Span(
                [html.Span(className="swatch", style={"background": c}), label], className="legend-item"
            )
            for c, label in chips
        ],  # fmt: skip
        className="legend",
        id="board-legend",
    )


# -- page -------------------------------------------------------------------------------------------
def layout(ctx: DashContext, lang: str, query: dict) -> html.Div:
    version, incidents, cameras = ctx.live.snapshot()
    counts, overdue = cell_counts(incidents)
    cid = uuid.uuid4().hex
    view = ClientView(version, counts, components=component_layer.wanted(query))
    fig = map_figure(ctx, counts, incidents, cameras, lang, view, overdue)
    seq = ctx.board_views.put(cid, view)
    first = ctx.board_panels.cards_json(ctx, lang, None)  # board.js draws the cards from it at once
    graph = lambda gid: dcc.Graph(  # noqa: E731 (charts follow once the map is drawn)
        id=gid, figure=empty_chart(), config={"displayModeBar": False, "responsive": True}, className="chart"
    )
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
                            component_layer.toggle(lang, query),
                            eval_panel.toggle(lang),
                        ],
                        className="drill-bar",
                    ),
                    html.Div(
                        f"{district_name(ctx, lang)} · {len(ctx.grid)} {t('cells_label', lang)}",
                        className="district",
                        id="board-district",
                    ),
                ],
                className="header",
            ),
            html.Div(className="kpis panel-box", id="kpis"),  # drawn by board.js, never by Dash
            html.Div(
                [
                    html.Div(
                        [
                            html.Div([html.H2(t("map", lang)), legend(lang)], className="panel-head"),
                            dcc.Graph(
                                id="board-map",
                                figure=fig,
                                config={"displayModeBar": False, "scrollZoom": True, "responsive": True},
                                className="map",
                            ),
                            eval_panel.map_overlay(lang),
                        ],
                        className="panel map-panel",
                        id="map-panel",
                    ),
                    html.Div(
                        [
                            html.H2(t("latest", lang)),
                            html.Div(id="board-detail", className="detail hidden"),
                            html.Div(id="ticker", className="ticker"),  # drawn by board.js
                            eval_panel.side_overlay(lang),
                        ],
                        className="panel side-panel",
                        id="side-panel",
                    ),
                ],
                className="main",
            ),
            html.Div(
                [
                    html.Div(
                        [html.H2(t("trend_24h", lang)), graph("chart-trend")],
                        className="panel",
                        id="trend-panel",
                    ),
                    html.Div(
                        [html.H2(t("by_type", lang)), graph("chart-type")], className="panel", id="type-panel"
                    ),
                    html.Div(
                        [html.H2(t("by_street", lang), id="by-unit-title"), graph("chart-street")],
                        className="panel",
                        id="street-panel",
                    ),
                    html.Div(
                        [
                            html.H2(t("cameras", lang)),
                            html.Div(
                                board_summary(ctx, cameras, lang),
                                id="camera-wall",
                                className="camera-summary",
                            ),
                        ],
                        className="panel",
                        id="camera-panel",
                    ),
                ],
                className="bottom",
            ),
            dcc.Store(id="board-client", data=cid),
            dcc.Store(id="board-version", data=seq),  # the view the page holds (ClientViews)
            dcc.Store(id="board-lang", data=lang),
            dcc.Store(id="board-charts-sent", data={}),  # the charts' digests the page shows (chart_update)
            # set by assets/board.js (dash_clientside.set_props; a dcc.Store would put back its own copy):
            # the fast lane (board.js): the cards' first JSON, the page's language and drill-down
            html.Data(id="board-push", value=version, **{"data-cards": first, "data-lang": lang}),
            html.Data(id="board-drill", value=json.dumps({"level": "district"})),
            html.Data(id="board-cams-push", value=camera_key(cameras)),  # the camera panel's key
            html.Data(  # the same, once the pushes pause (the map's and the charts' slow lane)
                id="board-map-push",
                value=version,
                **{
                    "data-quiet-ms": str(MAP_QUIET_MS),
                    "data-max-wait-ms": str(MAP_MAX_WAIT_MS),
                    "data-share": str(MAP_SHARE),
                },
            ),
            html.Data(id="board-scale", value=None),  # the wall's size over 1920x1080, once the map drew
            html.Data(id="board-focus", value=None),  # the incident whose card was clicked
            dcc.Store(id="drill", data={"level": "district"}),
            # a slow safety net: the push stream carries every change as it happens
            dcc.Interval(id="tick", interval=max(ctx.cfg.dashboard.refresh_ms * 10, 10_000)),
            cycle_interval(ctx, query),
            *eval_panel.stores(query),
            *component_layer.stores(query),
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
    if drill.get("level") == "community" and drill.get("code") == c.community:
        return drill
    return {"level": "street", "code": c.street}


# -- callbacks (bound to their inputs and outputs in register) -------------------------------------
def map_patch(
    ctx: DashContext,
    view: ClientView,
    counts: dict[str, int],
    changed,
    cameras,
    lang: str,
    overdue: dict[str, int] | None = None,
    scale: float | None = None,
) -> Patch:
    """The map's changes since ``view`` (what that page holds): recoloured cells, new, changed and
    closed markers, camera states (and every marker's size when the page's scale changed). Traces
    are found by name in ``view.traces``. Updates ``view``'s markers, counts and scale in place."""
    index = lookups(ctx.grid).index
    cells, markers, cams = (view.traces[name] for name in (CELLS, INCIDENTS, CAMERAS))
    overdue = overdue if overdue is not None else view.overdue
    patch = Patch()
    for code in set(view.counts) | set(counts):
        if view.counts.get(code, 0) != counts.get(code, 0) and code in index:
            patch["data"][cells]["z"][index[code]] = counts.get(code, 0)
    for code in set(view.overdue) | set(overdue):
        if view.overdue.get(code, 0) != overdue.get(code, 0) and code in index:
            patch["data"][cells]["customdata"][index[code]] = overdue.get(code, 0)
    view.overdue = dict(overdue)
    rescale = scale is not None and scale != view.scale
    if rescale:
        view.scale = scale
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
            patch["data"][markers]["marker"]["color"].append(incident_colour(inc.state, bool(inc.breaches)))
            patch["data"][markers]["marker"]["size"].append(marker_size(inc, view.scale))
        else:
            patch["data"][markers]["marker"]["color"][k] = incident_colour(inc.state, bool(inc.breaches))
            patch["data"][markers]["text"][k] = marker_text(inc, lang)
            if not rescale:
                patch["data"][markers]["marker"]["size"][k] = marker_size(inc, view.scale)
            if not is_open:  # closed: the point is no longer drawn
                patch["data"][markers]["lon"][k] = None
                patch["data"][markers]["lat"][k] = None
    if rescale:
        _, incidents, _ = ctx.live.snapshot()
        by_id = {i.incident_id: i for i in incidents}
        sizes = [MARKER_PX] * len(view.markers)
        for iid, k in view.markers.items():
            inc = by_id.get(iid)
            sizes[k] = marker_size(inc, view.scale) if inc is not None else MARKER_PX
        patch["data"][markers]["marker"]["size"] = sizes
    cam = camera_trace(ctx, cameras, lang, view.scale)
    now = tuple(zip(cam["marker"]["color"], cam["text"], strict=True))
    if len(now) != len(view.cameras):  # (not from this board's config: the layer whole)
        patch["data"][cams]["marker"]["color"] = cam["marker"]["color"]
        patch["data"][cams]["text"] = cam["text"]
    else:  # only the cameras whose state changed: 7,803 colours per update would be most of it
        for k, (was, new) in enumerate(zip(view.cameras, now, strict=True)):
            if was != new:
                patch["data"][cams]["marker"]["color"][k] = new[0]
                patch["data"][cams]["text"][k] = new[1]
    view.cameras = now
    if rescale:
        patch["data"][cams]["marker"]["size"] = cam["marker"]["size"]
    version, devices = ctx.live.device_list()
    if DEVICES in view.traces and version != view.devices:  # a device changed state: the layer whole
        dev = device_trace(devices, lang)
        for key in ("lon", "lat"):
            patch["data"][view.traces[DEVICES]][key] = never_empty(dev[key])
        patch["data"][view.traces[DEVICES]]["text"] = dev["text"]
        patch["data"][view.traces[DEVICES]]["marker"]["color"] = dev["marker"]["color"]
        view.devices = version
    view.counts = counts
    return patch


def refresh(ctx: DashContext, _push, _tick, drill, scale, focused, cid, have: int, lang, comps=False):
    """The slow lane's map: on a map push (the live state changed and the pushes paused), a
    drill-down, a click on a card, the page's first draw or resize, or the slow tick: :func:`update`.

    Every change of the map goes through this one callback: Dash drops an answer's output when a
    request for the same output is still to come (here: the next push), so a separate callback that
    moved the map lost its patch whenever an update followed it. The view this page holds (the drill,
    the incident it flew to, the scale, the component layer shown) is part of what the server remembers
    for it."""
    return update(ctx, drill, scale, cid, have, lang, focused, bool(comps))


def camera_panel(ctx: DashContext, _push, _tick, lang):
    """The camera panel, when board.js saw its key change in the fast lane's JSON (or on the slow
    tick): a camera went offline or came back."""
    _, _, cameras = ctx.live.snapshot()
    return board_summary(ctx, cameras, lang)


def parse_drill(ctx: DashContext, raw: str | None) -> dict:
    """The drill-down a page sends (JSON): a street or community of this grid, else the district."""
    try:
        drill = json.loads(raw or "{}")
    except ValueError:
        drill = {}
    if not isinstance(drill, dict):
        drill = {}
    code = drill.get("code")
    if (
        drill.get("level") in ("street", "community")
        and isinstance(code, str)
        and code in lookups(ctx.grid).units
    ):
        return {"level": drill["level"], "code": drill["code"]}
    return {"level": "district"}


def live_cards(ctx: DashContext):
    """``/board/cards?lang=&drill=``: the fast lane's JSON (:meth:`PanelCache.cards_json`), computed
    once per live-state version, language and drill-down; board.js asks for it on every push and
    draws the cards that changed itself (no Dash round trip)."""
    lang = request.args.get("lang")
    lang = lang if lang in LANGS else ctx.cfg.dashboard.language
    body = ctx.board_panels.cards_json(ctx, lang, parse_drill(ctx, request.args.get("drill")))
    resp = Response(body, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def drill_value(drill) -> str:
    """The drill-down for board.js (``board-drill``): the cards follow it."""
    return json.dumps(drill or {"level": "district"}, sort_keys=True)


def chart_update(ctx: DashContext, _push, _tick, drill, scale, sent, lang):
    """The slow lane's charts, once the map has drawn (``board-scale`` is set then): each chart that
    differs from what the page shows (``sent``: a digest per chart), at the wall's size."""
    if scale is None:  # the map has not drawn yet: the charts follow it
        return (no_update,) * (len(CHARTS) + 1)
    got = ctx.board_panels.get(ctx, lang, drill, float(scale))
    sent = sent if isinstance(sent, dict) else {}
    out, now = [], {}
    for name in CHARTS:
        k = PANELS.index(name)
        out.append(no_update if sent.get(name) == got.digests[k] else got.values[k])
        now[name] = got.digests[k]
    if all(o is no_update for o in out):
        return (*out, no_update)
    return (*out, now)


def show_drill(ctx: DashContext, target: dict, scale: float, fig, traces: dict[str, int]) -> None:
    """The drilled unit's (or the district's) centre, zoom and highlighted outline on ``fig``, a
    figure dict or a ``Patch`` of one whose traces are at ``traces`` (by name)."""
    target = target if target.get("code") in lookups(ctx.grid).units else {"level": "district"}
    centre, zoom = drill_target_view(ctx, target, scale)
    fig["layout"]["map"]["center"] = {"lon": centre[0], "lat": centre[1]}
    fig["layout"]["map"]["zoom"] = zoom
    lons, lats = unit_outline(ctx, target)
    k = traces[HIGHLIGHT]
    fig["data"][k]["lon"] = never_empty(lons)
    fig["data"][k]["lat"] = never_empty(lats)
    fig["layout"]["uirevision"] = f"{target['level']}-{target.get('code', '')}-{scale}"


def fly_to(ctx: DashContext, iid: int, scale: float, fig) -> None:
    """The map centred on incident ``iid`` at street level (nothing when it left the live state)."""
    inc = next((i for i in ctx.live.snapshot()[1] if i.incident_id == iid), None)
    if inc is not None:
        fig["layout"]["map"]["center"] = {"lon": inc.lon, "lat": inc.lat}
        fig["layout"]["map"]["zoom"] = 16 + math.log2(scale)
        fig["layout"]["uirevision"] = f"incident-{iid}-{scale}"


def update(
    ctx: DashContext, drill, scale, cid, have: int, lang, focused: int | None = None, comps: bool = False
):
    """The map's changes since what page ``cid`` holds (view ``have``): cells and markers, and its
    view when the drill-down, the card it flew to or the wall's scale changed, and the component
    layer shown or hidden (``comps``: the header's toggle); ``no_update`` when
    nothing changed. Returns (figure or patch, the view number the page then holds)."""
    scale = float(scale or 1.0)
    drill = drill or {"level": "district"}
    drill_key = json.dumps(drill, sort_keys=True)
    version = ctx.live.version
    base = ctx.board_views.get(cid, have)
    if base is None:  # a page this server does not know (it restarted): send the whole map again
        version, incidents, cameras = ctx.live.snapshot()
        counts, overdue = cell_counts(incidents)
        view = ClientView(version, counts, scale=scale, drill=drill_key, focused=focused, components=comps)
        fig = map_figure(ctx, counts, incidents, cameras, lang, view, overdue)
        show_drill(ctx, drill, scale, fig, view.traces)
        return fig, ctx.board_views.put(cid, view)
    view = ClientView(base.version, base.counts, dict(base.markers), base.traces, base.overdue, base.scale,
                      drill=drill_key, focused=focused, devices=base.devices,
                      cameras=base.cameras, components=comps)  # fmt: skip
    map_out = no_update
    rescaled = scale != base.scale
    if version != base.version or rescaled:
        version, changed, cameras = ctx.live.changes_since(view.version)
        _, incidents, _ = ctx.live.snapshot()
        counts, overdue = cell_counts(incidents)
        map_out = map_patch(ctx, view, counts, changed, cameras, lang, overdue, scale)
        view.version = version
    flown = focused is not None and focused != base.focused
    if drill_key != base.drill or rescaled or flown:
        map_out = Patch() if map_out is no_update else map_out
        show_drill(ctx, drill, scale, map_out, view.traces)
        if flown:  # the card clicked last wins over the drill-down
            fly_to(ctx, focused, scale, map_out)
    if comps != base.components:
        map_out = Patch() if map_out is no_update else map_out
        component_layer.show(ctx, map_out, view.traces, comps, lang)
    if map_out is no_update:
        return no_update, no_update
    return map_out, ctx.board_views.put(cid, view)


def unit_outline(ctx: DashContext, target: dict) -> tuple[list, list]:
    """Lon and lat lists (rings separated by None) of the drilled street's or community's simplified
    outline; empty for the whole district."""
    if target.get("level") not in ("street", "community"):
        return [], []
    layer = grid_layers(ctx.cfg, ctx.grid)[target["level"]]
    lons: list = []
    lats: list = []
    for f in layer["features"]:
        if f["properties"].get("code") != target.get("code"):
            continue
        geom = f["geometry"]
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        for poly in polys:
            for ring in poly:
                lons += [p[0] for p in ring] + [None]
                lats += [p[1] for p in ring] + [None]
    return lons, lats


def drill(ctx: DashContext, click, bar_click, _reset, _cycle, state, lang):
    """The drill-down callback: :func:`drill_to` for whichever input fired."""
    return drill_to(ctx, callback_context.triggered_id, click, bar_click, state, lang)


def drill_target_view(ctx: DashContext, target: dict, scale: float) -> tuple[tuple[float, float], float]:
    """The map's centre and zoom that show the drilled unit (or the district) on this wall."""
    if target.get("level") in ("street", "community") and target.get("code") in lookups(ctx.grid).units:
        w, s, e, n = lookups(ctx.grid).units[target["code"]].geometry.bounds
    else:
        w, s, e, n = ctx.grid.bounds
    return ((w + e) / 2, (s + n) / 2), view_zoom((w, s, e, n), scale)


def drill_to(ctx: DashContext, trigger: str | None, click, bar_click, state, lang):
    """A click on a cell drills one level down, a click on a street's (or community's) bar drills to
    it, the reset button (or the end of a cycle) goes back to the district, the cycle timer walks the
    streets: the drilled unit (the store the map view and the panels follow), its label and the
    breakdown chart's title."""
    state = state or {}
    if trigger == "cycle":  # unattended walls: district, then each street in turn
        target = next_in_cycle(state, lookups(ctx.grid).streets)
    elif trigger == "board-map" and click and click.get("points"):
        target = drill_target(ctx, state, click["points"][0].get("location"))
    elif trigger == "chart-street" and bar_click and bar_click.get("points"):
        code = str(bar_click["points"][0].get("customdata") or "")
        units = lookups(ctx.grid).units
        target = {"level": units[code].level, "code": code} if code in units else state
    else:
        target = {"level": "district"}
    if (
        target.get("level") not in ("street", "community")
        or target.get("code") not in lookups(ctx.grid).units
    ):
        target, label = {"level": "district"}, ""
    else:
        level, code = target["level"], target["code"]
        label = f"{t('level.' + level, lang)}: {unit_name(ctx, code, lang)} ({code})"
    title = t("board.by_community" if target["level"] != "district" else "by_street", lang)
    return target, label, title


def focus(ctx: DashContext, iid, lang):
    """A click on a card opens the incident's detail above the cards (the map flies to it in
    :func:`update`)."""
    if iid is None:
        return [], "detail hidden"
    inc = next((i for i in ctx.live.snapshot()[1] if i.incident_id == iid), None)
    if inc is None:
        return [html.Div(t("board.gone", lang), className="empty")], "detail"
    street, community = place_names(ctx.grid, lang).get(inc.cell or "", (t("outside", lang), ""))
    stamps = ctx.live.stamps_of(iid)
    source = "citizen" if is_photo(inc.evidence) else "camera"
    overdue = is_overdue(inc)
    rows = [
        (t("board.source", lang), t("board.src." + source, lang)),
        (t("level.street", lang), street),
        (t("level.community", lang), community),
        (t("cell", lang), inc.cell or "-"),
        (t("assignee", lang), inspector_name(ctx, inc.assignee, lang)),
        (t("board.opened", lang), f"{inc.opened_at.astimezone(ctx.tz):%m-%d %H:%M:%S}"),
        *[(t("state." + st, lang), f"{at.astimezone(ctx.tz):%H:%M:%S}") for st, at in stamps.items()],
    ]
    body = [
        html.Div(
            [
                html.Span(f"#{inc.incident_id} ", className="inc-id"),
                t("type." + inc.type, lang),
                html.Span(
                    t("state." + inc.state, lang) + (f" · {t('overdue', lang)}" if overdue else ""),
                    className="chip" + (" overdue" if overdue else ""),
                ),  # fmt: skip
                html.Button("×", id="detail-close", className="detail-close", title=t("board.close", lang)),
            ],
            className="inc-title",
        ),
        html.Div(
            [
                thumbnail(ctx, inc, lang, "detail-photo"),
                html.Dl([x for k, v in rows for x in (html.Dt(k), html.Dd(v))], className="detail-rows"),
            ],
            className="detail-body",
        ),
    ]
    return body, "detail" + (" overdue" if overdue else "")


def events(ctx: DashContext, heartbeat_s: float = 15.0):
    """``/board/events``: the live state's version, sent when it changes (server-sent events)."""

    def stream():
        last = None
        while True:
            version = ctx.live.wait_change(-1 if last is None else last, heartbeat_s)
            if version != last:
                last = version
                yield f"data: {version}\n\n"
            else:
                yield ": still here\n\n"

    resp = Response(stream(), mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Accel-Buffering"] = "no"
    return resp


def register(app, ctx: DashContext) -> None:
    ctx.board_views = ClientViews()
    ctx.board_panels = PanelCache()
    guard = functools.partial(staff_only, ctx)
    app.server.add_url_rule("/board/events", "board_events", guard(functools.partial(events, ctx)))
    eval_panel.register(app, ctx)
    component_layer.register(app)
    app.callback(
        Output("board-map", "figure"),
        Output("board-version", "data"),
        Input("board-map-push", "value"),
        Input("tick", "n_intervals"),
        Input("drill", "data"),
        Input("board-scale", "value"),
        Input("board-focus", "value"),
        State("board-client", "data"),
        State("board-version", "data"),
        State("board-lang", "data"),
        Input("comp-on", "data"),  # the component layer's toggle (last: an argument with a default)
        prevent_initial_call=True,
    )(guard(functools.partial(refresh, ctx)))
    app.server.add_url_rule("/board/cards", "board_cards", guard(functools.partial(live_cards, ctx)))
    app.callback(
        Output("camera-wall", "children"),
        Input("board-cams-push", "value"),
        Input("tick", "n_intervals"),
        State("board-lang", "data"),
        prevent_initial_call=True,
    )(guard(functools.partial(camera_panel, ctx)))
    app.callback(Output("board-drill", "value"), Input("drill", "data"), prevent_initial_call=True)(
        drill_value
    )
    app.callback(
        *(Output(p, "figure") for p in CHARTS),
        Output("board-charts-sent", "data"),
        Input("board-map-push", "value"),
        Input("tick", "n_intervals"),
        Input("drill", "data"),
        Input("board-scale", "value"),
        State("board-charts-sent", "data"),
        State("board-lang", "data"),
        prevent_initial_call=True,
    )(guard(functools.partial(chart_update, ctx)))
    app.callback(
        Output("drill", "data"),
        Output("drill-label", "children"),
        Output("by-unit-title", "children"),
        Input("board-map", "clickData"),
        Input("chart-street", "clickData"),
        Input("drill-reset", "n_clicks"),
        Input("cycle", "n_intervals"),
        State("drill", "data"),
        State("board-lang", "data"),
        prevent_initial_call=True,
    )(guard(functools.partial(drill, ctx)))
    app.callback(
        Output("board-detail", "children"),
        Output("board-detail", "className"),
        Input("board-focus", "value"),
        State("board-lang", "data"),
        prevent_initial_call=True,
    )(guard(functools.partial(focus, ctx)))
