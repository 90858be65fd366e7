"""The grid a running system uses: the configured file, or the generated default (cached on disk)."""

from __future__ import annotations

from pathlib import Path

from cityops.config import GridConfig
from gis.generate import generate_grid
from gis.grid import Grid


def default_grid_path(data_dir: Path, cfg: GridConfig) -> Path:
    return data_dir / "grid" / f"cells-{cfg.seed}-{cfg.cells}.geojson"


def load_grid(cfg: GridConfig, data_dir: Path) -> Grid:
    if cfg.source:
        return Grid.load_geojson(Path(cfg.source))
    path = default_grid_path(data_dir, cfg)
    if path.exists():
        return Grid.load_geojson(path)
    grid = generate_grid(
        bbox=cfg.bbox, cells=cfg.cells, communities=cfg.communities, streets=cfg.streets, seed=cfg.seed
    )
    grid.save_geojson(path)
    return grid
