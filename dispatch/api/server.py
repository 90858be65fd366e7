"""Build the API for a running system (store, grid, Redis from the config)."""

from __future__ import annotations

from fastapi import FastAPI

from cityops.config import CityOpsConfig
from dispatch.api.app import create_api
from dispatch.store import open_store
from gis.default import load_grid
from streams.bus import connect


def build_app(cfg: CityOpsConfig, redis_url: str) -> FastAPI:
    _, sessions = open_store(cfg.store_url)
    return create_api(cfg, sessions, load_grid(cfg.grid, cfg.data), connect(redis_url))
