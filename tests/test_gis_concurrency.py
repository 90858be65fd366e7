"""Point-to-cell lookups from many threads at once on a grid nobody has queried yet (issue 16 item 1).

The API's thread pool and the board's threaded server look points up concurrently right after start.
A crash there is a SIGSEGV inside GEOS, so the threads run in a child process: a segfault fails the
test instead of killing pytest."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from cityops.config import GridConfig
from gis.default import default_grid_path, load_grid

ROUNDS = 20
THREADS = 32

CHILD = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path

    import numpy as np
    import shapely

    from gis.grid import Grid

    path, rounds, threads = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    ref = Grid.load_geojson(path)
    w, s, e, n = ref.bounds
    rng = np.random.default_rng(16)
    # random points and cell vertices (these fall in buckets that straddle an edge: the GEOS path)
    verts = shapely.get_coordinates(ref.geoms[:: max(1, len(ref) // 200)])
    pts = np.concatenate([np.column_stack([rng.uniform(w, e, 400), rng.uniform(s, n, 400)]), verts[:400]])
    expected = [str(ref.locate_many(pts[i::threads, 0], pts[i::threads, 1]).tolist()) for i in range(threads)]
    for r in range(rounds):
        grid = Grid.load_geojson(path)  # fresh: nothing looked up yet
        barrier = threading.Barrier(threads)
        got = [None] * threads

        def work(i):
            barrier.wait()
            mine = pts[i::threads]
            first = [grid.locate(float(x), float(y)) for x, y in mine[:4]]  # single lookups, then bulk
            bulk = grid.locate_many(mine[:, 0], mine[:, 1]).tolist()
            assert first == bulk[:4], (first, bulk[:4])
            got[i] = str(bulk)

        pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        bad = [i for i in range(threads) if got[i] != expected[i]]
        if bad:
            sys.exit(f"round {r}: threads {bad} got different cells than a single thread")
    print("rounds ok", rounds)
    """
)


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory):
    data = tmp_path_factory.mktemp("grid-data")
    cfg = GridConfig()  # the default 2,257-cell grid a fresh `cityops up` uses
    load_grid(cfg, data)
    return default_grid_path(data, cfg)


def test_first_lookups_from_32_threads_at_once_do_not_crash(grid_file):
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(grid_file), str(ROUNDS), str(THREADS)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (
        f"child exited with {proc.returncode} (-11 is SIGSEGV)\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    )
    assert f"rounds ok {ROUNDS}" in proc.stdout
