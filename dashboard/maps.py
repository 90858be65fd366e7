"""Map pieces every page shares: the grid's GeoJSON layers (built or read from the disk cache on
first use, once per process), the map style with its background layers, and small point maps.

No page depends on another having registered or drawn first: each asks here."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import plotly.graph_objects as go

from cityops.config import CityOpsConfig
from dashboard.theme import MAP_BACKGROUND, MAP_STYLE
from dashboard.tiles import TILE_PATH
from gis.grid import Grid
from gis.hierarchy import Level
from gis.layers import DEFAULT_NDIGITS, DEFAULT_TOLERANCE_M, cached_layer, layer_path

LEVELS: tuple[Level, ...] = ("cell", "community", "street")
WORLD = {
    "type": "Feature",
    "properties": {},
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[-180, -85], [180, -85], [180, 85], [-180, 85], [-180, -85]]],
    },
}

_layers: dict[Path, dict] = {}  # by cache file: the path names the grid's digest, level and detail
_lock = threading.Lock()


def layers_dir(cfg: CityOpsConfig) -> Path:
    return cfg.data / "grid" / "layers"


def grid_layer(cfg: CityOpsConfig, grid: Grid, level: Level) -> dict:
    """The simplified GeoJSON of ``grid``'s cells, communities or streets, built once per process
    (read from the disk cache when an earlier run built it); concurrent first calls build it once."""
    path = layer_path(layers_dir(cfg), grid, level, DEFAULT_TOLERANCE_M, DEFAULT_NDIGITS)
    layer = _layers.get(path)
    if layer is None:
        with _lock:
            layer = _layers.get(path)
            if layer is None:
                layer = _layers[path] = cached_layer(grid, level, layers_dir(cfg))
    return layer


def grid_layers(cfg: CityOpsConfig, grid: Grid) -> dict[str, dict]:
    """Every level's layer, by level."""
    return {level: grid_layer(cfg, grid, level) for level in LEVELS}


def map_style(cfg: CityOpsConfig) -> str:
    """The style for every map of the pages; pair it with :func:`background_layers`."""
    return MAP_STYLE


def has_basemap(cfg: CityOpsConfig) -> bool:
    """Whether the board serves basemap tiles (a local MBTiles file or an intranet tile server)."""
    return cfg.dashboard.tiles is not None or bool(cfg.dashboard.tile_url)


def background_layers(cfg: CityOpsConfig) -> list[dict]:
    """Every map's background: the offline dark fill, and over it the basemap the board serves at
    ``/tiles/{z}/{x}/{y}`` (dashboard.tiles) when ``dashboard.tiles`` or ``dashboard.tile_url`` is
    set; the grid and the markers are drawn over both."""
    layers = [
        {"sourcetype": "geojson", "source": WORLD, "type": "fill", "color": MAP_BACKGROUND, "below": "traces"}
    ]
    if has_basemap(cfg):
        layers.append(
            {
                "sourcetype": "raster",
                "source": [TILE_PATH],
                "sourceattribution": cfg.dashboard.tiles_attribution or "",
                "below": "traces",
            }
        )
    return layers


def line_layer(source: dict, colour: str, width: float | None = None, below: str | None = None) -> dict:
    """A GeoJSON outline layer drawn by the map itself (not a trace)."""
    layer = {"sourcetype": "geojson", "source": source, "type": "line", "color": colour}
    if width is not None:
        layer["line"] = {"width": width}
    if below is not None:
        layer["below"] = below
    return layer


def fit_zoom(bounds: tuple[float, float, float, float], width_px: int = 1180, height_px: int = 460) -> float:
    """The web-mercator zoom at which ``bounds`` fills a map of this size."""
    w, s, e, n = bounds
    merc = lambda lat: math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))  # noqa: E731
    zoom_w = math.log2(width_px * 360 / (max(e - w, 1e-6) * 512))
    zoom_h = math.log2(height_px * 2 * math.pi / (max(merc(n) - merc(s), 1e-9) * 512))
    return round(min(zoom_w, zoom_h), 2)


def fit_view(points: list[tuple[float, float]], max_zoom: float = 16.0) -> tuple[tuple[float, float], float]:
    """Centre and zoom that keep every point inside a ~300 px map (MapLibre: 512 px world at zoom 0)."""
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    span = max(max(lons) - min(lons), (max(lats) - min(lats)) * 1.5, 1e-6)
    zoom = min(max_zoom, max(10.0, math.log2(300 * 360 / (512 * span)) - 0.2))
    return ((min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2), zoom


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


def point_map(
    cfg: CityOpsConfig,
    center: tuple[float, float],
    traces: list,
    zoom: float,
    *,
    overlays: list | None = None,
) -> go.Figure:
    """A small map of a few traces over the pages' background (and ``overlays``, map layers above
    it), centred on ``center``. Callers add what their page needs (``uirevision``, ``height``...)."""
    fig = go.Figure(traces)
    fig.update_layout(
        map={
            "style": map_style(cfg),
            "layers": [*background_layers(cfg), *(overlays or [])],
            "center": {"lon": center[0], "lat": center[1]},
            "zoom": zoom,
        },
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor=MAP_BACKGROUND,
        showlegend=False,
    )
    return fig


def geo_uri(lon: float, lat: float, label: str = "") -> str:
    """A ``geo:`` link (RFC 5870) that opens the phone's map app at the point, for navigation."""
    from urllib.parse import quote

    q = f"?q={lat:.6f},{lon:.6f}" + (f"({quote(label)})" if label else "")
    return f"geo:{lat:.6f},{lon:.6f}{q}"


def place_label(grid: Grid, cell: str | None, lang: str) -> str:
    """``street · community · cell NNN`` for people (names, not the 15-digit code); '-' outside."""
    c = grid.by_code.get(cell or "")
    if c is None:
        return "-"
    zh = lang == "zh-CN"
    street = (c.street_zh if zh else c.street_en) or c.street
    community = (c.community_zh if zh else c.community_en) or c.community
    return f"{street} · {community} · {'网格' if zh else 'cell'} {c.code[-3:]}"


def place_of(item: dict, lang: str) -> str:
    """``street · community · cell NNN`` from an API incident's ``street`` / ``community`` names and
    its cell code (the cell by its number in the community, never the 15-digit code); '-' outside
    the grid."""
    zh = lang == "zh-CN"
    parts = [
        (area.get("name_zh") if zh else area.get("name_en")) or area.get("code")
        for area in (item.get("street"), item.get("community"))
        if area
    ]
    if item.get("cell"):
        parts.append(f"{'网格' if zh else 'cell'} {item['cell'][-3:]}")
    return " · ".join(parts) or "-"


def cells_near(layer: dict, points: list[tuple[float, float]], margin_deg: float = 0.01) -> dict:
    """The part of a grid layer around ``points`` (their box widened by ``margin_deg``, ~1 km): a
    small map of a site needs the cells in view, not the whole district's (600 KB for the demo)."""
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    w, e = min(lons) - margin_deg, max(lons) + margin_deg
    s, n = min(lats) - margin_deg, max(lats) + margin_deg

    def near(feature: dict) -> bool:
        geom = feature["geometry"]
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        xs = [x for poly in polys for x, _ in poly[0]]
        ys = [y for poly in polys for _, y in poly[0]]
        return min(xs) <= e and max(xs) >= w and min(ys) <= n and max(ys) >= s

    return {"type": "FeatureCollection", "features": [f for f in layer["features"] if near(f)]}
