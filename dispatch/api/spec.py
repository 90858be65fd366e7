"""Print the API's OpenAPI document: ``python -m dispatch.api.spec > docs/openapi.json``.

Built without servers: an in-memory store, and a Redis client that is never used.
"""

from __future__ import annotations

import json
import sys
import tempfile

import redis

from cityops.config import CityOpsConfig
from dispatch.api.app import create_api
from dispatch.store import open_store
from gis.generate import generate_grid


def openapi_document() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = CityOpsConfig.model_validate({"data_dir": tmp, "store": {"url": "sqlite://"}})
        _, sessions = open_store("sqlite://")
        app = create_api(cfg, sessions, generate_grid(cells=10, communities=2, streets=1), redis.Redis())
        return app.openapi()


if __name__ == "__main__":
    json.dump(openapi_document(), sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")
