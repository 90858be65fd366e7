"""Validation checks for imported grid layers: pure functions from layers to issues.

Layers are the canonical frames of :mod:`gis.columns` (``row``, ``code``, ...). Geometry checks run
in the source CRS; overlap, gap and containment checks in a metric CRS (tolerances in m² and m).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from gis.report import Issue, Tolerances

POLYGONAL = ("Polygon", "MultiPolygon")


def label(layer: str, row: int, code: str) -> str:
    return f"{layer} row {row} ({code or 'no code'})"


def check_geometries(gdf: gpd.GeoDataFrame, layer: str) -> tuple[gpd.GeoDataFrame, list[Issue]]:
    """Drop empty and non-polygon features (errors); repair invalid ones with ``make_valid`` when
    that keeps the shape (reported as repaired) and report the others as errors."""
    issues: list[Issue] = []
    geoms = np.array(gdf.geometry.values, dtype=object)
    keep = np.ones(len(gdf), dtype=bool)
    for i, (row, code, g) in enumerate(zip(gdf["row"], gdf["code"], geoms, strict=True)):
        where = label(layer, row, code)
        if g is None or g.is_empty:
            issues.append(Issue("error", "empty-geometry", f"{where}: empty geometry"))
            keep[i] = False
        elif g.geom_type not in POLYGONAL:
            issues.append(Issue("error", "not-polygon", f"{where}: a {g.geom_type}, not a polygon"))
            keep[i] = False
        elif not g.is_valid:
            why = explain_validity(g)
            fixed = repair(g)
            if fixed is None:
                msg = f"{where}: invalid geometry ({why}); make_valid would split or drop it: fix the source"
                issues.append(Issue("error", "invalid-geometry", msg))
                keep[i] = False
            else:
                issues.append(
                    Issue("repaired", "invalid-geometry", f"{where}: {why}; repaired with make_valid")
                )
                geoms[i] = fixed
    out = gdf.copy()
    out = out.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    return out[keep], issues


def repair(g: BaseGeometry) -> BaseGeometry | None:
    """``make_valid`` when it is safe: the polygonal result has no more parts than ``g`` had (a
    duplicate vertex, a spike or a wrong orientation is fixed; a bow-tie that splits is not)."""
    fixed = shapely.make_valid(g)
    parts = [p for p in shapely.get_parts(fixed) if p.geom_type in POLYGONAL and p.area > 0]
    parts = [q for p in parts for q in shapely.get_parts(p)]
    if not parts or len(parts) > len(shapely.get_parts(g)):
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def check_codes(gdf: gpd.GeoDataFrame, layer: str) -> list[Issue]:
    issues = [
        Issue("error", "missing-code", f"{label(layer, r, '')}: no code")
        for r in gdf.loc[gdf["code"] == "", "row"]
    ]
    coded = gdf[gdf["code"] != ""]
    for code, rows in coded.groupby("code")["row"]:
        if len(rows) > 1:
            listed = ", ".join(str(r) for r in rows)
            issues.append(
                Issue(
                    "error",
                    "duplicate-code",
                    f"{layer}: code {code} appears {len(rows)} times (rows {listed})",
                )
            )
    return issues


def check_hierarchy(cells: gpd.GeoDataFrame, require_prefix: bool = True) -> list[Issue]:
    """Each community under exactly one street; with ``require_prefix``, every code starts with
    its parent's code (cell with community, community with street)."""
    issues: list[Issue] = []
    for field in ("community", "street"):
        for r, c in cells.loc[cells[field] == "", ["row", "code"]].itertuples(index=False):
            issues.append(Issue("error", "hierarchy", f"{label('cells', r, c)}: no {field} code"))
    named = cells[cells["community"] != ""]
    for comm, streets in named.groupby("community")["street"]:
        uniq = sorted(set(streets) - {""})
        if len(uniq) > 1:
            issues.append(
                Issue(
                    "error", "hierarchy", f"community {comm} is under {len(uniq)} streets ({', '.join(uniq)})"
                )
            )
        elif require_prefix and uniq and not comm.startswith(uniq[0]):
            issues.append(
                Issue(
                    "error", "code-prefix", f"community {comm}: code is not prefixed by its street {uniq[0]}"
                )
            )
    if require_prefix:
        bad = named[
            ~np.array([c.startswith(p) for c, p in zip(named["code"], named["community"], strict=True)])
        ]
        for r, c, p in bad[["row", "code", "community"]].itertuples(index=False):
            issues.append(
                Issue(
                    "error",
                    "code-prefix",
                    f"{label('cells', r, c)}: code is not prefixed by its community {p}",
                )
            )
    return issues


def _where(g: BaseGeometry, crs) -> str:
    p = gpd.GeoSeries([g.representative_point()], crs=crs).to_crs("EPSG:4326").iloc[0]
    return f"near {p.x:.5f},{p.y:.5f}"


def check_overlaps(gdf_m: gpd.GeoDataFrame, layer: str, tol_m2: float) -> list[Issue]:
    """Pairs of features sharing more than ``tol_m2`` of area (``gdf_m`` in a metric CRS)."""
    geoms = np.asarray(gdf_m.geometry.values, dtype=object)
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = a < b
    a, b = a[pair], b[pair]
    inter = shapely.intersection(geoms[a], geoms[b])
    area = shapely.area(inter)
    codes = gdf_m["code"].to_numpy()
    return [
        Issue(
            "error",
            "overlap",
            f"{layer} {codes[i]} and {codes[j]} overlap by {ar:,.1f} m2 {_where(g, gdf_m.crs)}",
        )
        for i, j, ar, g in zip(a, b, area, inter, strict=True)
        if ar > tol_m2
    ]


def check_gaps(gdf_m: gpd.GeoDataFrame, layer: str, tol: Tolerances) -> list[Issue]:
    """Holes enclosed by the features and open slivers narrower than ``gap_width_m``, each larger
    than ``gap_m2``."""
    geoms = np.asarray(gdf_m.geometry.values, dtype=object)
    union = shapely.union_all(geoms)
    holes = [shapely.Polygon(r) for p in shapely.get_parts(union) for r in p.interiors]
    w = tol.gap_width_m / 2
    closed = union.buffer(w, join_style="mitre").buffer(-w, join_style="mitre")
    slivers = shapely.get_parts(closed.difference(union)) if tol.gap_width_m > 0 else []
    gaps = [g for g in shapely.get_parts(shapely.union_all([*holes, *slivers])) if g.area > tol.gap_m2]
    if not gaps:
        return []
    tree = shapely.STRtree(geoms)
    codes = gdf_m["code"].to_numpy()
    out = []
    for g in gaps:
        near = sorted(codes[tree.query(g.buffer(max(w, 0.01)), predicate="intersects")])
        shown = ", ".join(near[:6]) + (" ..." if len(near) > 6 else "")
        out.append(
            Issue("error", "gap", f"{layer}: gap of {g.area:,.1f} m2 {_where(g, gdf_m.crs)} between {shown}")
        )
    return out


def check_parents(
    children_m: gpd.GeoDataFrame,
    parents_m: gpd.GeoDataFrame,
    parent_field: str,
    kinds: tuple[str, str],
    tol: Tolerances,
) -> list[Issue]:
    """Children against their parent layer (both metric): each child's parent exists, the child
    lies inside it (up to ``outside_m2``), the parent is covered by its children (up to
    ``gap_m2``); a parent without children is a warning."""
    child, parent = kinds
    issues: list[Issue] = []
    by_code = dict(zip(parents_m["code"], parents_m.geometry, strict=True))
    members: dict[str, list[BaseGeometry]] = {}
    for code, pcode, g in zip(children_m["code"], children_m[parent_field], children_m.geometry, strict=True):
        pg = by_code.get(pcode)
        if pg is None:
            issues.append(
                Issue(
                    "error",
                    "unknown-parent",
                    f"{child} {code} names {parent} {pcode}, which is not in the {parent} layer",
                )
            )
            continue
        members.setdefault(pcode, []).append(g)
        out_m2 = g.difference(pg).area
        if out_m2 > tol.outside_m2:
            issues.append(
                Issue(
                    "error",
                    "outside-parent",
                    f"{child} {code} lies {out_m2:,.1f} m2 outside its {parent} {pcode}",
                )
            )
    for pcode, pg in by_code.items():
        if pcode not in members:
            issues.append(Issue("warning", "empty-parent", f"{parent} {pcode} has no {child}"))
            continue
        uncovered = pg.difference(shapely.union_all(members[pcode])).area
        if uncovered > tol.gap_m2:
            issues.append(
                Issue("error", "gap", f"{parent} {pcode}: {uncovered:,.1f} m2 not covered by its {child}s")
            )
    return issues


def check_parent_links(cells, communities: gpd.GeoDataFrame) -> list[Issue]:
    """The street a community is under agrees between the cells and the communities layer."""
    layer_street = dict(zip(communities["code"], communities["parent"], strict=True))
    issues = []
    for comm, street in cells.drop_duplicates("community")[["community", "street"]].itertuples(index=False):
        other = layer_street.get(comm)
        if other and street and other != street:
            issues.append(
                Issue(
                    "error",
                    "hierarchy",
                    f"community {comm} is under street {street} in the cells but {other} in the communities layer",
                )
            )
    return issues
