"""Map layers: properties the board keys on, shared edges kept, size trimmed, disk cache by digest."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from gis.generate import generate_grid
from gis.layers import cached_layer, cells_layer, layer_path, layer_size_kb, units_layer


@pytest.fixture(scope="module")
def grid():
    return generate_grid(cells=250, communities=12, streets=3, seed=8)


def test_cells_layer_keeps_shared_edges_and_codes(grid):
    layer = cells_layer(grid)
    assert [f["properties"] for f in layer["features"]] == [{"code": c} for c in grid.codes]
    geoms = np.array([shape(f["geometry"]) for f in layer["features"]])
    assert all(g.is_valid for g in geoms)
    assert shapely.coverage_is_valid(geoms)  # no overlaps, no gaps between neighbours
    coords = shapely.get_coordinates(geoms)
    assert np.allclose(coords, np.round(coords, 5))
    moved = shapely.hausdorff_distance(geoms, grid.geoms).max() * 111_000
    assert moved < 5  # metres


def test_trimmed_layer_is_smaller_than_the_full_geometry(grid):
    full = json.dumps(grid.to_geojson(), separators=(",", ":"))
    assert layer_size_kb(cells_layer(grid)) < 0.6 * len(full) / 1024


@pytest.mark.parametrize("level", ["community", "street"])
def test_unit_layers(grid, level):
    layer = units_layer(grid, level)
    units = grid.communities if level == "community" else grid.streets
    assert [f["properties"]["code"] for f in layer["features"]] == [u.code for u in units]
    assert sum(f["properties"]["cells"] for f in layer["features"]) == len(grid)
    geoms = np.array([shape(f["geometry"]) for f in layer["features"]])
    assert shapely.coverage_is_valid(geoms)
    union = shapely.union_all(geoms)
    assert abs(union.area - shapely.union_all(grid.geoms).area) / union.area < 1e-3


def test_layer_cache_is_keyed_by_digest(tmp_path, grid):
    first = cached_layer(grid, "community", tmp_path)
    path = layer_path(tmp_path, grid, "community", 2.0, 5)
    assert path.is_file() and json.loads(path.read_text(encoding="utf-8")) == first
    path.write_text('{"type":"FeatureCollection","features":[]}')
    assert cached_layer(grid, "community", tmp_path)["features"] == []  # served from the cache
    other = generate_grid(cells=250, communities=12, streets=3, seed=9)
    assert len(cached_layer(other, "community", tmp_path)["features"]) == 12
    path.write_text("{broken")
    assert cached_layer(grid, "community", tmp_path) == first  # a damaged file is rebuilt
