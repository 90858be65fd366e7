"""Grid generation, import (GeoJSON, GeoPackage, Shapefile, and a GeoPackage in EPSG:4547) with full
validation, and the map layers' build time and size, on the default 2,257-cell grid.

    .venv/bin/python bench/grid_io.py
"""

from __future__ import annotations

import gzip
import tempfile
import time
from pathlib import Path

from gis.export import export_layer
from gis.generate import generate_grid
from gis.importer import ImportOptions, build_grid
from gis.layers import layer_json, units_layer


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def main() -> None:
    grid, gen_s = timed(generate_grid)
    print(f"generation             {gen_s:6.2f} s  {len(grid)} cells, {grid.area_m2 / 1e6:.1f} km2")
    _, agg_s = timed(lambda: (grid.communities, grid.streets))
    print(
        f"dissolve to levels     {agg_s:6.2f} s  {len(grid.communities)} communities, {len(grid.streets)} streets"
    )
    gdf = grid.to_geodataframe()
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, crs in (("geojson", None), ("gpkg", None), ("shp", None), ("gpkg", "EPSG:4547")):
            path = Path(tmp) / f"cells-{fmt}-{crs or 'wgs84'}.{fmt}".replace(":", "")
            _, write_s = timed(export_layer, gdf.to_crs(crs) if crs else gdf, path, fmt)
            (g, report), read_s = timed(build_grid, path, ImportOptions())
            assert g is not None, report.text()
            size = sum(p.stat().st_size for p in Path(tmp).glob(f"{path.stem}.*")) / 1024
            print(
                f"import {fmt:8} {crs or 'WGS84':10} {read_s:6.2f} s  (write {write_s:.2f} s, {size:,.0f} KB)"
            )
    for level in ("cell", "community", "street"):
        layer, s = timed(units_layer, grid, level)
        raw = layer_json(layer).encode()
        print(
            f"layer {level:10}       {s:6.2f} s  {len(raw) / 1024:7.1f} KB  "
            f"({len(gzip.compress(raw)) / 1024:.1f} KB gzipped)"
        )


if __name__ == "__main__":
    main()
