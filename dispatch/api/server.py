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


def app_from_env() -> FastAPI:
    """For ``uvicorn --workers N``: each worker process builds its app from CITYOPS_CONFIG and REDIS_URL."""
    import os

    from cityops.config import load_config

    return build_app(load_config(os.environ["CITYOPS_CONFIG"]), os.environ["REDIS_URL"])
