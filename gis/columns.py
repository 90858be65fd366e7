"""Attribute mapping: which column of an imported layer holds the code, parent codes and names."""

from __future__ import annotations

from dataclasses import dataclass, fields

import geopandas as gpd
import pandas as pd

#: default column names tried in order (case-insensitive) for each field; the short forms are what
#: a Shapefile keeps (10 characters), the pinyin initials are usual in Chinese grid data
CANDIDATES: dict[str, tuple[str, ...]] = {
    "code": ("code", "cell_code", "grid_code", "cell", "wgbm", "wgdm", "网格编码", "网格代码"),
    "community": ("community", "community_code", "comm_code", "comm", "sqbm", "sqdm", "社区编码", "社区代码"),
    "street": ("street", "street_code", "jdbm", "jddm", "街道编码", "街道代码"),
    "community_zh": ("community_zh", "community_name", "comm_zh", "sqmc", "社区名称"),
    "community_en": ("community_en", "community_name_en", "comm_en"),
    "street_zh": ("street_zh", "street_name", "jdmc", "街道名称"),
    "street_en": ("street_en", "street_name_en"),
    "name_zh": ("name_zh", "name", "mc", "名称"),
    "name_en": ("name_en", "name_english", "ename"),
}
#: standard code lengths: district 6 digits + street 3 + community 3 + cell 3
STREET_LEN, COMMUNITY_LEN, CELL_LEN = 9, 12, 15


class MappingError(ValueError):
    """A column that was asked for (or is needed) and is not in the layer."""


@dataclass(frozen=True)
class Columns:
    """Explicit column names; ``None`` means: try :data:`CANDIDATES`."""

    code: str | None = None
    community: str | None = None
    street: str | None = None
    community_zh: str | None = None
    community_en: str | None = None
    street_zh: str | None = None
    street_en: str | None = None
    name_zh: str | None = None
    name_en: str | None = None


def resolve(columns: pd.Index, field: str, explicit: str | None, layer: str = "layer") -> str | None:
    """The column holding ``field``: ``explicit`` (which must exist) or the first default found."""
    lower = {str(c).lower(): str(c) for c in columns if c != "geometry"}
    if explicit:
        if explicit.lower() not in lower:
            raise MappingError(
                f"{layer}: no column {explicit!r} for {field}; columns are: {', '.join(sorted(lower.values()))}"
            )
        return lower[explicit.lower()]
    return next((lower[c] for c in CANDIDATES[field] if c in lower), None)


def code_text(values: pd.Series) -> pd.Series:
    """Codes as text: 130203001001001.0 (a float from a Shapefile) reads as '130203001001001'."""

    def one(v: object) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    return values.map(one).astype(object)


def map_cells(gdf: gpd.GeoDataFrame, cols: Columns, layer: str = "cells") -> gpd.GeoDataFrame:
    """A cells layer with the canonical columns (code, community, street and names as text, plus
    ``row``: the 1-based feature number in the file). A missing community or street column is
    derived from standard 15-digit codes; otherwise it is a :class:`MappingError`."""
    out = gpd.GeoDataFrame({"row": range(1, len(gdf) + 1)}, geometry=gdf.geometry.values, crs=gdf.crs)
    found = {f.name: resolve(gdf.columns, f.name, getattr(cols, f.name), layer) for f in fields(Columns)}
    if found["code"] is None:
        raise MappingError(_missing(layer, "code", gdf.columns))
    out["code"] = code_text(gdf[found["code"]]).values
    for field, length in (("community", COMMUNITY_LEN), ("street", STREET_LEN)):
        if found[field] is not None:
            out[field] = code_text(gdf[found[field]]).values
        elif out["code"].str.len().eq(CELL_LEN).all():
            out[field] = out["code"].str[:length]
        else:
            raise MappingError(
                _missing(layer, field, gdf.columns) + " (codes are not all 15 digits to derive it)"
            )
    for field in ("community_zh", "community_en", "street_zh", "street_en"):
        out[field] = gdf[found[field]].fillna("").astype(str).values if found[field] else ""
    return out


def map_units(gdf: gpd.GeoDataFrame, cols: Columns, layer: str, parent: bool) -> gpd.GeoDataFrame:
    """A communities (``parent=True``: with its street) or streets layer: row, code, [parent],
    name_zh, name_en."""
    out = gpd.GeoDataFrame({"row": range(1, len(gdf) + 1)}, geometry=gdf.geometry.values, crs=gdf.crs)
    code_field = "community" if parent else "street"
    col = resolve(gdf.columns, code_field, getattr(cols, code_field), layer) or resolve(
        gdf.columns, "code", cols.code, layer
    )
    if col is None:
        raise MappingError(_missing(layer, "code", gdf.columns))
    out["code"] = code_text(gdf[col]).values
    if parent:
        scol = resolve(gdf.columns, "street", cols.street, layer)
        out["parent"] = code_text(gdf[scol]).values if scol else out["code"].str[:STREET_LEN]
    zh_field, en_field = ("community_zh", "community_en") if parent else ("street_zh", "street_en")
    for name, fallbacks in (("name_zh", (zh_field, "name_zh")), ("name_en", (en_field, "name_en"))):
        c = next((c for f in fallbacks if (c := resolve(gdf.columns, f, getattr(cols, f), layer))), None)
        out[name] = gdf[c].fillna("").astype(str).values if c else ""
    return out


def _missing(layer: str, field: str, columns: pd.Index) -> str:
    names = ", ".join(str(c) for c in columns if c != "geometry")
    return (
        f"{layer}: no column for {field} (looked for {', '.join(CANDIDATES[field])}); "
        f"name it with --{field.replace('_', '-')}-col; columns are: {names}"
    )
