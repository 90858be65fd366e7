"""Serve the board: live state from Redis, the grid, and the Dash app."""

from __future__ import annotations

import logging

from cityops.config import CityOpsConfig
from dashboard import plotly_bundle
from dashboard.api_client import ApiClient
from dashboard.app import create_app
from dashboard.live import LiveState, Seed, SeedUnavailable
from dispatch.accounts import load_secret
from dispatch.api.addresses import board_key
from gis.default import load_grid

log = logging.getLogger(__name__)


def api_seed(api: ApiClient, key: str, recent_s: float) -> Seed:
    """The live state's snapshot of open and recent incidents, from the dispatch API."""

    def seed() -> list[dict]:
        res = api.board_snapshot(key, recent_s)
        if not res.ok:
            raise SeedUnavailable(f"{res.status} {res.error}")
        return res.data

    return seed


def serve(cfg: CityOpsConfig, redis_url: str, port: int | None = None) -> None:
    retention_s = cfg.dashboard.retention_h * 3600
    api = ApiClient(cfg.api_url, timeout=60.0)
    seed = api_seed(api, board_key(load_secret(cfg.data)), retention_s)
    live = LiveState(redis_url, retention_s=retention_s, seed=seed).start()
    grid = load_grid(cfg.grid, cfg.data)
    app = create_app(cfg, live, grid)
    app.ctx.geometry.prepare()  # the map's geometry before the first page asks for it
    plotly_bundle.prepared()  # and plotly.js, gzipped
    port = port or cfg.dashboard.port
    log.info("board on http://%s:%d/", cfg.dashboard.host, port)
    if not cfg.dashboard.live_token:
        log.info(
            "the wall board is open to whoever reaches this port (set dashboard.live_token to keep it for staff)"
        )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app.run(host=cfg.dashboard.host, port=port, debug=False, threaded=True)
