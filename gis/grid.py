"""The district grid: district -> streets -> communities -> unit cells, and point-to-cell lookup."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from gis.hierarchy import Unit, aggregate
from gis.index import OUT, BucketIndex

if TYPE_CHECKING:
    import geopandas as gpd

OUTSIDE = ""  #: the cell code returned for a point outside every cell


class once_property(cached_property):
    """A cached property computed once even when several threads ask for it at the same time (the
    board's threads and the API's pool do, right after start; Python 3.12 dropped the lock that
    ``cached_property`` had)."""

    def __init__(self, func) -> None:
        super().__init__(func)
        self._lock = threading.RLock()

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        with self._lock:
            return super().__get__(instance, owner)


@dataclass(frozen=True)
class Cell:
    code: str
    community: str
    community_zh: str
    community_en: str
    street: str
    street_zh: str
    street_en: str
    geometry: BaseGeometry
    area_m2: float


CELL_FIELDS = ("code", "community", "community_zh", "community_en", "street", "street_zh", "street_en")


class Grid:
    """Unit cells with a bucket raster and an STRtree for bulk point-in-cell queries, and the
    street and community aggregates (dissolved on first use)."""

    def __init__(self, cells: list[Cell], district: str = "Lubei") -> None:
        if not cells:
            raise ValueError("a grid needs at least one cell")
        self.district = district
        self.cells = cells
        self.codes = np.array([c.code for c in cells], dtype=object)
        self.geoms = np.array([c.geometry for c in cells], dtype=object)
        self.by_code = {c.code: c for c in cells}
        shapely.prepare(self.geoms)
        self._index = BucketIndex(self.geoms)
        self._tree = self._index.tree

    def __len__(self) -> int:
        return len(self.cells)

    @once_property
    def district_code(self) -> str:
        """The code prefix every street shares (e.g. ``130203``), or ``""``."""
        return os.path.commonprefix(sorted({c.street for c in self.cells}))[:6]

    @once_property
    def communities(self) -> list[Unit]:
        return aggregate(self.cells, "community", self.district_code)

    @once_property
    def streets(self) -> list[Unit]:
        return aggregate(self.cells, "street", self.district_code)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        w, s, e, n = shapely.total_bounds(self.geoms)
        return float(w), float(s), float(e), float(n)

    @property
    def area_m2(self) -> float:
        return float(sum(c.area_m2 for c in self.cells))

    @once_property
    def digest(self) -> str:
        """A short content hash (codes, names, geometry): the key of cached map layers."""
        h = hashlib.sha256(self.district.encode())
        for c in self.cells:
            h.update("\x1f".join(getattr(c, f) for f in CELL_FIELDS).encode())
            h.update(shapely.to_wkb(c.geometry, output_dimension=2, byte_order=1))
        return h.hexdigest()[:16]

    def locate(self, lon: float, lat: float) -> str:
        """The code of the cell containing the point, or :data:`OUTSIDE`."""
        return str(self.locate_many(np.array([lon]), np.array([lat]))[0])

    def locate_many(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Vectorized lookup; a point on a shared edge gets the lowest-indexed cell that covers it."""
        idx = self.locate_index(lons, lats)
        out = np.full(len(idx), OUTSIDE, dtype=object)
        hit = idx != OUT
        out[hit] = self.codes[idx[hit]]
        return out

    def locate_index(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Like :meth:`locate_many` but cell indexes, ``-1`` outside."""
        return self._index.query(np.atleast_1d(lons), np.atleast_1d(lats))

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """The cells with their attributes, in WGS84."""
        import geopandas as gpd

        rows = {f: [getattr(c, f) for c in self.cells] for f in CELL_FIELDS}
        rows["area_m2"] = [round(c.area_m2, 1) for c in self.cells]
        return gpd.GeoDataFrame(rows, geometry=list(self.geoms), crs="EPSG:4326")

    def to_geojson(self) -> dict:
        feats = []
        for c in self.cells:
            feats.append(
                {
                    "type": "Feature",
                    "id": c.code,
                    "properties": {
                        "code": c.code,
                        "community": c.community,
                        "community_zh": c.community_zh,
                        "community_en": c.community_en,
                        "street": c.street,
                        "street_zh": c.street_zh,
                        "street_en": c.street_en,
                        "area_m2": round(c.area_m2, 1),
                    },
                    "geometry": mapping(c.geometry),
                }
            )
        return {"type": "FeatureCollection", "name": self.district, "features": feats}

    def save_geojson(self, path: Path) -> None:
        write_atomic(Path(path), json.dumps(self.to_geojson(), ensure_ascii=False).encode())

    @classmethod
    def load_geojson(cls, path: Path) -> Grid:
        from gis.projection import area_m2

        data = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = []
        for f in data["features"]:
            p = f["properties"]
            geom = shape(f["geometry"])
            cells.append(
                Cell(
                    code=str(p["code"]),
                    community=str(p.get("community", "")),
                    community_zh=p.get("community_zh", ""),
                    community_en=p.get("community_en", ""),
                    street=str(p.get("street", "")),
                    street_zh=p.get("street_zh", ""),
                    street_en=p.get("street_en", ""),
                    geometry=geom,
                    area_m2=float(p.get("area_m2") or area_m2(geom)),
                )
            )
        return cls(cells, district=data.get("name", "district"))


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
