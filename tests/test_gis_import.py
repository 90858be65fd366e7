"""Import and export round trips (GeoJSON, GeoPackage, Shapefile, a non-WGS84 CRS), the active grid,
atomicity, and the ``cityops gis`` commands' exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from cityops.cli import main
from cityops.config import GridConfig
from gis.default import load_grid
from gis.export import export_layer
from gis.generate import generate_grid
from gis.importer import ImportOptions, build_grid, import_grid
from gis.rollup import unit_frame
from gis.sources import read_vector
from gis.store import active_grid_path

SMALL = {"cells": 80, "communities": 6, "streets": 2, "seed": 21}


@pytest.fixture(scope="module")
def grid():
    return generate_grid(**SMALL)


def same_grid(a, b, tol_m2=0.5):
    assert [c.code for c in a.cells] == [c.code for c in b.cells]
    assert [c.community_zh for c in a.cells] == [c.community_zh for c in b.cells]
    assert [c.street_en for c in a.cells] == [c.street_en for c in b.cells]
    areas = np.array([c.area_m2 for c in a.cells])
    assert np.allclose(areas, [c.area_m2 for c in b.cells], rtol=2e-3)  # local vs UTM metric
    sym = shapely.area(shapely.symmetric_difference(a.geoms, b.geoms)) * 111_000**2
    assert sym.max() < tol_m2


@pytest.mark.parametrize(
    ("fmt", "crs"),
    [("geojson", None), ("gpkg", None), ("shp", None), ("gpkg", "EPSG:4547"), ("shp", "EPSG:32650")],
)
def test_round_trip(tmp_path, grid, fmt, crs):
    gdf = grid.to_geodataframe()
    if crs:
        gdf = gdf.to_crs(crs)
    path = export_layer(gdf, tmp_path / f"cells.{fmt}", fmt)
    back_raw = read_vector(path)
    assert back_raw.crs.equals(crs or "EPSG:4326")
    back, report = build_grid(path, ImportOptions(district=grid.district))
    assert report.ok, report.text()
    same_grid(grid, back)
    assert back.locate(*grid.cells[10].geometry.representative_point().coords[0]) == grid.cells[10].code


def test_import_makes_it_active_and_load_grid_uses_it(tmp_path, grid):
    data = tmp_path / "data"
    cfg = GridConfig(seed=5, cells=40, communities=4, streets=2)
    before = load_grid(cfg, data)  # nothing imported: the generated default
    assert len(before) == 40
    path = export_layer(grid.to_geodataframe().to_crs("EPSG:4547"), tmp_path / "cells.gpkg")
    imported, report = import_grid(path, data, ImportOptions(district="Lubei"))
    assert report.ok and imported is not None
    assert active_grid_path(data).is_file()
    now = load_grid(cfg, data)
    assert len(now) == 80 and now.digest == imported.digest


def test_failed_import_leaves_the_previous_grid(tmp_path, grid):
    data = tmp_path / "data"
    good = export_layer(grid.to_geodataframe(), tmp_path / "good.geojson")
    import_grid(good, data)
    before = active_grid_path(data).read_bytes()
    bad = grid.to_geodataframe()
    bad.loc[3, "code"] = bad.code[4]  # duplicate code: refused
    bad_path = export_layer(bad, tmp_path / "bad.gpkg")
    g, report = import_grid(bad_path, data)
    assert g is None and not report.ok
    (tmp_path / "text.gpkg").write_text("not a database")
    g, report = import_grid(tmp_path / "text.gpkg", data)
    assert g is None
    assert active_grid_path(data).read_bytes() == before
    assert sorted(p.name for p in (data / "grid").iterdir()) == ["active.geojson"]  # no leftovers


def test_cli_generate_import_validate_export(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("CITYOPS_DATA_DIR", str(data))
    args = ["--cells", "60", "--communities", "5", "--streets", "2", "--seed", "4", "--area-km2", "30"]
    assert main(["gis", "generate", *args]) == 0
    gj, gpkg = data / "grid" / "lubei.geojson", data / "grid" / "lubei.gpkg"
    assert gj.is_file() and gpkg.is_file()
    out = capsys.readouterr().out
    assert "60 cells, 5 communities, 2 streets, 30.0 km2" in out
    assert main(["gis", "validate", str(gpkg)]) == 0
    assert not active_grid_path(data).exists()  # validate changes nothing
    assert main(["gis", "import", str(gj)]) == 0
    assert active_grid_path(data).is_file()
    (tmp_path / "broken.geojson").write_text("{ nope")
    assert main(["gis", "import", str(tmp_path / "broken.geojson")]) == 1
    err = capsys.readouterr()
    assert "not valid JSON" in err.out and "active grid is unchanged" in err.err

    incidents = tmp_path / "incidents.json"
    grid = load_grid(GridConfig(), data)
    p = grid.cells[0].geometry.representative_point()
    incidents.write_text(json.dumps([{"lon": p.x, "lat": p.y, "type": "illegal_parking", "state": "new"}]))
    for fmt in ("geojson", "gpkg", "csv"):
        out_path = tmp_path / f"figures.{fmt}"
        assert (
            main(["gis", "export", "--format", fmt, "--incidents", str(incidents), "--out", str(out_path)])
            == 0
        )
        assert out_path.is_file()
    back = read_vector(tmp_path / "figures.gpkg")
    assert back.loc[back.code == grid.cells[0].code, "type_illegal_parking"].item() == 1
    assert back["total"].sum() == 1
    assert (
        main(["gis", "export", "--level", "street", "--format", "csv", "--out", str(tmp_path / "s.csv")]) == 0
    )
    assert (
        (tmp_path / "s.csv")
        .read_text(encoding="utf-8")
        .startswith("code,name_zh,name_en,district,cells,area_m2")
    )


def test_export_levels_have_names(grid):
    streets = unit_frame(grid, "street")
    assert list(streets.code) == sorted({c.street for c in grid.cells})
    assert set(streets.name_zh) <= {c.street_zh for c in grid.cells}
