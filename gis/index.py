"""Bulk point-in-polygon lookup: a uniform bucket raster in front of an STRtree.

Most points fall in a bucket that lies wholly inside one polygon (or touches none); those are
answered by array indexing alone. A point in a bucket that straddles an edge is tested against the
bucket's few candidate polygons (found once with the STRtree) with ``intersects_xy``, so a point on
an edge or vertex is found in every polygon that covers it; the lowest polygon index wins.

Thread safety: the API's thread pool and the board's threaded Flask server look points up from many
threads at once. The raster is built in the constructor (never lazily on a first query), after which
it is read only. The geometric test runs under a lock: GEOS builds a prepared polygon's point locator
and an STRtree's nodes lazily on first use, and two threads doing that at once crash the process.
"""

from __future__ import annotations

import threading

import numpy as np
import shapely

OUT = -1  #: index returned for a point outside every polygon
_MIXED = -2  # bucket that needs a geometric test


class BucketIndex:
    def __init__(self, geoms: np.ndarray, buckets_per_polygon: int = 32) -> None:
        self.geoms = geoms
        self.tree = shapely.STRtree(geoms)
        self._per = buckets_per_polygon
        self._geos = threading.Lock()  # serialises the GEOS calls that touch shared prepared geometries
        self._owner = self._build()

    def _build(self) -> np.ndarray:
        x0, y0, x1, y1 = shapely.total_bounds(self.geoms)
        w, h = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
        n = max(1, self._per * len(self.geoms))
        nx = max(1, round(np.sqrt(n * w / h)))
        ny = max(1, round(n / nx))
        self.x0, self.y0, self.dx, self.dy, self.nx, self.ny = x0, y0, w / nx, h / ny, nx, ny
        self.x1, self.y1 = x1, y1
        gx, gy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
        eps = 1e-9 * max(w, h)  # expanded boxes: a rounding error in the bucket index stays safe
        bx0 = x0 + gx.ravel() * self.dx - eps
        by0 = y0 + gy.ravel() * self.dy - eps
        boxes = shapely.box(bx0, by0, bx0 + self.dx + 2 * eps, by0 + self.dy + 2 * eps)
        box_idx, geom_idx = self.tree.query(boxes, predicate="intersects")
        counts = np.bincount(box_idx, minlength=len(boxes))
        owner = np.full(len(boxes), _MIXED, dtype=np.int64)
        owner[counts == 0] = OUT
        single = counts[box_idx] == 1
        b, g = box_idx[single], geom_idx[single]
        inside = shapely.contains_properly(self.geoms[g], boxes[b])
        owner[b[inside]] = g[inside]
        # candidates of the mixed buckets, CSR-style, ascending polygon index within a bucket
        keep = owner[box_idx] == _MIXED
        order = np.lexsort((geom_idx[keep], box_idx[keep]))
        self._cand = geom_idx[keep][order]
        n_cand = np.bincount(box_idx[keep], minlength=len(boxes))
        self._start = np.concatenate([[0], np.cumsum(n_cand)[:-1]])
        self._count = n_cand
        self._owner = owner
        return owner

    def query(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Polygon index per point (``OUT`` when outside every polygon)."""
        xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        owner = self._owner
        out = np.full(len(xs), OUT, dtype=np.int64)
        within = (xs >= self.x0) & (xs <= self.x1) & (ys >= self.y0) & (ys <= self.y1)
        ix = np.minimum(((xs[within] - self.x0) / self.dx).astype(np.int64), self.nx - 1)
        iy = np.minimum(((ys[within] - self.y0) / self.dy).astype(np.int64), self.ny - 1)
        found = owner[iy * self.nx + ix]
        out[within] = found
        mixed = np.flatnonzero(within)[found == _MIXED]
        if len(mixed):
            bucket = (iy * self.nx + ix)[found == _MIXED]
            out[mixed] = self._test_candidates(xs[mixed], ys[mixed], bucket)
        return out

    def _test_candidates(self, xs: np.ndarray, ys: np.ndarray, bucket: np.ndarray) -> np.ndarray:
        n = self._count[bucket]
        pt = np.repeat(np.arange(len(xs)), n)
        # position of each (point, candidate) pair within its point's run
        offset = np.arange(len(pt)) - np.repeat(np.cumsum(n) - n, n)
        geom = self._cand[self._start[bucket][pt] + offset]
        with self._geos:
            hit = shapely.intersects_xy(self.geoms[geom], xs[pt], ys[pt])
        out = np.full(len(xs), OUT, dtype=np.int64)
        # candidates ascend within a point's run: write them in reverse so the lowest hit stays
        hp, hg = pt[hit][::-1], geom[hit][::-1]
        out[hp] = hg
        return out
