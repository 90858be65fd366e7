"""Point-to-cell lookups per second on the default 2,257-cell grid: ``Grid.locate_many`` (bucket
raster + candidate tests) against a plain STRtree query and a naive per-point ``contains`` loop,
all measured in the same run (the loop runs on a sample and its rate is extrapolated; say
--naive N to change the sample).

    .venv/bin/python bench/grid_lookup.py [--points 1000000] [--naive 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import shapely
from shapely.geometry import Point

from gis.generate import generate_grid
from gis.grid import OUTSIDE


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--naive", type=int, default=2000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    grid = generate_grid()
    gen_s = time.perf_counter() - t0
    w, s, e, n = shapely.total_bounds(grid.geoms)
    rng = np.random.default_rng(1)
    lons, lats = rng.uniform(w, e, args.points), rng.uniform(s, n, args.points)

    t0 = time.perf_counter()
    grid.locate(lons[0], lats[0])  # builds the bucket raster (once per grid)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    codes = grid.locate_many(lons, lats)
    fast_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    pt_idx, cell_idx = grid._tree.query(shapely.points(lons, lats), predicate="intersects")
    tree_s = time.perf_counter() - t0
    tree_codes = np.full(len(lons), OUTSIDE, dtype=object)
    order = np.lexsort((-cell_idx, pt_idx))
    tree_codes[pt_idx[order]] = grid.codes[cell_idx[order]]

    t0 = time.perf_counter()
    naive = []
    for lon, lat in zip(lons[: args.naive], lats[: args.naive], strict=True):
        p = Point(lon, lat)
        naive.append(next((c.code for c in grid.cells if c.geometry.contains(p)), OUTSIDE))
    naive_s = time.perf_counter() - t0
    agree = np.mean(np.array(naive, dtype=object) == codes[: args.naive])

    fast_rate, naive_rate = args.points / fast_s, args.naive / naive_s
    print(f"grid generation        {gen_s:8.2f} s ({len(grid)} cells)")
    print(f"bucket raster build    {build_s:8.2f} s (once per grid, on first lookup)")
    print(f"Grid.locate_many       {fast_rate:12,.0f} points/s ({args.points:,} points in {fast_s:.2f} s)")
    print(
        f"plain STRtree query    {args.points / tree_s:12,.0f} points/s "
        f"(same answers: {np.mean(tree_codes == codes):.6f}; locate_many is {tree_s / fast_s:.1f}x faster)"
    )
    print(f"naive contains loop    {naive_rate:12,.0f} points/s ({args.naive:,} points)")
    print(f"speed-up               {fast_rate / naive_rate:12,.0f}x   (agreement on the sample: {agree:.4f})")
    print(f"outside the district   {np.mean(codes == OUTSIDE):12.2%}")


if __name__ == "__main__":
    main()
