"""The grid a running system uses, in this order: the configured ``grid.source`` (validated like an
import), the active grid imported into the data directory (``cityops gis import``), or the seeded
default grid (generated once and cached on disk, keyed by its parameters and generator version)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cityops.config import GridConfig
from gis.generate import GENERATOR_VERSION, generate_grid
from gis.grid import Grid
from gis.store import grid_dir, load_active


class GridSourceError(ValueError):
    """The configured grid source does not validate; ``str()`` is the report."""


def default_grid_path(data_dir: Path, cfg: GridConfig) -> Path:
    key = f"v{GENERATOR_VERSION}|{cfg.seed}|{cfg.cells}|{cfg.communities}|{cfg.streets}|{cfg.bbox}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return grid_dir(data_dir) / f"default-{cfg.seed}-{cfg.cells}-{digest}.geojson"


def load_grid(cfg: GridConfig, data_dir: Path) -> Grid:
    if cfg.source:
        return _load_source(Path(cfg.source))
    active = load_active(data_dir)
    if active is not None:
        return active
    path = default_grid_path(data_dir, cfg)
    if path.exists():
        return Grid.load_geojson(path)
    grid = generate_grid(
        bbox=cfg.bbox, cells=cfg.cells, communities=cfg.communities, streets=cfg.streets, seed=cfg.seed
    )
    grid.save_geojson(path)
    return grid


def _load_source(path: Path) -> Grid:
    from gis.importer import ImportOptions, build_grid

    grid, report = build_grid(path, ImportOptions(district=path.stem))
    if grid is None:
        raise GridSourceError(f"grid.source does not validate:\n{report.text()}")
    return grid
