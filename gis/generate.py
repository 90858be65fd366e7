"""A reproducible default grid over a real extent: irregular Voronoi blocks grouped into
communities and streets. The boundaries are synthetic (no official grid is published); the extent,
the street names and the area follow Tangshan's Lubei district.

Figures: Lubei's area is given as 123.95 km² (Wikipedia, 2020 census table) and as 176 km²
(Baidu Baike, 2023, after Hancheng town joined the district in 2013); it has 11 subdistricts and
2 towns. The default extent (118.12-118.26 E, 39.60-39.72 N) is only ~160 km² in all, so it cannot
hold 176 km²: the default outline is scaled to 124 km². Pass a wider ``bbox`` (e.g. east to
118.32 E for Hancheng) with ``area_km2=176`` for the larger figure.
"""

from __future__ import annotations

import numpy as np
import shapely
import shapely.affinity
from scipy.cluster.vq import kmeans2
from shapely.geometry import Polygon

from gis.grid import Cell, Grid
from gis.projection import LocalMetric

DISTRICT_CODE = "130203"  # Lubei district's administrative division code
GENERATOR_VERSION = 2  # bump when the same parameters would give a different grid
DEFAULT_AREA_KM2 = 124.0
STREET_NAMES = [  # Lubei's 11 subdistricts (街道) and 2 towns (镇)
    ("乔屯街道", "Qiaotun"),
    ("文化路街道", "Wenhualu"),
    ("钓鱼台街道", "Diaoyutai"),
    ("东新村街道", "Dongxincun"),
    ("缸窑街道", "Gangyao"),
    ("机场路街道", "Jichanglu"),
    ("河北路街道", "Hebeilu"),
    ("龙东街道", "Longdong"),
    ("大里街道", "Dali"),
    ("光明街道", "Guangming"),
    ("翔云道街道", "Xiangyundao"),
    ("果园镇", "Guoyuan"),
    ("韩城镇", "Hancheng"),
]


def street_names(i: int) -> tuple[str, str, str, str]:
    """zh and English names of the i-th street and the stems its communities are named after."""
    zh, en = STREET_NAMES[i % len(STREET_NAMES)]
    if zh.endswith("镇"):
        return zh, f"{en} Town", zh.removesuffix("镇"), en
    return zh, f"{en} Street", zh.removesuffix("街道"), en


def scale_to_area(outline: Polygon, area_km2: float, proj: LocalMetric) -> Polygon:
    """``outline`` (lon/lat) scaled about its centroid to ``area_km2``; it may only shrink, so that
    it stays inside the extent it was drawn in."""
    metric = proj.geom_to_metric(outline)
    have = metric.area / 1e6
    if area_km2 > have * 1.0001:
        raise ValueError(
            f"an outline of {area_km2:g} km2 does not fit in this bbox (the outline drawn in it has "
            f"{have:.1f} km2): widen the bbox or lower the area"
        )
    f = (area_km2 / have) ** 0.5
    c = metric.centroid
    return proj.geom_to_lonlat(shapely.affinity.scale(metric, f, f, origin=c))


def district_outline(bbox: tuple[float, float, float, float], rng: np.random.Generator) -> Polygon:
    """An irregular, star-shaped outline filling most of ``bbox`` (lon/lat)."""
    w, s, e, n = bbox
    proj = LocalMetric((w + e) / 2, (s + n) / 2)
    (x0, x1), (y0, y1) = proj.forward(np.array([w, e]), np.array([s, n]))
    rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
    angles = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    p = 4.0  # a superellipse fills the extent like a city district rather than a circle
    radius = 1.0 / (np.abs(np.cos(angles)) ** p + np.abs(np.sin(angles)) ** p) ** (1 / p)
    for k in (3, 5, 7):  # a few low-frequency harmonics make a plausible boundary
        radius += rng.uniform(0.02, 0.08) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
    xs, ys = rx * radius * np.cos(angles), ry * radius * np.sin(angles)
    inside = shapely.box(-0.99 * rx, -0.99 * ry, 0.99 * rx, 0.99 * ry)
    metric = Polygon(np.column_stack([xs, ys])).intersection(inside)
    return proj.geom_to_lonlat(metric)


def _points_inside(poly_m: Polygon, n: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = poly_m.bounds
    shapely.prepare(poly_m)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        cand = rng.uniform((minx, miny), (maxx, maxy), size=(n * 2, 2))
        inside = cand[shapely.contains_xy(poly_m, cand[:, 0], cand[:, 1])]
        out.append(inside)
        have += len(inside)
    return np.concatenate(out)[:n]


def _voronoi_cells(points: np.ndarray, outline_m: Polygon) -> np.ndarray:
    regions = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), extend_to=outline_m))
    # voronoi_polygons does not keep input order: match each region to the seed inside it
    tree = shapely.STRtree(regions)
    seed_idx, region_idx = tree.query(shapely.points(points), predicate="within")
    ordered = np.empty(len(points), dtype=object)
    ordered[seed_idx] = regions[region_idx]
    return shapely.intersection(ordered, outline_m)


def generate_grid(
    *,
    bbox: tuple[float, float, float, float] = (118.12, 39.60, 118.26, 39.72),
    cells: int = 2257,
    communities: int = 98,
    streets: int = 10,
    seed: int = 2257,
    relax: int = 2,
    district: str = "Lubei",
    area_km2: float | None = DEFAULT_AREA_KM2,
) -> Grid:
    """``cells`` unit cells in ``communities`` communities in ``streets`` streets over an outline of
    ``area_km2`` (``None``: as drawn, ~88 % of ``bbox``) inside ``bbox``; the same arguments give
    the same grid."""
    if not streets <= communities <= cells:
        raise ValueError(f"need streets <= communities <= cells, got {streets}, {communities}, {cells}")
    rng = np.random.default_rng(seed)
    outline = district_outline(bbox, rng)
    c = outline.centroid
    proj = LocalMetric(c.x, c.y)
    if area_km2 is not None:
        outline = scale_to_area(outline, area_km2, proj)
    outline_m = proj.geom_to_metric(outline)
    pts = _points_inside(outline_m, cells, rng)
    polys = _voronoi_cells(pts, outline_m)
    for _ in range(relax):  # Lloyd relaxation: blocks of more even size, still irregular
        pts = shapely.get_coordinates(shapely.centroid(polys))
        polys = _voronoi_cells(pts, outline_m)
    polys = shapely.make_valid(polys)

    centroids = shapely.get_coordinates(shapely.centroid(polys))
    _, comm_of_cell = kmeans2(centroids, communities, seed=seed, minit="++")
    comm_ids = np.unique(comm_of_cell)
    comm_centres = np.array([centroids[comm_of_cell == k].mean(axis=0) for k in comm_ids])
    _, street_of_comm = kmeans2(comm_centres, min(streets, len(comm_ids)), seed=seed, minit="++")

    # stable, hierarchical codes ordered north-west to south-east
    street_order = {
        s: i
        for i, s in enumerate(
            sorted(
                np.unique(street_of_comm),
                key=lambda s: _nw_key(comm_centres[street_of_comm == s].mean(axis=0)),
            )
        )
    }
    comm_code: dict[int, tuple[str, int]] = {}
    for s, si in street_order.items():
        members = [k for j, k in enumerate(comm_ids) if street_of_comm[j] == s]
        members.sort(key=lambda k: _nw_key(comm_centres[list(comm_ids).index(k)]))
        for ci, k in enumerate(members, start=1):
            comm_code[k] = (f"{DISTRICT_CODE}{si + 1:03d}{ci:03d}", si)

    areas = shapely.area(polys)
    geoms_ll = [proj.geom_to_lonlat(p) for p in polys]
    order = sorted(range(len(polys)), key=lambda i: (comm_code[comm_of_cell[i]][0], _nw_key(centroids[i])))
    serial: dict[str, int] = {}
    out: list[Cell] = []
    for i in order:
        code, si = comm_code[comm_of_cell[i]]
        serial[code] = serial.get(code, 0) + 1
        zh, en, stem_zh, stem_en = street_names(si)
        ci = int(code[-3:])
        out.append(
            Cell(
                code=f"{code}{serial[code]:03d}",
                community=code,
                community_zh=f"{stem_zh}第{ci}社区",
                community_en=f"{stem_en} Community {ci}",
                street=code[:9],
                street_zh=zh,
                street_en=en,
                geometry=shapely.set_precision(geoms_ll[i], 1e-7),
                area_m2=float(areas[i]),
            )
        )
    return Grid(out, district=district)


def _nw_key(xy: np.ndarray) -> tuple[float, float]:
    return (-round(float(xy[1]) / 500), float(xy[0]))
