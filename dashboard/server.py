"""Serve the board: live state from Redis, the grid, and the Dash app."""

from __future__ import annotations

import logging

from cityops.config import CityOpsConfig
from dashboard.app import create_app
from dashboard.live import LiveState
from dashboard.maps import grid_layers
from gis.default import load_grid

log = logging.getLogger(__name__)


def serve(cfg: CityOpsConfig, redis_url: str, port: int | None = None) -> None:
    live = LiveState(redis_url, retention_s=cfg.dashboard.retention_h * 3600).start()
    grid = load_grid(cfg.grid, cfg.data)
    app = create_app(cfg, live, grid)
    grid_layers(cfg, grid)  # the map's geometry before the first page asks for it
    port = port or cfg.dashboard.port
    log.info("board on http://%s:%d/", cfg.dashboard.host, port)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app.run(host=cfg.dashboard.host, port=port, debug=False, threaded=True)
