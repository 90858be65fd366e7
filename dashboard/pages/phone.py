"""What the two phone pages (inspector, citizen) share: API errors as readable text, uploads,
the browser-GPS clientside function and its failure message, and the small site map (built on
dashboard.maps)."""

from __future__ import annotations

import base64
import binascii
import re

import plotly.graph_objects as go
from dash import html

from dashboard.api_client import ApiResult
from dashboard.i18n import t
from dashboard.maps import point_map

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


def phone_map(
    cfg, center: tuple[float, float], traces: list, zoom: float, revision: str, overlays: list | None = None
) -> go.Figure:
    """A phone page's map: :func:`dashboard.maps.point_map` (``overlays``: map layers over the
    basemap, such as the grid), panned by a finger, kept as the user left it until ``revision`` changes."""
    fig = point_map(cfg, center, traces, zoom, overlays=overlays)
    fig.update_layout(uirevision=revision, dragmode="pan")
    return fig


def gps_failed(gps: dict, lang: str) -> html.Div:
    """The browser's GPS error (from :data:`GPS_JS`) as a status line."""
    return message(f"{t('ph.gps_failed', lang)}: {gps['error']}", False)


def parse_coord(value, low: float, high: float) -> float | None:
    try:
        v = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return v if low <= v <= high else None
