"""What the two phone pages (inspector, citizen) share: API errors as readable text, uploads,
photo URLs, the browser-GPS clientside function and the small site map."""

from __future__ import annotations

import base64
import binascii
import math
import re

import plotly.graph_objects as go
from dash import html

from dashboard.api_client import ApiResult
from dashboard.i18n import t
from dashboard.pages.board import background_layers, map_style

#: A clientside callback body: ``navigator.geolocation`` once, as a Promise Dash waits for.
GPS_JS = """
function(n) {
    if (!n) { return window.dash_clientside.no_update; }
    return new Promise(function(resolve) {
        var at = Date.now();
        if (!navigator.geolocation) { resolve({error: "geolocation is not available", at: at}); return; }
        navigator.geolocation.getCurrentPosition(
            function(p) {
                resolve({lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy, at: at});
            },
            function(e) { resolve({error: e.message || ("error " + e.code), at: at}); },
            {enableHighAccuracy: true, timeout: 15000, maximumAge: 10000}
        );
    });
}
"""
GRAPH_CONFIG = {"displayModeBar": False, "scrollZoom": True}
_DATA_URL = re.compile(r"^data:([\w.+/-]*)(;[\w=.+-]+)*;base64,", re.ASCII)


def error_text(res: ApiResult, lang: str) -> str:
    """The API's failure as one line: a translated headline by status, then the API's own reason."""
    key = f"ph.err.{res.status}"
    head = t(key, lang) if t(key, lang) != key else t("ph.err.other", lang)
    return f"{head}: {res.error}" if res.error else head


def message(text: str, ok: bool) -> html.Div:
    """A status line; user or API text goes in as a string, so Dash renders it as text."""
    return html.Div(text, className="ph-msg ph-ok" if ok else "ph-msg ph-error", role="status")


def decode_upload(contents: str | None, filename: str | None) -> tuple[str, bytes, str] | None:
    """``dcc.Upload`` contents (a base64 data URL) -> (name, bytes, mime), or None if unreadable."""
    if not contents:
        return None
    m = _DATA_URL.match(contents)
    if not m:
        return None
    try:
        data = base64.b64decode(contents[m.end() :], validate=True)
    except (binascii.Error, ValueError):
        return None
    name = (filename or "photo").replace("\\", "/").rsplit("/", 1)[-1][:120] or "photo"
    return name, data, m.group(1) or "application/octet-stream"


def outline(geom) -> tuple[list, list]:
    """Lon and lat lists of a (multi)polygon's rings, separated by None for one line trace."""
    lons: list = []
    lats: list = []
    for poly in getattr(geom, "geoms", [geom]):
        for ring in [poly.exterior, *poly.interiors]:
            xs, ys = ring.xy
            lons += [*xs, None]
            lats += [*ys, None]
    return lons, lats


def fit_view(points: list[tuple[float, float]], max_zoom: float = 16.0) -> tuple[tuple[float, float], float]:
    """Centre and zoom that keep every point inside a ~300 px map (MapLibre: 512 px world at zoom 0)."""
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    span = max(max(lons) - min(lons), (max(lats) - min(lats)) * 1.5, 1e-6)
    zoom = min(max_zoom, max(10.0, math.log2(300 * 360 / (512 * span)) - 0.2))
    return ((min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2), zoom


def point_map(cfg, center: tuple[float, float], traces: list, zoom: float, revision: str) -> go.Figure:
    fig = go.Figure(traces)
    fig.update_layout(
        map={
            "style": map_style(cfg),
            "layers": background_layers(cfg),  # the board's offline background (or intranet tiles)
            "center": {"lon": center[0], "lat": center[1]},
            "zoom": zoom,
        },
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor="#0b1526",
        showlegend=False,
        uirevision=revision,
        dragmode="pan",
    )
    return fig


def parse_coord(value, low: float, high: float) -> float | None:
    try:
        v = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return v if low <= v <= high else None
