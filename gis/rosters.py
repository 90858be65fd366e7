"""Inspectors and cameras per cell, from the config or CSV files, checked against a grid.

A roster entry lists cell, community or street codes (an inspector covers every cell whose code
starts with one of them); a code that is none of this grid's cells, communities, streets or its
district is an error naming the row and the code. A camera must stand inside a cell, and when a
cell code is given it must be that cell.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from cityops.config import CameraConfig, InspectorConfig, format_errors
from gis.grid import OUTSIDE, Grid
from gis.report import Issue

ROSTER_COLUMNS = ("id", "name", "phone", "cells", "role")  # plus shift_start, shift_end
_SPLIT = re.compile(r"[;,|\s]+")


@dataclass(frozen=True)
class CameraSite:
    """Where a camera stands, for the map and the per-cell counts (the config's camera, or a CSV row)."""

    id: str
    name: str
    lon: float
    lat: float
    cell: str = ""  # as declared; empty: located from lon/lat


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        return [
            (i, {k.strip().lower(): (v or "").strip() for k, v in r.items() if k})
            for i, r in enumerate(reader, 2)
        ]


def read_roster_csv(path: Path) -> tuple[list[InspectorConfig], list[Issue]]:
    """Columns ``id, name, phone, cells`` (codes separated by ``;``), optional ``shift_start``,
    ``shift_end`` (HH:MM) and ``role``; a row that does not validate is an error naming its line."""
    out, issues = [], []
    for line, r in _rows(Path(path)):
        data: dict = {k: r[k] for k in ROSTER_COLUMNS if r.get(k)}
        data["cells"] = [c for c in _SPLIT.split(r.get("cells", "")) if c]
        if r.get("shift_start") or r.get("shift_end"):
            data["shift"] = {k: r[f"shift_{k}"] for k in ("start", "end") if r.get(f"shift_{k}")}
        try:
            out.append(InspectorConfig.model_validate(data))
        except ValidationError as exc:
            issues.append(Issue("error", "roster", f"{path} line {line}: {format_errors(exc, data)}"))
    return out, issues


def validate_roster(roster: Sequence[InspectorConfig], grid: Grid, source: str = "roster") -> list[Issue]:
    known = _known_codes(grid)
    issues = []
    for n, insp in enumerate(roster):
        where = f"{source} entry {n + 1} ({insp.id})"
        if not insp.cells:
            issues.append(Issue("warning", "roster", f"{where}: covers no cell"))
        for code in insp.cells:
            if code not in known:
                msg = f"{where}: unknown code {code} (not a cell, community or street of this grid)"
                issues.append(Issue("error", "unknown-code", msg))
    uncovered = len(grid) - len(inspectors_per_cell(roster, grid))
    if roster and uncovered:
        issues.append(Issue("warning", "roster", f"{uncovered} of {len(grid)} cells have no inspector"))
    return issues


def _known_codes(grid: Grid) -> set[str]:
    return {
        *grid.by_code,
        *(c.community for c in grid.cells),
        *(c.street for c in grid.cells),
        grid.district_code,
    }


def inspectors_per_cell(roster: Sequence[InspectorConfig], grid: Grid) -> dict[str, list[str]]:
    """Cell code -> ids of the inspectors covering it (prefix match), for cells with at least one."""
    out: dict[str, list[str]] = {}
    for insp in roster:
        prefixes = tuple(c for c in insp.cells if c)
        if not prefixes:
            continue
        for code in grid.codes:
            if code.startswith(prefixes):
                out.setdefault(code, []).append(insp.id)
    return out


def sites_from_config(cameras: Sequence[CameraConfig]) -> list[CameraSite]:
    return [CameraSite(c.id, c.name, c.lon, c.lat) for c in cameras]


def read_cameras_csv(path: Path) -> tuple[list[CameraSite], list[Issue]]:
    """Columns ``id, lon, lat``, optional ``name`` and ``cell``."""
    out, issues = [], []
    for line, r in _rows(Path(path)):
        try:
            lon, lat = float(r.get("lon", "")), float(r.get("lat", ""))
        except ValueError:
            issues.append(
                Issue(
                    "error",
                    "camera",
                    f"{path} line {line}: lon/lat must be numbers, got {r.get('lon')!r}, {r.get('lat')!r}",
                )
            )
            continue
        if not r.get("id"):
            issues.append(Issue("error", "camera", f"{path} line {line}: no camera id"))
            continue
        out.append(CameraSite(r["id"], r.get("name", ""), lon, lat, r.get("cell", "")))
    return out, issues


def validate_cameras(sites: Sequence[CameraSite], grid: Grid, source: str = "cameras") -> list[Issue]:
    issues = []
    located = grid.locate_many([s.lon for s in sites], [s.lat for s in sites]) if sites else []
    for n, (s, cell) in enumerate(zip(sites, located, strict=True)):
        where = f"{source} entry {n + 1} ({s.id})"
        if s.cell and s.cell not in grid.by_code:
            issues.append(Issue("error", "unknown-code", f"{where}: unknown cell code {s.cell}"))
        elif cell == OUTSIDE:
            issues.append(Issue("error", "camera", f"{where}: {s.lon:.6f},{s.lat:.6f} is outside every cell"))
        elif s.cell and s.cell != cell:
            issues.append(
                Issue("error", "camera", f"{where}: declared in cell {s.cell} but stands in {cell}")
            )
    return issues


def cameras_per_cell(sites: Sequence[CameraSite], grid: Grid) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    located = grid.locate_many([s.lon for s in sites], [s.lat for s in sites]) if sites else []
    for s, cell in zip(sites, located, strict=True):
        if cell != OUTSIDE:
            out.setdefault(cell, []).append(s.id)
    return out
