"""Roll-up of 100,000 incidents (lon/lat, type, state, overdue) per cell, community and street on
the default grid, including the point-to-cell lookup.

    .venv/bin/python bench/rollup.py [--n 100000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from gis.generate import generate_grid
from gis.rollup import rollup


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    grid = generate_grid()
    grid.communities, grid.streets, grid.locate(0.0, 0.0)  # dissolve and index once, outside the timing
    rng = np.random.default_rng(0)
    w, s, e, n = grid.bounds
    df = pd.DataFrame(
        {
            "lon": rng.uniform(w, e, args.n),
            "lat": rng.uniform(s, n, args.n),
            "type": rng.choice(
                ["illegal_parking", "fire_lane_blocked", "street_vending", "exposed_garbage"], args.n
            ),
            "state": rng.choice(["new", "dispatched", "accepted", "on_site", "resolved", "closed"], args.n),
            "overdue": rng.random(args.n) < 0.1,
        }
    )
    for level in ("cell", "community", "street"):
        t0 = time.perf_counter()
        out = rollup(grid, df, level)
        dt = time.perf_counter() - t0
        print(
            f"rollup {level:10} {dt:6.3f} s for {args.n:,} incidents ({args.n / dt:,.0f}/s), "
            f"{len(out)} rows x {len(out.columns)} columns, {out.attrs['outside']:,} outside"
        )
    records = df.head(10_000).to_dict("records")
    t0 = time.perf_counter()
    rollup(grid, records, "cell")
    print(f"rollup from 10,000 dicts   {time.perf_counter() - t0:6.3f} s")


if __name__ == "__main__":
    main()
