"""The district grid: district -> streets -> communities -> unit cells, and point-to-cell lookup."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

OUTSIDE = ""  #: the cell code returned for a point outside every cell


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


class Grid:
    """Unit cells with an STRtree for bulk point-in-cell queries."""

    def __init__(self, cells: list[Cell], district: str = "Lubei") -> None:
        if not cells:
            raise ValueError("a grid needs at least one cell")
        self.district = district
        self.cells = cells
        self.codes = np.array([c.code for c in cells], dtype=object)
        self.geoms = np.array([c.geometry for c in cells], dtype=object)
        self.by_code = {c.code: c for c in cells}
        shapely.prepare(self.geoms)
        self._tree = shapely.STRtree(self.geoms)

    def __len__(self) -> int:
        return len(self.cells)

    def locate(self, lon: float, lat: float) -> str:
        """The code of the cell containing the point, or :data:`OUTSIDE`."""
        return str(self.locate_many(np.array([lon]), np.array([lat]))[0])

    def locate_many(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Vectorized lookup; a point on a shared edge gets the lowest-indexed cell that covers it."""
        pts = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        pt_idx, cell_idx = self._tree.query(pts, predicate="intersects")
        out = np.full(len(pts), OUTSIDE, dtype=object)
        # reverse so that, for a point in several cells (edges), the lowest cell index is written last
        order = np.lexsort((-cell_idx, pt_idx))
        out[pt_idx[order]] = self.codes[cell_idx[order]]
        return out

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
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_geojson(), ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a grid

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
