"""Grid import: read, map attributes, validate, build the :class:`Grid`, and make it active.

An import either succeeds as a whole (the new grid replaces the active one in one atomic rename)
or changes nothing; :func:`build_grid` alone is what ``cityops gis validate`` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import shapely

from gis import validate as v
from gis.columns import Columns, MappingError, map_cells, map_units
from gis.grid import CELL_FIELDS, Cell, Grid
from gis.report import Report
from gis.sources import SourceError, read_vector, to_wgs84
from gis.store import activate

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImportOptions:
    columns: Columns = Columns()
    communities: Path | None = None  # optional parent boundary layers
    streets: Path | None = None
    layer: str | None = None  # the layer in a multi-layer GeoPackage
    crs: str | None = None  # assumed when a file names no CRS
    tolerances: v.Tolerances = field(default_factory=v.Tolerances)
    require_prefix: bool = True  # codes must start with their parent's code
    district: str = "district"


def build_grid(
    path: Path, opts: ImportOptions = ImportOptions(), progress: Progress = lambda _: None
) -> tuple[Grid | None, Report]:
    """Read and validate ``path`` (and the parent layers); the grid is ``None`` when the report
    has errors."""
    report = Report(source=str(path))
    try:
        progress(f"reading {path}")
        raw = read_vector(path, layer=opts.layer, crs=opts.crs)
        if raw.empty:
            report.error("empty-layer", f"{path}: no features")
            return None, report
        cells = map_cells(raw, opts.columns)
        parents = {
            kind: _read_parent(p, kind, opts)
            for kind, p in (("community", opts.communities), ("street", opts.streets))
            if p is not None
        }
    except (SourceError, MappingError) as exc:
        report.error("file", str(exc))
        return None, report
    report.summary.append(f"{len(cells)} feature(s), CRS {raw.crs.to_string()}")

    progress("checking geometry, codes and hierarchy")
    cells, issues = v.check_geometries(cells, "cells")
    report.extend(issues)
    report.extend(v.check_codes(cells, "cells"))
    report.extend(v.check_hierarchy(cells, opts.require_prefix))
    for kind, layer in list(parents.items()):
        layer, issues = v.check_geometries(layer, f"{kind} layer")
        report.extend(issues)
        report.extend(v.check_codes(layer, f"{kind} layer"))
        parents[kind] = layer
    if cells.empty:
        return None, report

    progress("checking overlaps, gaps and containment (metric CRS)")
    cells_ll = to_wgs84(cells)
    metric = cells_ll.estimate_utm_crs()
    cells_m = cells_ll.to_crs(metric)
    report.summary.append(f"metric CRS for areas: {metric.name}")
    tol = opts.tolerances
    report.extend(v.check_overlaps(cells_m, "cells", tol.overlap_m2))
    report.extend(v.check_gaps(cells_m, "cells", tol))
    comm_m = parents["community"].to_crs(metric) if "community" in parents else None
    street_m = parents["street"].to_crs(metric) if "street" in parents else None
    if comm_m is not None:
        report.extend(v.check_overlaps(comm_m, "communities", tol.overlap_m2))
        report.extend(v.check_parents(cells_m, comm_m, "community", ("cell", "community"), tol))
        report.extend(v.check_parent_links(cells, comm_m))
    if street_m is not None:
        report.extend(v.check_overlaps(street_m, "streets", tol.overlap_m2))
        streets_of = comm_m if comm_m is not None else _dissolve(cells_m, "community", "street")
        report.extend(v.check_parents(streets_of, street_m, "parent", ("community", "street"), tol))

    areas = shapely.area(cells_m.geometry.values)
    report.summary.append(
        f"{len(cells)} cells, {cells['community'].nunique()} communities, {cells['street'].nunique()} streets, "
        f"{areas.sum() / 1e6:,.2f} km2"
    )
    if not report.ok:
        return None, report
    _fill_names(cells_ll, comm_m, street_m)
    return _grid(cells_ll, areas, opts.district), report


def import_grid(
    path: Path, data_dir: Path, opts: ImportOptions = ImportOptions(), progress: Progress = lambda _: None
) -> tuple[Grid | None, Report]:
    """:func:`build_grid`, then, only when it has no errors, make it the active grid."""
    grid, report = build_grid(path, opts, progress)
    if grid is not None:
        progress("writing the active grid")
        where = activate(grid, data_dir)
        report.summary.append(f"active grid: {where} ({grid.digest})")
    return grid, report


def _read_parent(path: Path, kind: str, opts: ImportOptions) -> gpd.GeoDataFrame:
    raw = read_vector(path, crs=opts.crs)
    return map_units(raw, Columns(), f"{kind} layer {path}", parent=kind == "community")


def _dissolve(cells_m: gpd.GeoDataFrame, by: str, parent: str) -> gpd.GeoDataFrame:
    out = cells_m.dissolve(by=by, aggfunc={parent: "first"}).reset_index()
    return out.rename(columns={by: "code", parent: "parent"})


def _fill_names(cells_ll: gpd.GeoDataFrame, comm_m, street_m) -> None:
    """Names from the parent layers where the cells carry none; the code where nobody has one."""
    for level, layer in (("community", comm_m), ("street", street_m)):
        for lang in ("zh", "en"):
            col = f"{level}_{lang}"
            if layer is not None:
                names = dict(zip(layer["code"], layer[f"name_{lang}"], strict=True))
                missing = cells_ll[col] == ""
                cells_ll.loc[missing, col] = cells_ll.loc[missing, level].map(names).fillna("")
            missing = cells_ll[col] == ""
            cells_ll.loc[missing, col] = cells_ll.loc[missing, level]


def _grid(cells_ll: gpd.GeoDataFrame, areas, district: str) -> Grid:
    cells = [
        Cell(**{f: getattr(r, f) for f in CELL_FIELDS}, geometry=r.geometry, area_m2=float(a))
        for r, a in zip(cells_ll.itertuples(index=False), areas, strict=True)
    ]
    return Grid(sorted(cells, key=lambda c: c.code), district=district)
