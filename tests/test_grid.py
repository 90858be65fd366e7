import numpy as np
import shapely
from shapely.geometry import Point

from gis.generate import generate_grid
from gis.grid import OUTSIDE, Grid
from gis.layers import cells_layer


def test_generated_grid_hierarchy_and_coverage():
    g = generate_grid(cells=300, communities=20, streets=4, seed=11)
    assert len(g) == 300
    assert len({c.code for c in g.cells}) == 300
    comms = {c.community for c in g.cells}
    assert len(comms) == 20
    assert len({c.street for c in g.cells}) == 4
    for c in g.cells:  # each cell in exactly one community, each community in one street, by code
        assert c.code.startswith(c.community) and c.community.startswith(c.street)
        assert c.geometry.is_valid and c.geometry.geom_type == "Polygon" and c.area_m2 > 0
    street_of = {}
    for c in g.cells:
        assert street_of.setdefault(c.community, c.street) == c.street
    union = shapely.union_all(g.geoms)
    hull = shapely.unary_union([c.geometry for c in g.cells]).convex_hull
    assert union.area / hull.area > 0.9  # no holes beyond the outline's own bays
    assert shapely.area(shapely.intersection(g.geoms[0], g.geoms[1])) < 1e-12


def test_generation_is_reproducible():
    a = generate_grid(cells=120, communities=8, streets=2, seed=5)
    b = generate_grid(cells=120, communities=8, streets=2, seed=5)
    assert [c.code for c in a.cells] == [c.code for c in b.cells]
    assert all(x.geometry.equals(y.geometry) for x, y in zip(a.cells, b.cells, strict=True))


def test_lookup_matches_shapely_on_random_points():
    g = generate_grid(cells=200, communities=10, streets=3, seed=3)
    w, s, e, n = shapely.total_bounds(g.geoms)
    rng = np.random.default_rng(0)
    lons = rng.uniform(w - 0.01, e + 0.01, 3000)
    lats = rng.uniform(s - 0.01, n + 0.01, 3000)
    got = g.locate_many(lons, lats)
    outside = 0
    for lon, lat, code in zip(lons, lats, got, strict=True):
        p = Point(lon, lat)
        if code == OUTSIDE:
            outside += 1
            assert not any(geom.intersects(p) for geom in g.geoms)
        else:
            assert g.by_code[code].geometry.intersects(p)
    assert 0 < outside < 3000
    # a vertex shared by cells resolves to one of them, not to "outside"
    vx, vy = shapely.get_coordinates(g.geoms[0])[0]
    assert g.locate(vx, vy) != OUTSIDE
    assert g.locate(0.0, 0.0) == OUTSIDE


def test_geojson_round_trip_and_layer(tmp_path):
    g = generate_grid(cells=80, communities=5, streets=2, seed=1)
    path = tmp_path / "cells.geojson"
    g.save_geojson(path)
    back = Grid.load_geojson(path)
    assert [c.code for c in back.cells] == [c.code for c in g.cells]
    assert back.cells[3].street_zh == g.cells[3].street_zh
    layer = cells_layer(g)
    assert len(layer["features"]) == 80 and layer["features"][0]["properties"] == {"code": g.cells[0].code}
