"""Which advisory locks an intake transaction takes so that concurrent consumers never both create an
incident where one merge is due.

The map is cut, per detection type, into cells about ``cell_m`` on a side (rows of latitude, each row
cut into columns about ``cell_m`` wide at that row's latitude). A detection locks every cell that its
merge square (the merge radius around it, widened in longitude towards the pole) touches. Any point
within the merge radius lies inside that square, so its own cell is among the locked ones: two
detections that could merge, or that could both merge into one incident, always share a lock and are
handled one after the other; detections far apart never wait for each other (hash collisions aside).

Pure functions; :mod:`dispatch.intake` takes the keys with ``pg_advisory_xact_lock`` on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

M_PER_DEG_LAT = 111_000.0  # slightly under the true 111,195 m: the squares err on the large side
MAX_LAT = 89.0
SLACK = 1.01  # the haversine distance against the flat square: 1 % covers the curvature


def _cos(lat: float) -> float:
    return max(math.cos(math.radians(min(abs(lat), MAX_LAT))), 0.01)


def _row_step(cell_m: float) -> float:
    return cell_m / M_PER_DEG_LAT


def _col_step(row: int, row_step: float) -> float:
    return row_step / _cos((row + 0.5) * row_step)


def _key(type_: str, row: int, col: int) -> int:
    """A signed 64-bit advisory lock key for one cell of one type."""
    digest = hashlib.blake2b(f"cityops-merge:{type_}:{row}:{col}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def home_key(type_: str, lon: float, lat: float, cell_m: float) -> int:
    """The key of the cell the point itself lies in."""
    rs = _row_step(max(cell_m, 1.0))
    row = math.floor(lat / rs)
    return _key(type_, row, math.floor(lon / _col_step(row, rs)))


def lock_keys(type_: str, lon: float, lat: float, radius_m: float, cell_m: float) -> set[int]:
    """The keys a detection at (``lon``, ``lat``) must hold before looking for an incident to merge
    into: the cells its merge square touches (one to four when ``cell_m`` >= 2 x ``radius_m``).
    ``cell_m`` below the radius is raised to it, so a detection never takes more than nine keys."""
    cell_m = max(cell_m, radius_m, 1.0)
    rs = _row_step(cell_m)
    reach = radius_m * SLACK / M_PER_DEG_LAT + 1e-9
    lat_lo, lat_hi = lat - reach, lat + reach
    reach_lon = reach / _cos(max(abs(lat_lo), abs(lat_hi)))
    keys = set()
    for row in range(math.floor(lat_lo / rs), math.floor(lat_hi / rs) + 1):
        cs = _col_step(row, rs)
        for col in range(math.floor((lon - reach_lon) / cs), math.floor((lon + reach_lon) / cs) + 1):
            keys.add(_key(type_, row, col))
    return keys


def batch_lock_keys(dets: Iterable, radius_m: float, cell_m: float) -> list[int]:
    """Every key a batch of detections needs, sorted: all transactions take them in this one order,
    so two batches wait for each other but never deadlock."""
    keys: set[int] = set()
    for d in dets:
        keys |= lock_keys(d.type, d.lon, d.lat, radius_m, cell_m)
    return sorted(keys)
