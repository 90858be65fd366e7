"""Schemathesis over the whole OpenAPI spec against the real API process (``cityops api``):
whatever it sends, anonymous or as an operator, the API answers without a 5xx."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest
import yaml

from dispatch.accounts import create_user
from dispatch.store import open_store
from tests.conftest import OUTPUT, ROOT, free_port, make_config
from tests.test_end_to_end import wait_http


@pytest.fixture
def api_url(tmp_path, redis_url):
    port = free_port()
    cfg = make_config(tmp_path, roster=[{"id": "insp-a", "name": "A", "cells": ["130203"]}],
                      dispatch={"port": port, "citizen_rate_per_min": 100000})  # fmt: skip
    engine, sessions = open_store(cfg.store_url)
    create_user(sessions, "olga", "olga-password", "operator")
    engine.dispose()
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True)))
    env = {**os.environ, "REDIS_URL": redis_url, "CITYOPS_SECRET": "fuzz"}
    proc = subprocess.Popen([sys.executable, "-m", "cityops", "api", "--config", str(path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        (OUTPUT / "api-fuzz-server.log").write_text(out)


def login(url: str) -> str:
    req = urllib.request.Request(f"{url}/api/v1/login", data=json.dumps({"username": "olga", "password": "olga-password"}).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())["token"]


def test_schemathesis_finds_no_server_error(api_url):
    st = [sys.executable, "-m", "schemathesis.cli", "run", f"{api_url}/openapi.json", "--checks", "not_a_server_error",
          "--max-examples", os.environ.get("FUZZ_EXAMPLES", "20"), "--seed", "2257", "--no-color"]  # fmt: skip
    for headers in ([], ["-H", f"Authorization: Bearer {login(api_url)}"]):
        res = subprocess.run(st + headers, capture_output=True, text=True, timeout=600)
        (OUTPUT / f"schemathesis{'-operator' if headers else ''}.txt").write_text(res.stdout + res.stderr)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
        assert "operations" in res.stdout.lower() or "passed" in res.stdout.lower()
