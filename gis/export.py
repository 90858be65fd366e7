"""Writing layers (the cells with their figures, roll-ups) to GeoJSON, GeoPackage, Shapefile or CSV.

Every file is written beside its target and renamed over it, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import geopandas as gpd

FORMATS = {"geojson": ".geojson", "gpkg": ".gpkg", "shp": ".shp", "csv": ".csv"}
#: Shapefile field names are cut at 10 characters: these keep them readable and importable
SHAPEFILE_NAMES = {"community": "comm", "community_zh": "comm_zh", "community_en": "comm_en"}


def export_layer(gdf: gpd.GeoDataFrame, path: Path, fmt: str | None = None, layer: str = "cells") -> Path:
    """Write ``gdf`` as ``fmt`` (from the suffix when ``None``); CSV gets the lon/lat of each
    feature's representative point instead of its geometry."""
    path = Path(path)
    fmt = fmt or next((f for f, ext in FORMATS.items() if path.suffix.lower() == ext), None)
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}.") as tmp:
        out = Path(tmp) / f"{path.stem}{FORMATS[fmt]}"
        if fmt == "csv":
            pts = gdf.geometry.representative_point()
            table = gdf.drop(columns=gdf.geometry.name).assign(lon=pts.x.round(6), lat=pts.y.round(6))
            table.to_csv(out, index=False, encoding="utf-8")
        elif fmt == "shp":
            gdf.rename(columns=SHAPEFILE_NAMES).to_file(out, engine="pyogrio", encoding="UTF-8")
        else:
            driver = "GeoJSON" if fmt == "geojson" else "GPKG"
            gdf.to_file(out, driver=driver, layer=layer, engine="pyogrio")
        for part in sorted(Path(tmp).iterdir()):  # a Shapefile is several files
            os.replace(part, path.with_suffix(part.suffix))
    return path
