"""The board's Flask server (issue 16 items 11 and 12), in-process with a real live state on Redis:
request bodies are capped (Content-Length or chunked), deeply nested JSON is a 400, and every answer
carries the security headers with a CSP that allows the board's own scripts only."""

from __future__ import annotations

import json

import pytest

from dashboard.app import create_app
from dashboard.live import LiveState
from gis.default import load_grid
from tests.conftest import make_config

HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")


@pytest.fixture
def board(tmp_path, redis_url):
    cfg = make_config(tmp_path, dashboard={"max_body_mb": 2})
    app = create_app(cfg, LiveState(redis_url), load_grid(cfg.grid, cfg.data))
    return app.server.test_client()


def test_big_bodies_are_refused(board):
    big = b"x" * 3_000_001
    for path in ("/_dash-update-component", "/_dash-update-component?lang=en"):
        res = board.post(path, data=big, content_type="application/json")
        assert res.status_code == 413, (path, res.status_code)
        assert "larger than 2 MB" in res.get_json()["detail"]


def test_deeply_nested_json_is_a_400(board):
    body = '{"output": "page.children", "inputs": ' + "[" * 200_000 + "]" * 200_000 + "}"
    res = board.post("/_dash-update-component", data=body, content_type="application/json")
    assert res.status_code == 400 and "nested too deeply" in res.get_json()["detail"]


def test_every_answer_has_the_security_headers(board):
    for path in ("/", "/console", "/api/live", "/evidence/evidence/nothing.jpg", "/no-such-page"):
        res = board.get(path)
        missing = [h for h in HEADERS if h not in res.headers]
        assert not missing, (path, missing)
    res = board.get("/")
    csp = dict(d.strip().split(" ", 1) for d in res.headers["Content-Security-Policy"].split(";"))
    assert "'unsafe-inline'" not in csp["script-src"] and "*" not in csp["script-src"]
    assert "'sha256-" in csp["script-src"]  # Dash's inline bootstrap, by hash
    assert csp["frame-ancestors"] == "'none'" and res.headers["X-Frame-Options"] == "DENY"
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    assert res.headers["Referrer-Policy"] == "same-origin"
    assert json.loads(board.get("/api/live").data)["incidents"] == []
