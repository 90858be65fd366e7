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


def test_generated_hierarchy_aggregates_partition_the_district():
    g = generate_grid(cells=400, communities=24, streets=5, seed=7)
    comms, streets = g.communities, g.streets
    assert [u.code for u in comms] == sorted({c.community for c in g.cells})
    assert len(streets) == 5 and sum(u.cells for u in streets) == 400 and sum(u.cells for u in comms) == 400
    assert sum(u.communities for u in streets) == 24
    comm_geom = {u.code: u.geometry for u in comms}
    street_geom = {u.code: u.geometry for u in streets}
    for c in g.cells:  # every cell lies in exactly one community: its own
        inside = [k for k, geom in comm_geom.items() if geom.intersection(c.geometry).area > 1e-12]
        assert inside == [c.community]
    for u in comms:  # every community in one street: the one its code starts with
        assert u.code.startswith(u.parent)
        assert street_geom[u.parent].buffer(1e-9).contains(u.geometry)
    district = shapely.union_all([u.geometry for u in streets])
    cells_union = shapely.union_all(g.geoms)
    assert abs(district.area - cells_union.area) / cells_union.area < 1e-9
    assert district.geom_type == "Polygon" and not district.interiors  # one piece, no holes
    assert abs(sum(u.area_m2 for u in streets) - g.area_m2) < 1e-6 * g.area_m2
    assert {u.name_zh for u in streets} <= {"乔屯街道", "文化路街道", "钓鱼台街道", "东新村街道", "缸窑街道"}


def test_default_grid_figures():
    g = generate_grid()
    assert len(g) == 2257 and len(g.communities) == 98 and len(g.streets) == 10
    assert abs(g.area_m2 / 1e6 - 124.0) < 0.5
    w, s, e, n = g.bounds
    assert 118.12 <= w < e <= 118.26 and 39.60 <= s < n <= 39.72
    assert g.district_code == "130203" and all(len(c.code) == 15 for c in g.cells)


def test_area_that_does_not_fit_the_bbox_is_refused():
    import pytest

    with pytest.raises(ValueError, match="does not fit in this bbox"):
        generate_grid(cells=50, communities=5, streets=2, area_km2=176)
    wide = generate_grid(
        bbox=(118.12, 39.60, 118.32, 39.74), cells=50, communities=5, streets=2, area_km2=176
    )
    assert abs(wide.area_m2 / 1e6 - 176) < 1


def test_lookup_on_edges_vertices_and_outside_matches_shapely():
    g = generate_grid(cells=300, communities=12, streets=3, seed=9)
    rng = np.random.default_rng(4)
    coords = shapely.get_coordinates(g.geoms)
    verts = coords[rng.choice(len(coords), 400)]
    # midpoints of edges: on the boundary of one or two cells
    rings = [np.asarray(geom.exterior.coords) for geom in g.geoms[:150]]
    mids = np.array([(r[i] + r[i + 1]) / 2 for r in rings for i in range(len(r) - 1)])
    w, s, e, n = g.bounds
    inside = np.column_stack([rng.uniform(w - 0.01, e + 0.01, 50000), rng.uniform(s - 0.01, n + 0.01, 50000)])
    far = np.array([[w - 1, s], [e + 1, n], [np.nan, 39.6], [w, n + 1e-6]])
    pts = np.vstack([verts, mids, far])
    got = g.locate_index(pts[:, 0], pts[:, 1])
    for (x, y), idx in zip(pts, got, strict=True):  # shapely's own predicate, point by point
        covering = np.flatnonzero(shapely.intersects(g.geoms, Point(x, y)))
        assert idx == (covering.min() if len(covering) else -1), (x, y)
    assert (got[: len(verts)] >= 0).all() and (got[-4:] == -1).all()
    # bulk random points against every (point, cell) pair shapely finds
    got = g.locate_index(inside[:, 0], inside[:, 1])
    pi, ci = shapely.STRtree(g.geoms).query(shapely.points(inside), predicate="intersects")
    best = np.full(len(inside), len(g))
    np.minimum.at(best, pi, ci)
    want = np.where(best == len(g), -1, best)
    assert (got == want).all() and (got >= 0).mean() > 0.5
    assert list(g.locate_many(pts[:5, 0], pts[:5, 1])) == [
        g.codes[i] for i in g.locate_index(pts[:5, 0], pts[:5, 1])
    ]


def test_digest_changes_with_content():
    a = generate_grid(cells=60, communities=4, streets=2, seed=1)
    b = generate_grid(cells=60, communities=4, streets=2, seed=2)
    assert a.digest == Grid(a.cells, district=a.district).digest != b.digest
