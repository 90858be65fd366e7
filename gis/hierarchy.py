"""Street and community aggregates of a grid's cells: dissolved outline, names, counts, area."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

Level = Literal["cell", "community", "street"]
LEVELS: tuple[Level, ...] = ("cell", "community", "street")


@dataclass(frozen=True)
class Unit:
    """A community (社区) or a street (街道): the union of its cells."""

    level: Level
    code: str
    name_zh: str
    name_en: str
    parent: str  # the street of a community; the district code of a street
    geometry: BaseGeometry
    cells: int
    communities: int  # 1 for a community
    area_m2: float


def aggregate(cells: Sequence, level: Literal["community", "street"], district_code: str = "") -> list[Unit]:
    """One :class:`Unit` per community or street, in code order. ``cells`` are :class:`gis.grid.Cell`."""
    groups: dict[str, list] = {}
    for c in cells:
        groups.setdefault(c.community if level == "community" else c.street, []).append(c)
    out = []
    for code in sorted(groups):
        members = groups[code]
        first = members[0]
        geom = _dissolve([c.geometry for c in members])
        if level == "community":
            names, parent, n_comm = (first.community_zh, first.community_en), first.street, 1
        else:
            names, parent = (first.street_zh, first.street_en), district_code
            n_comm = len({c.community for c in members})
        out.append(
            Unit(
                level=level,
                code=code,
                name_zh=names[0],
                name_en=names[1],
                parent=parent,
                geometry=geom,
                cells=len(members),
                communities=n_comm,
                area_m2=float(sum(c.area_m2 for c in members)),
            )
        )
    return out


def _dissolve(geoms: list[BaseGeometry]) -> BaseGeometry:
    """Union of adjacent cells; the fast coverage union when they form a valid coverage."""
    arr = np.asarray(geoms, dtype=object)
    if hasattr(shapely, "coverage_is_valid") and shapely.coverage_is_valid(arr):  # shapely >= 2.1
        return shapely.coverage_union_all(arr)
    return shapely.union_all(arr)
