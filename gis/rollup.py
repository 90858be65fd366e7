"""Roll-ups: incident counts per cell, community or street, as GeoDataFrames ready for a choropleth.

Incidents are a pandas DataFrame or a list of dicts with ``cell`` (a cell code) or ``lon``/``lat``,
and optionally ``type``, ``state`` and ``overdue`` (bool). Pure functions: no store, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.grid import OUTSIDE, Grid
from gis.hierarchy import Level

BREAKDOWNS = ("type", "state")


class IncidentsError(ValueError):
    """Incidents that cannot be rolled up (no location columns)."""


def locate_incidents(grid: Grid, incidents: pd.DataFrame | Iterable[Mapping]) -> pd.DataFrame:
    """``cell``, ``type``, ``state``, ``overdue`` per incident; a missing cell is located from
    lon/lat; an incident outside the grid (or naming an unknown cell) gets ``cell == ""``."""
    df = incidents.copy() if isinstance(incidents, pd.DataFrame) else pd.DataFrame(list(incidents))
    n = len(df)
    cell = (
        df["cell"].fillna("").astype(str).to_numpy(dtype=object) if "cell" in df else np.full(n, "", object)
    )
    need = cell == ""
    if need.any():
        if not {"lon", "lat"} <= set(df.columns):
            raise IncidentsError("incidents need a 'cell' column or 'lon' and 'lat' columns")
        lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy()[need]
        lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy()[need]
        cell[need] = grid.locate_many(lon, lat)
    known = pd.Series(cell).isin(grid.by_code).to_numpy()
    cell[~known] = OUTSIDE
    out = pd.DataFrame({"cell": cell})
    for col in BREAKDOWNS:
        out[col] = df[col].fillna("").astype(str).to_numpy() if col in df else ""
    out["overdue"] = df["overdue"].fillna(False).astype(bool).to_numpy() if "overdue" in df else False
    return out


def unit_frame(grid: Grid, level: Level) -> gpd.GeoDataFrame:
    """One row per cell (with its community and street), community or street (with its parent,
    cell count and area); geometry in WGS84."""
    if level == "cell":
        return grid.to_geodataframe()
    units = grid.communities if level == "community" else grid.streets
    rows = {
        "code": [u.code for u in units],
        "name_zh": [u.name_zh for u in units],
        "name_en": [u.name_en for u in units],
        "street" if level == "community" else "district": [u.parent for u in units],
        "cells": [u.cells for u in units],
        "area_m2": [round(u.area_m2, 1) for u in units],
    }
    return gpd.GeoDataFrame(rows, geometry=[u.geometry for u in units], crs="EPSG:4326")


def rollup(
    grid: Grid,
    incidents: pd.DataFrame | Iterable[Mapping],
    level: Level = "cell",
    by: Iterable[str] = BREAKDOWNS,
) -> gpd.GeoDataFrame:
    """Counts per unit of ``level``: ``total``, ``overdue``, ``per_km2`` and one column per value
    of each breakdown (``type_illegal_parking``, ``state_new``, ...); every unit has a row (zeros
    included). Incidents outside the grid are left out; their number is in ``attrs['outside']``."""
    located = locate_incidents(grid, incidents)
    frame = unit_frame(grid, level)
    inside = located[located["cell"] != OUTSIDE]
    key = _unit_of(grid, inside["cell"].to_numpy(), level)
    codes = pd.Index(frame["code"])
    frame["total"] = _count(key, codes)
    frame["overdue"] = _count(key[inside["overdue"].to_numpy()], codes)
    frame["per_km2"] = (frame["total"] / (frame["area_m2"] / 1e6)).round(3)
    for col in by:
        if col not in BREAKDOWNS:
            raise ValueError(f"unknown breakdown {col!r}; use {', '.join(BREAKDOWNS)}")
        values = inside[col].to_numpy()
        for value in sorted(set(values) - {""}):
            frame[f"{col}_{value}"] = _count(key[values == value], codes)
    frame.attrs["outside"] = int(len(located) - len(inside))
    return frame


def _unit_of(grid: Grid, cells: np.ndarray, level: Level) -> np.ndarray:
    if level == "cell":
        return cells
    attr = "community" if level == "community" else "street"
    lookup = {c.code: getattr(c, attr) for c in grid.cells}
    return pd.Series(cells, dtype=object).map(lookup).to_numpy(dtype=object)


def _count(keys: np.ndarray, codes: pd.Index) -> np.ndarray:
    if len(keys) == 0:
        return np.zeros(len(codes), dtype=np.int64)
    return pd.Series(keys).value_counts().reindex(codes, fill_value=0).to_numpy(dtype=np.int64)
