"""Map layers for the board: simplified, precision-trimmed GeoJSON of cells, communities and streets
(sent to a browser once), cached on disk under the grid's digest.

Each layer is simplified as a coverage (``shapely.coverage_simplify``, in metres), so neighbours
keep one shared edge, then every coordinate is rounded to ``ndigits`` decimals; rounding maps a
shared vertex to the same value on both sides, so shared edges stay shared.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping

from gis.grid import Grid, write_atomic
from gis.hierarchy import Level
from gis.projection import LocalMetric

DEFAULT_TOLERANCE_M = 2.0  # invisible at the board's zoom; removes digitising noise of real grids
DEFAULT_NDIGITS = 5  # ~1 m; 4 (~10 m) can fold the smallest cells


def _trim(coords, ndigits: int):
    if isinstance(coords[0], int | float):
        return [round(c, ndigits) for c in coords]
    return [_trim(c, ndigits) for c in coords]


def simplify_coverage(geoms: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Topology-preserving simplification of lon/lat polygons that tile an area."""
    if tolerance_m <= 0:
        return geoms
    w, s, e, n = shapely.total_bounds(geoms)
    proj = LocalMetric((w + e) / 2, (s + n) / 2)
    metric = np.array([proj.geom_to_metric(g) for g in geoms], dtype=object)
    if not hasattr(shapely, "coverage_simplify") or not shapely.coverage_is_valid(metric):
        # shapely < 2.1, or not a clean tiling: simplify each on its own
        return shapely.simplify(geoms, tolerance_m / proj.ky, preserve_topology=True)
    simple = shapely.coverage_simplify(metric, tolerance_m)
    return np.array([proj.geom_to_lonlat(g) for g in simple], dtype=object)


def snap_coverage(geoms: np.ndarray, ndigits: int) -> np.ndarray:
    """Polygons that tile an area, snap-rounded together to a ``10**-ndigits`` grid: the linework
    of all of them is noded once on that grid and polygonized, and each face goes back to the
    polygon holding it, so neighbours keep identical shared edges and every polygon stays valid
    (a sub-grid edge collapses on both sides alike)."""
    size = 10.0**-ndigits
    edges = shapely.union_all(shapely.boundary(geoms), grid_size=size)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(edges)))
    if len(faces) == 0:
        return shapely.set_precision(geoms, size)
    pts = shapely.point_on_surface(faces)
    face_idx, owner = shapely.STRtree(geoms).query(pts, predicate="within")
    out = np.array(geoms, dtype=object)
    by_owner: dict[int, list] = {}
    for f, o in zip(face_idx, owner, strict=True):
        by_owner.setdefault(int(o), []).append(faces[f])
    for i, parts in by_owner.items():
        out[i] = parts[0] if len(parts) == 1 else shapely.union_all(parts, grid_size=size)
    missing = [i for i in range(len(out)) if i not in by_owner]  # smaller than the grid itself
    if missing:
        out[missing] = shapely.set_precision(np.asarray(geoms)[missing], size)
    return out


def features_layer(geoms: np.ndarray, properties: list[dict], *, tolerance_m: float, ndigits: int) -> dict:
    simple = snap_coverage(simplify_coverage(geoms, tolerance_m), ndigits)
    feats = []
    for props, g in zip(properties, simple, strict=True):
        m = mapping(g)
        geometry = {"type": m["type"], "coordinates": _trim(m["coordinates"], ndigits)}
        feats.append({"type": "Feature", "properties": props, "geometry": geometry})
    return {"type": "FeatureCollection", "features": feats}


def cells_layer(
    grid: Grid, *, tolerance_m: float = DEFAULT_TOLERANCE_M, ndigits: int = DEFAULT_NDIGITS
) -> dict:
    """Cells as GeoJSON with only ``properties.code`` (the board's ``featureidkey``)."""
    props = [{"code": str(c)} for c in grid.codes]
    return features_layer(grid.geoms, props, tolerance_m=tolerance_m, ndigits=ndigits)


def units_layer(
    grid: Grid,
    level: Level,
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    ndigits: int = DEFAULT_NDIGITS,
) -> dict:
    """Communities or streets: ``code``, ``name_zh``, ``name_en``, ``parent`` and ``cells``."""
    if level == "cell":
        return cells_layer(grid, tolerance_m=tolerance_m, ndigits=ndigits)
    units = grid.communities if level == "community" else grid.streets
    props = [
        {"code": u.code, "name_zh": u.name_zh, "name_en": u.name_en, "parent": u.parent, "cells": u.cells}
        for u in units
    ]
    geoms = np.array([u.geometry for u in units], dtype=object)
    return features_layer(geoms, props, tolerance_m=tolerance_m, ndigits=ndigits)


def layer_path(cache_dir: Path, grid: Grid, level: Level, tolerance_m: float, ndigits: int) -> Path:
    return Path(cache_dir) / f"{level}-{grid.digest}-t{tolerance_m:g}-d{ndigits}.geojson"


def cached_layer(
    grid: Grid,
    level: Level,
    cache_dir: Path,
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    ndigits: int = DEFAULT_NDIGITS,
) -> dict:
    """:func:`units_layer`, read from ``cache_dir`` when this grid's layer was built before."""
    path = layer_path(cache_dir, grid, level, tolerance_m, ndigits)
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass  # a damaged cache file is rebuilt
    layer = units_layer(grid, level, tolerance_m=tolerance_m, ndigits=ndigits)
    write_atomic(path, layer_json(layer).encode())
    return layer


def layer_json(layer: dict) -> str:
    return json.dumps(layer, ensure_ascii=False, separators=(",", ":"))


def layer_size_kb(layer: dict) -> float:
    return len(layer_json(layer).encode()) / 1024
