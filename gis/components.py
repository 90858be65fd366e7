"""The component registry (部件普查): a layer of city-management components (manhole covers, street
lamps, litter bins...) with their standard type code, position, owning department and state, read
from GeoJSON / GeoPackage / Shapefile and validated like the grid import: the whole layer is taken or
nothing changes. The active registry is one GeoJSON file in the data directory, replaced atomically.

Columns (case-insensitive; the first that exists is used):
  code      the component's identifier (标识码), unique          code, id, bsm, 标识码
  type      its standard component type (cityops/standard.yaml)  type, class, xlbm, 小类代码
  owner     the department id that owns it (optional)            owner, dept, department, qsdw, 权属单位
  state     完好 normal / 损坏 damaged / 丢失 missing / 占用 occupied / 废弃 retired (optional)
  name      a name (optional)                                     name, mc, 名称
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from gis.grid import OUTSIDE, Grid
from gis.report import Report
from gis.sources import SourceError, read_vector, to_wgs84

COLUMNS = {
    "code": ("code", "id", "bsm", "标识码"),
    "type": ("type", "class", "xlbm", "小类代码"),
    "owner": ("owner", "dept", "department", "qsdw", "权属单位"),
    "state": ("state", "zt", "状态"),
    "name": ("name", "mc", "名称"),
}
STATES = {"完好": "normal", "损坏": "damaged", "丢失": "missing", "占用": "occupied", "废弃": "retired"}
STATE_CODES = frozenset(STATES.values())


@dataclass(frozen=True)
class Component:
    code: str
    type: str
    lon: float
    lat: float
    cell: str
    owner: str = ""
    state: str = "normal"
    name: str = ""


def _column(columns: Iterable[str], field: str) -> str | None:
    by_lower = {str(c).lower(): c for c in columns}
    return next((by_lower[n.lower()] for n in COLUMNS[field] if n.lower() in by_lower), None)


def _text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def build_components(
    path: Path,
    grid: Grid,
    departments: Iterable[str] = (),
    *,
    layer: str | None = None,
    crs: str | None = None,
) -> tuple[list[Component] | None, Report]:
    """Read and check ``path``; the components are None when the report has errors."""
    from cityops.taxonomy import standard_types

    report = Report(source=str(path))
    try:
        raw = to_wgs84(read_vector(Path(path), layer=layer, crs=crs))
    except SourceError as exc:
        report.error("file", str(exc))
        return None, report
    if raw.empty:
        report.error("empty-layer", f"{path}: no features")
        return None, report
    cols = {f: _column(raw.columns, f) for f in COLUMNS}
    for field in ("code", "type"):
        if cols[field] is None:
            report.error("column", f"{path}: no {field} column (one of {', '.join(COLUMNS[field])})")
    if not report.ok:
        return None, report
    kinds = {code: vt for code, vt in standard_types().items() if vt.kind == "component"}
    known_departments = set(departments)
    seen: dict[str, int] = {}
    out = []
    points = []
    for n, row in enumerate(raw.itertuples(index=False), 1):
        rec = row._asdict()
        where = f"feature {n}"
        code = _text(rec.get(cols["code"]))
        kind = _text(rec.get(cols["type"]))
        owner = _text(rec.get(cols["owner"])) if cols["owner"] else ""
        state = _text(rec.get(cols["state"])) if cols["state"] else ""
        state = STATES.get(state, state.lower()) or "normal"
        name = _text(rec.get(cols["name"])) if cols["name"] else ""
        geom = rec.get("geometry")
        if not code:
            report.error("missing-code", f"{where}: no component code")
        elif code in seen:
            report.error("duplicate-code", f"{where}: code {code} repeats feature {seen[code]}")
        else:
            seen[code] = n
            where = f"{where} ({code})"
        if kind not in kinds:
            report.error("unknown-type", f"{where}: {kind!r} is no component type of the standard catalogue")
        if owner and known_departments and owner not in known_departments:
            report.error("unknown-owner", f"{where}: owner {owner!r} is no configured department")
        if state not in STATE_CODES:
            report.error(
                "state",
                f"{where}: state {state!r}; use one of {', '.join(STATES)} or {', '.join(sorted(STATE_CODES))}",
            )
        if geom is None or geom.is_empty or geom.geom_type != "Point":
            report.error(
                "geometry", f"{where}: a component is a point, got {getattr(geom, 'geom_type', 'nothing')}"
            )
            continue
        points.append((len(out), geom.x, geom.y))
        out.append(Component(code, kind, geom.x, geom.y, "", owner, state, name))
    cells = grid.locate_many([p[1] for p in points], [p[2] for p in points]) if points else []
    for (i, lon, lat), cell in zip(points, cells, strict=True):
        if cell == OUTSIDE:
            report.error("outside", f"component {out[i].code}: {lon:.6f},{lat:.6f} is outside every cell")
        out[i] = Component(**{**asdict(out[i]), "cell": cell})
    by_type: dict[str, int] = {}
    for c in out:
        by_type[c.type] = by_type.get(c.type, 0) + 1
    report.summary.append(
        f"{len(out)} component(s): "
        + ", ".join(f"{kinds[k].zh} {v}" for k, v in sorted(by_type.items()) if k in kinds)
    )
    return (out if report.ok else None), report


def registry_path(data_dir: Path) -> Path:
    return Path(data_dir) / "components" / "active.geojson"


def activate_components(components: list[Component], data_dir: Path) -> Path:
    """Make ``components`` the registry: written beside, then renamed over the old one."""
    path = registry_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [c.lon, c.lat]},
         "properties": {k: v for k, v in asdict(c).items() if k not in ("lon", "lat")}}
        for c in components
    ]  # fmt: skip
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), "utf-8"
    )
    os.replace(tmp, path)
    return path


def load_components(data_dir: Path) -> dict[str, Component]:
    path = registry_path(data_dir)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text("utf-8"))
    out = {}
    for f in data.get("features", []):
        lon, lat = f["geometry"]["coordinates"][:2]
        c = Component(lon=lon, lat=lat, **f["properties"])
        out[c.code] = c
    return out


class Registry:
    """The active registry, re-read when its file changes (an import by another process)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = registry_path(data_dir)
        self.data_dir = data_dir
        self._stamp: tuple | None = None
        self._items: dict[str, Component] = {}
        self._lock = threading.Lock()

    def all(self) -> dict[str, Component]:
        """Every component by code (read again only when the file changed; {} without a file)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)  # an import replaces the file: a new inode
        with self._lock:
            if stamp != self._stamp:
                self._items, self._stamp = load_components(self.data_dir), stamp
            return self._items

    def get(self, code: str) -> Component | None:
        return self.all().get(code)


_REGISTRIES: dict[Path, Registry] = {}
_REGISTRIES_LOCK = threading.Lock()


def registry_for(data_dir: Path) -> Registry:
    """The one :class:`Registry` of ``data_dir`` in this process (pages share its parsed copy)."""
    key = Path(data_dir).resolve()
    with _REGISTRIES_LOCK:
        return _REGISTRIES.setdefault(key, Registry(key))
