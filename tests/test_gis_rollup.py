"""Roll-ups per cell, community and street from a DataFrame or a list of dicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gis.generate import generate_grid
from gis.rollup import IncidentsError, locate_incidents, rollup


@pytest.fixture(scope="module")
def grid():
    return generate_grid(cells=120, communities=8, streets=3, seed=12)


def incidents(grid, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    w, s, e, n_ = grid.bounds
    return pd.DataFrame(
        {
            "lon": rng.uniform(w - 0.01, e + 0.01, n),
            "lat": rng.uniform(s - 0.01, n_ + 0.01, n),
            "type": rng.choice(["illegal_parking", "street_vending", "exposed_garbage"], n),
            "state": rng.choice(["new", "dispatched", "closed"], n),
            "overdue": rng.random(n) < 0.2,
        }
    )


def test_counts_per_level_agree_with_a_plain_loop(grid):
    df = incidents(grid)
    cells = grid.locate_many(df.lon.to_numpy(), df.lat.to_numpy())
    cell_of = {c.code: c for c in grid.cells}
    for level in ("cell", "community", "street"):
        out = rollup(grid, df, level)
        want: dict[str, list[int]] = {}
        for cell, t, over in zip(cells, df.type, df.overdue, strict=True):
            if cell == "":
                continue
            key = cell if level == "cell" else getattr(cell_of[cell], level)
            row = want.setdefault(key, [0, 0, 0])
            row[0] += 1
            row[1] += int(over)
            row[2] += int(t == "street_vending")
        got = {r.code: [r.total, r.overdue, r.type_street_vending] for r in out.itertuples() if r.total}
        assert got == want
        assert out.attrs["outside"] == int((cells == "").sum()) > 0
        assert out.crs.to_epsg() == 4326 and len(out) == {"cell": 120, "community": 8, "street": 3}[level]
        assert out[[c for c in out.columns if c.startswith("state_")]].sum(axis=1).equals(out["total"])


def test_list_of_dicts_with_cells_and_unknown_codes(grid):
    code = grid.cells[5].code
    rows = [
        {"cell": code, "type": "illegal_parking", "state": "new", "overdue": True},
        {"cell": code, "type": "illegal_parking", "state": "closed"},
        {"cell": "999", "type": "illegal_parking"},  # not a cell of this grid
        {"cell": None, "lon": 0.0, "lat": 0.0},  # located: outside
    ]
    out = rollup(grid, rows, "cell", by=["type"]).set_index("code")
    assert out.loc[code, "total"] == 2 and out.loc[code, "overdue"] == 1
    assert out.loc[code, "type_illegal_parking"] == 2 and out["total"].sum() == 2
    assert out.attrs["outside"] == 2 and not any(c.startswith("state_") for c in out.columns)
    assert out.loc[code, "per_km2"] == pytest.approx(2 / (grid.cells[5].area_m2 / 1e6), rel=1e-3)


def test_empty_and_bad_input(grid):
    out = rollup(grid, [], "street")
    assert out["total"].sum() == 0 and len(out) == 3
    with pytest.raises(IncidentsError, match="'cell' column or 'lon' and 'lat'"):
        locate_incidents(grid, [{"type": "x"}])
    with pytest.raises(ValueError, match="unknown breakdown"):
        rollup(grid, [], "cell", by=["colour"])
