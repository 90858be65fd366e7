"""The active grid in the data directory: one GeoJSON file replaced by an atomic rename."""

from __future__ import annotations

from pathlib import Path

from gis.grid import Grid


def grid_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "grid"


def active_grid_path(data_dir: Path) -> Path:
    return grid_dir(data_dir) / "active.geojson"


def activate(grid: Grid, data_dir: Path) -> Path:
    """Make ``grid`` the one the services load: written beside, then renamed over the old one, so
    a reader (or a crash) sees the previous grid or the new one, never a mix."""
    path = active_grid_path(data_dir)
    grid.save_geojson(path)
    return path


def load_active(data_dir: Path) -> Grid | None:
    path = active_grid_path(data_dir)
    return Grid.load_geojson(path) if path.is_file() else None
