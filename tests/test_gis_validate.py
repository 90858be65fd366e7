"""Each validation failure of a grid import, with its message (bad files built here)."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import LineString, Polygon

from gis.generate import generate_grid
from gis.importer import ImportOptions, build_grid
from gis.report import Tolerances


@pytest.fixture(scope="module")
def grid():
    return generate_grid(cells=60, communities=6, streets=2, seed=3)


@pytest.fixture
def cells(grid):
    return grid.to_geodataframe()


def interior_index(grid) -> int:
    """A cell that does not touch the district's outline."""
    outline = shapely.union_all(grid.geoms).exterior
    return next(i for i, g in enumerate(grid.geoms) if not g.intersects(outline))


def check(tmp_path, gdf, name="cells.geojson", **opts):
    path = tmp_path / name
    if isinstance(gdf, gpd.GeoDataFrame):
        gdf.to_file(path, engine="pyogrio")
    grid, report = build_grid(path, ImportOptions(**opts))
    return grid, report


def messages(report, check_name):
    return [i.message for i in report.issues if i.check == check_name]


def test_clean_grid_passes(tmp_path, cells, grid):
    g, report = check(tmp_path, cells)
    assert report.ok and g is not None and len(g) == 60, report.text()
    assert report.text().endswith("OK: 0 error(s), 0 repaired, 0 warning(s)")


def test_spike_is_repaired_and_reported(tmp_path, cells):
    poly = cells.geometry.iloc[5]
    coords = list(poly.exterior.coords)
    x, y = coords[1]
    spiked = Polygon([coords[0], (x, y), (x + 0.001, y), (x, y), *coords[2:]])
    assert not spiked.is_valid
    cells.loc[5, "geometry"] = spiked
    g, report = check(tmp_path, cells)
    assert report.ok and g is not None, report.text()
    (msg,) = messages(report, "invalid-geometry")
    assert "row 6" in msg and "repaired with make_valid" in msg
    assert g.by_code[cells.code[5]].geometry.is_valid


def test_bow_tie_is_an_error(tmp_path, cells):
    minx, miny, maxx, maxy = cells.geometry.iloc[7].bounds
    cells.loc[7, "geometry"] = Polygon([(minx, miny), (maxx, maxy), (maxx, miny), (minx, maxy)])
    g, report = check(tmp_path, cells)
    assert g is None
    (msg,) = [i.message for i in report.errors if i.check == "invalid-geometry"]
    assert f"row 8 ({cells.code[7]})" in msg and "Self-intersection" in msg and "would split" in msg


def test_overlap_beyond_tolerance(tmp_path, cells, grid):
    i = interior_index(grid)
    cells.loc[i, "geometry"] = cells.geometry.iloc[i].buffer(1e-4)  # ~10 m all round
    g, report = check(tmp_path, cells)
    assert g is None
    msgs = messages(report, "overlap")
    assert msgs and all(cells.code[i] in m and "overlap by" in m and "m2 near 118." in m for m in msgs)
    # a generous tolerance lets it through (no gap either: it only grew)
    _, loose = check(tmp_path, cells, tolerances=Tolerances(overlap_m2=1e6))
    assert "overlap" not in loose.checks()


def test_gap_between_cells(tmp_path, cells, grid):
    i = interior_index(grid)
    cells.loc[i, "geometry"] = cells.geometry.iloc[i].buffer(-5e-5)
    g, report = check(tmp_path, cells)
    assert g is None
    (msg,) = messages(report, "gap")
    assert "cells: gap of" in msg and cells.code[i] in msg


def test_narrow_sliver_between_cells(tmp_path, cells, grid):
    # pull one cell's edge back by ~1 m along the district outline: an open sliver, not a hole
    outline = shapely.union_all(grid.geoms).exterior
    i = next(i for i, g in enumerate(grid.geoms) if g.intersects(outline) and g.area > 0)
    cells.loc[i, "geometry"] = cells.geometry.iloc[i].buffer(-1e-5, join_style="mitre")
    _, report = check(tmp_path, cells, tolerances=Tolerances(gap_width_m=4.0))
    assert messages(report, "gap"), report.text()
    _, report = check(tmp_path, cells, tolerances=Tolerances(gap_width_m=0.0))
    assert not messages(report, "gap")


def test_duplicate_and_missing_codes(tmp_path, cells):
    cells.loc[3, "code"] = cells.code[2]
    cells.loc[4, "code"] = ""
    g, report = check(tmp_path, cells, require_prefix=False)
    assert g is None
    assert messages(report, "duplicate-code") == [f"cells: code {cells.code[2]} appears 2 times (rows 3, 4)"]
    assert messages(report, "missing-code") == ["cells row 5 (no code): no code"]


def test_empty_and_non_polygon_features(tmp_path, cells):
    cells.loc[1, "geometry"] = Polygon()
    cells.loc[2, "geometry"] = LineString([(118.2, 39.65), (118.21, 39.66)])
    g, report = check(tmp_path, cells)
    assert g is None
    assert messages(report, "empty-geometry") == [f"cells row 2 ({cells.code[1]}): empty geometry"]
    assert messages(report, "not-polygon") == [f"cells row 3 ({cells.code[2]}): a LineString, not a polygon"]


def test_community_under_two_streets(tmp_path, cells):
    streets = sorted(cells.street.unique())
    row = cells.index[cells.street == streets[0]][0]
    cells.loc[row, "street"] = streets[1]
    g, report = check(tmp_path, cells)
    assert g is None
    comm = cells.community[row]
    assert f"community {comm} is under 2 streets ({streets[0]}, {streets[1]})" in messages(
        report, "hierarchy"
    )


def test_cell_code_not_prefixed_by_its_community(tmp_path, cells):
    cells.loc[0, "code"] = "130203099099001"
    g, report = check(tmp_path, cells)
    assert g is None
    assert messages(report, "code-prefix") == [
        f"cells row 1 (130203099099001): code is not prefixed by its community {cells.community[0]}"
    ]
    g, report = check(tmp_path, cells, require_prefix=False)
    assert g is not None and report.ok


def test_cells_outside_their_community_and_unknown_community(tmp_path, cells, grid):
    comms = gpd.GeoDataFrame(
        {
            "code": [u.code for u in grid.communities],
            "street": [u.parent for u in grid.communities],
            "name_zh": [u.name_zh for u in grid.communities],
        },
        geometry=[u.geometry for u in grid.communities],
        crs="EPSG:4326",
    )
    shrunk = comms.code[0]
    comms.loc[0, "geometry"] = comms.geometry.iloc[0].buffer(-2e-4)
    dropped = comms.code[1]
    comms = comms.drop(index=1)
    comms.to_file(tmp_path / "communities.geojson", engine="pyogrio")
    g, report = check(tmp_path, cells, communities=tmp_path / "communities.geojson")
    assert g is None
    outside = messages(report, "outside-parent")
    assert outside and all(f"outside its community {shrunk}" in m for m in outside)
    unknown = messages(report, "unknown-parent")
    assert unknown and all(
        f"names community {dropped}, which is not in the community layer" in m for m in unknown
    )


def test_community_layer_disagrees_on_street(tmp_path, cells, grid):
    comms = gpd.GeoDataFrame(
        {"code": [u.code for u in grid.communities], "street": [u.parent for u in grid.communities]},
        geometry=[u.geometry for u in grid.communities],
        crs="EPSG:4326",
    )
    other = next(s for s in comms.street if s != comms.street[0])
    comms.loc[0, "street"] = other
    comms.to_file(tmp_path / "communities.geojson", engine="pyogrio")
    _, report = check(tmp_path, cells, communities=tmp_path / "communities.geojson")
    assert any(f"but {other} in the communities layer" in m for m in messages(report, "hierarchy"))


def test_community_outside_its_street(tmp_path, cells, grid):
    streets = gpd.GeoDataFrame(
        {"code": [u.code for u in grid.streets], "name_zh": [u.name_zh for u in grid.streets]},
        geometry=[u.geometry.buffer(-3e-4) for u in grid.streets],
        crs="EPSG:4326",
    )
    streets.to_file(tmp_path / "streets.geojson", engine="pyogrio")
    g, report = check(tmp_path, cells, streets=tmp_path / "streets.geojson")
    assert g is None
    assert any("outside its street" in m for m in messages(report, "outside-parent"))


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("cells.gpkg", b"just some text\n", "not a GeoPackage (not an SQLite database"),
        ("cells.geojson", b'{"type": "FeatureCollection", "features": [', "not valid JSON (line 1"),
        ("cells.geojson", b'{"type": "Topology"}', "JSON but not a GeoJSON FeatureCollection"),
        ("cells.geojson", b"", "the file is empty"),
        ("cells.shp", b"PK\x03\x04 a zip, not a shapefile", "not a Shapefile"),
        ("cells.kml", b"<kml/>", "unsupported format '.kml'"),
    ],
)
def test_files_that_are_not_what_they_claim(tmp_path, name, content, expected):
    (tmp_path / name).write_bytes(content)
    g, report = build_grid(tmp_path / name)
    assert g is None and report.checks() == {"file"}
    assert expected in report.errors[0].message


def test_shapefile_without_sidecars_or_crs(tmp_path, cells):
    cells.rename(columns={"community": "comm"})[["code", "comm", "street", "geometry"]].to_file(
        tmp_path / "cells.shp", engine="pyogrio"
    )
    (tmp_path / "cells.prj").unlink()
    _, report = build_grid(tmp_path / "cells.shp")
    assert "no coordinate reference system" in report.errors[0].message
    g, report = build_grid(tmp_path / "cells.shp", ImportOptions(crs="EPSG:4326"))
    assert g is not None and report.ok
    (tmp_path / "cells.dbf").unlink()
    _, report = build_grid(tmp_path / "cells.shp")
    assert "the Shapefile's .dbf file is missing" in report.errors[0].message


def test_missing_code_column_and_empty_layer(tmp_path, cells):
    g, report = check(tmp_path, cells.rename(columns={"code": "ident"}))
    assert (
        g is None
        and "no column for code" in report.errors[0].message
        and "--code-col" in report.errors[0].message
    )
    g, report = check(tmp_path, cells.rename(columns={"code": "ident"}), columns=_cols(code="ident"))
    assert g is not None
    g, report = check(tmp_path, cells.iloc[:0])
    assert g is None and report.checks() == {"empty-layer"}


def _cols(**kw):
    from gis.columns import Columns

    return Columns(**kw)
