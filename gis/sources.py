"""Reading vector files (GeoJSON, GeoPackage, Shapefile) after checking they are what they claim."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd

DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile"}
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SHP_MAGIC = (9994).to_bytes(4, "big")


class SourceError(ValueError):
    """A file that cannot be read as a vector layer; ``str()`` names the file and the reason."""


def sniff(path: Path) -> str:
    """The OGR driver for ``path``, after checking its content matches its extension."""
    path = Path(path)
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise SourceError(f"{path}: unsupported format {path.suffix!r} (use .geojson, .gpkg or .shp)")
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(100)
    if not head:
        raise SourceError(f"{path}: the file is empty")
    if driver == "GPKG" and not head.startswith(_SQLITE_MAGIC):
        raise SourceError(f"{path}: not a GeoPackage (not an SQLite database; starts with {head[:16]!r})")
    if driver == "ESRI Shapefile":
        if not head.startswith(_SHP_MAGIC):
            raise SourceError(f"{path}: not a Shapefile (the header's file code is not 9994)")
        for ext in (".shx", ".dbf"):
            if not _sidecar(path, ext):
                raise SourceError(f"{path}: the Shapefile's {ext} file is missing")
    if driver == "GeoJSON":
        _check_geojson(path)
    return driver


def _sidecar(path: Path, ext: str) -> Path | None:
    for cand in (path.with_suffix(ext), path.with_suffix(ext.upper())):
        if cand.is_file():
            return cand
    return None


def _check_geojson(path: Path) -> None:
    try:
        data = json.loads(path.read_bytes())
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not GeoJSON (not UTF-8 text: {exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{path}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from exc
    kind = data.get("type") if isinstance(data, dict) else type(data).__name__
    if kind not in ("FeatureCollection", "Feature"):
        raise SourceError(f"{path}: JSON but not a GeoJSON FeatureCollection (type {kind!r})")


def read_vector(path: Path, *, layer: str | None = None, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read one layer. ``crs`` is assumed when the file names none (a Shapefile without .prj);
    a GeoJSON without a CRS is WGS84 (RFC 7946); any other file without one is an error."""
    import pyogrio

    path = Path(path)
    driver = sniff(path)
    try:
        if layer is None and driver == "GPKG":
            layers = [name for name, geom in pyogrio.list_layers(path) if geom]
            if len(layers) > 1:
                raise SourceError(
                    f"{path}: {len(layers)} layers ({', '.join(layers)}); name one with --layer"
                )
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    except SourceError:
        raise
    except Exception as exc:  # pyogrio's errors carry GDAL's message: pass it on with the file name
        raise SourceError(f"{path}: cannot be read as {driver}: {exc}") from exc
    if gdf.crs is None:
        if crs:
            gdf = gdf.set_crs(crs)
        elif driver == "GeoJSON":
            gdf = gdf.set_crs("EPSG:4326")
        else:
            raise SourceError(
                f"{path}: no coordinate reference system (a missing .prj?); give one with --crs"
            )
    return gdf


def to_wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf if gdf.crs.equals("EPSG:4326") else gdf.to_crs("EPSG:4326")
