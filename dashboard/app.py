"""The wall board: the grid coloured by open incidents, live markers, KPI tiles, ticker, cameras.

The cell geometry goes to a browser once, in the first figure. Every later tick sends a ``Patch``
with only the cells whose count changed (the browser keeps what it was last sent in a
``dcc.Store``), the incident markers, and the small text panels.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
from dash import Dash, Input, Output, Patch, State, dcc, html, no_update
from flask import abort, jsonify, send_from_directory

from cityops.config import CityOpsConfig
from dashboard.i18n import LANGS, t
from dashboard.live import LiveState
from dispatch.lifecycle import OPEN_STATES
from gis.grid import Grid
from gis.layers import cells_layer

ASSETS = Path(__file__).resolve().parents[1] / "assets"
STATE_COLOURS = {
    "new": "#ff4d4f",
    "dispatched": "#faad14",
    "accepted": "#40a9ff",
    "on_site": "#36cfc9",
    "escalated": "#f759ab",
}
OFFLINE_STYLE = {
    "version": 8,
    "sources": {},
    "layers": [{"id": "bg", "type": "background", "paint": {"background-color": "#0b1526"}}],
}


def map_style(cfg: CityOpsConfig) -> dict:
    if not cfg.dashboard.tile_url:
        return OFFLINE_STYLE
    return {
        "version": 8,
        "sources": {"tiles": {"type": "raster", "tiles": [cfg.dashboard.tile_url], "tileSize": 256}},
        "layers": [{"id": "tiles", "type": "raster", "source": "tiles"}],
    }


def marker_data(incidents) -> dict:
    live = [i for i in incidents if i.state in OPEN_STATES]
    return {
        "lon": [i.lon for i in live],
        "lat": [i.lat for i in live],
        "text": [f"#{i.incident_id} {i.type} ({i.state})" for i in live],
        "color": [STATE_COLOURS.get(i.state, "#ffffff") for i in live],
    }


def board_figure(grid: Grid, layer: dict, counts: dict[str, int], incidents, cfg: CityOpsConfig) -> go.Figure:
    codes = list(grid.codes)
    minx, miny, maxx, maxy = grid.geoms[0].bounds
    for g in grid.geoms[1:]:
        b = g.bounds
        minx, miny, maxx, maxy = min(minx, b[0]), min(miny, b[1]), max(maxx, b[2]), max(maxy, b[3])
    m = marker_data(incidents)
    fig = go.Figure(
        [
            go.Choroplethmap(
                geojson=layer,
                locations=codes,
                z=[counts.get(c, 0) for c in codes],
                featureidkey="properties.code",
                zmin=0,
                zmax=4,
                colorscale=[
                    [0, "#12304f"],
                    [0.125, "#12304f"],
                    [0.125, "#f0a020"],
                    [0.5, "#ff7a1a"],
                    [1, "#ff3b30"],
                ],
                marker={"line": {"width": 0.4, "color": "#4a6a8a"}, "opacity": 0.85},
                showscale=False,
                hovertemplate="%{location}: %{z}<extra></extra>",
            ),
            go.Scattermap(
                lon=m["lon"],
                lat=m["lat"],
                text=m["text"],
                mode="markers",
                marker={"size": 18, "color": m["color"]},
                hoverinfo="text",
            ),
        ]
    )
    fig.update_layout(
        map={
            "style": map_style(cfg),
            "center": {"lon": (minx + maxx) / 2, "lat": (miny + maxy) / 2},
            "zoom": 11.3,
        },
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor="#0b1526",
        showlegend=False,
        uirevision="board",
    )
    return fig


def kpis(incidents, cameras, tz: ZoneInfo, lang: str) -> list:
    today = datetime.now(tz).date()
    open_n = sum(i.state in OPEN_STATES for i in incidents)
    new_today = sum(i.opened_at.astimezone(tz).date() == today for i in incidents)
    dispatched = sum(i.state == "dispatched" for i in incidents)
    online = sum(c.state == "online" for c in cameras)

    def tile(key: str, value, tid: str):
        return html.Div(
            [
                html.Div(str(value), className="kpi-value", id=tid),
                html.Div(t(key, lang), className="kpi-label"),
            ],
            className="kpi",
        )

    return [
        tile("open", open_n, "kpi-open"),
        tile("today_new", new_today, "kpi-today"),
        tile("dispatched", dispatched, "kpi-dispatched"),
        tile("cameras_online", f"{online}/{len(cameras)}", "kpi-cameras"),
    ]


def ticker(incidents, tz: ZoneInfo, lang: str) -> list:
    latest = sorted(incidents, key=lambda i: i.at, reverse=True)[:8]
    if not latest:
        return [html.Div(t("no_incidents", lang), className="empty")]
    rows = []
    for i in latest:
        thumb = (
            html.Img(src=f"/evidence/{i.evidence}", className="thumb")
            if i.evidence
            else html.Div(className="thumb")
        )
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
                                f"{t('state.' + i.state, lang)} · {t('cell', lang)} {i.cell or '-'} · "
                                f"{t('assignee', lang)} {i.assignee or t('unassigned', lang)} · {i.count}{t('count', lang)} · "
                                f"{i.at.astimezone(tz):%H:%M:%S}",
                                className="inc-meta",
                            ),
                        ]
                    ),
                ],
                className=f"incident state-{i.state}",
                id=f"incident-{i.incident_id}",
                **{"data-state": i.state},
            )
        )
    return rows


def camera_panel(cameras, lang: str) -> list:
    return [
        html.Div(
            [
                html.Span("●", className=f"dot cam-{c.state}"),
                f" {c.camera_id} · {t('cam.' + c.state, lang)} · {c.fps:.1f} {t('fps', lang)}",
            ],
            className="camera",
            id=f"camera-{c.camera_id}",
        )
        for c in sorted(cameras, key=lambda c: c.camera_id)
    ]


def create_app(cfg: CityOpsConfig, live: LiveState, grid: Grid) -> Dash:
    tz = ZoneInfo(cfg.timezone)
    layer = cells_layer(grid)
    app = Dash(__name__, assets_folder=str(ASSETS), title="CityOps", update_title=None)
    server = app.server
    evidence_root = cfg.data.resolve()

    @server.route("/evidence/<path:rel>")
    def evidence(rel: str):
        if not rel.startswith("evidence/") or not rel.lower().endswith(".jpg"):
            abort(404)
        return send_from_directory(evidence_root, rel)  # safe_join refuses ../ traversal

    @server.route("/api/live")
    def api_live():
        version, incidents, cameras = live.snapshot()
        return jsonify(
            {
                "version": version,
                "incidents": [i.model_dump(mode="json") for i in incidents],
                "cameras": [c.model_dump(mode="json") for c in cameras],
                "open_by_cell": live.open_by_cell(incidents),
            }
        )

    def page(lang: str):
        version, incidents, cameras = live.snapshot()
        counts = live.open_by_cell(incidents)
        other = "en" if lang == "zh-CN" else "zh-CN"
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
                            f"{cfg.district} · {len(grid)} {t('cells_label', lang)}", className="district"
                        ),
                        dcc.Link(
                            t("language", lang),
                            href=f"/?lang={other}",
                            id="lang-switch",
                            className="lang",
                            refresh=True,
                        ),
                    ],
                    className="header",
                ),
                html.Div(kpis(incidents, cameras, tz, lang), className="kpis", id="kpis"),
                html.Div(
                    [
                        html.Div(
                            [
                                html.H2(t("map", lang)),
                                dcc.Graph(
                                    id="board-map",
                                    figure=board_figure(grid, layer, counts, incidents, cfg),
                                    config={"displayModeBar": False},
                                    className="map",
                                ),
                            ],
                            className="panel map-panel",
                        ),
                        html.Div(
                            [
                                html.H2(t("latest", lang)),
                                html.Div(ticker(incidents, tz, lang), id="ticker"),
                                html.H2(t("cameras", lang)),
                                html.Div(camera_panel(cameras, lang), id="camera-panel"),
                            ],
                            className="panel side-panel",
                        ),
                    ],
                    className="main",
                ),
                dcc.Store(id="lang", data=lang),
                dcc.Store(id="sent", data={"version": version, "counts": counts}),
                dcc.Interval(id="tick", interval=cfg.dashboard.refresh_ms),
            ],
            className="board",
            lang=lang,
        )

    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="page")])

    @app.callback(Output("page", "children"), Input("url", "search"))
    def route(search: str | None):
        lang = cfg.dashboard.language
        for part in (search or "").lstrip("?").split("&"):
            if part.startswith("lang=") and part[5:] in LANGS:
                lang = part[5:]
        return page(lang)

    @app.callback(
        Output("board-map", "figure"),
        Output("kpis", "children"),
        Output("ticker", "children"),
        Output("camera-panel", "children"),
        Output("sent", "data"),
        Input("tick", "n_intervals"),
        State("sent", "data"),
        State("lang", "data"),
    )
    def refresh(_n, sent, lang):
        version, incidents, cameras = live.snapshot()
        if sent and sent.get("version") == version:
            return no_update, no_update, no_update, no_update, no_update
        counts = live.open_by_cell(incidents)
        old = (sent or {}).get("counts", {})
        patch = Patch()
        index = grid_index
        for code in set(old) | set(counts):
            if old.get(code, 0) != counts.get(code, 0) and code in index:
                patch["data"][0]["z"][index[code]] = counts.get(code, 0)
        m = marker_data(incidents)
        for key in ("lon", "lat", "text"):
            patch["data"][1][key] = m[key]
        patch["data"][1]["marker"]["color"] = m["color"]
        return (
            patch,
            kpis(incidents, cameras, tz, lang),
            ticker(incidents, tz, lang),
            camera_panel(cameras, lang),
            {"version": version, "counts": counts},
        )

    grid_index = {c: i for i, c in enumerate(grid.codes)}
    return app
