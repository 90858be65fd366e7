"""Map layers for the board: simplified, precision-trimmed GeoJSON of cells (sent to a browser once)."""

from __future__ import annotations

import json

import shapely
from shapely.geometry import mapping

from gis.grid import Grid


def _trim(coords, ndigits: int):
    if isinstance(coords[0], int | float):
        return [round(c, ndigits) for c in coords]
    return [_trim(c, ndigits) for c in coords]


def cells_layer(grid: Grid, *, tolerance_deg: float = 2e-5, ndigits: int = 5) -> dict:
    """Cells as GeoJSON with only ``code`` as a property; shared edges stay shared
    (``preserve_topology``) and coordinates keep ``ndigits`` decimals (~1 m at 5)."""
    geoms = shapely.simplify(grid.geoms, tolerance_deg, preserve_topology=True)
    feats = []
    for code, g in zip(grid.codes, geoms, strict=True):
        m = mapping(g)
        feats.append(
            {
                "type": "Feature",
                "id": code,
                "properties": {"code": code},
                "geometry": {"type": m["type"], "coordinates": _trim(m["coordinates"], ndigits)},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def layer_size_kb(layer: dict) -> float:
    return len(json.dumps(layer, separators=(",", ":"))) / 1024
