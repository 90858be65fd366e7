"""Logging out from the pages ends the login at the API (issue 16 item 6), in real headless Chromium
against real processes (API, board); a login ended elsewhere sends the page back to its login form."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from dispatch.accounts import create_user
from dispatch.store import open_store
from tests.conftest import ROOT, free_port, make_config
from tests.helpers import launch_browser
from tests.services import services, write_config


@pytest.fixture
def stack(tmp_path, redis_url):
    cfg = make_config(tmp_path, roster=[{"id": "insp-a", "name": "A", "cells": ["130203"]}],
                      dispatch={"port": free_port(), "account_check_s": 0.5},
                      dashboard={"port": free_port(), "refresh_ms": 500})  # fmt: skip
    engine, sessions = open_store(cfg.store_url)
    create_user(sessions, "olga", "olga-password", "operator")
    create_user(sessions, "ivan", "ivan-password", "inspector", "insp-a")
    engine.dispose()
    path = write_config(cfg, tmp_path / "cfg.yaml")
    with services(cfg, path, redis_url, ("api", "dashboard")):
        yield cfg, path


def api_status(cfg, token: str, path: str = "/api/v1/incidents") -> int:
    req = urllib.request.Request(
        f"http://127.0.0.1:{cfg.dispatch.port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status
    except urllib.error.HTTPError as exc:
        return exc.code


def stored_token(page, key: str, storage: str = "sessionStorage") -> str:
    data = json.loads(page.evaluate(f"{storage}.getItem('{key}')"))
    return data if isinstance(data, str) else data["token"]


@pytest.mark.browser
def test_console_and_inspector_logout_end_the_login(tmp_path, stack):
    from playwright.sync_api import expect, sync_playwright

    cfg, path = stack
    url = f"http://127.0.0.1:{cfg.dashboard.port}"
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()

        def console_login():
            page.fill("#console-user", "olga")
            page.fill("#console-password", "olga-password")
            page.click("#console-login")
            page.wait_for_selector("#console-table", state="visible", timeout=30000)
            # kept for the origin, so that a new tab is logged in too
            page.wait_for_function("() => localStorage.getItem('console-token') !== null", timeout=30000)
            return stored_token(page, "console-token", "localStorage")

        page.goto(url + "/console")
        token = console_login()
        assert api_status(cfg, token) == 200
        expect(page.locator("#console-logout")).to_have_text("退出登录")
        page.click("#console-logout")
        page.wait_for_selector("#console-login-box", state="visible", timeout=30000)
        assert api_status(cfg, token) == 401  # ended at the API, not only forgotten by the browser

        # ended elsewhere (the CLI, by an administrator): the console drops back to its login form
        token = console_login()
        out = subprocess.run([sys.executable, "-m", "cityops", "users", "logout", "olga", "--config", str(path)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert out.returncode == 0, out.stderr
        page.wait_for_selector("#console-login-box", state="visible", timeout=30000)
        expect(page.locator("#console-login-msg")).to_have_text("登录已失效，请重新登录", timeout=30000)
        assert api_status(cfg, token) == 401

        page.goto(url + "/inspector?lang=en")
        page.fill("#insp-username", "ivan")
        page.fill("#insp-password", "ivan-password")
        page.click("#insp-login-btn")
        page.wait_for_selector("#insp-main", state="visible", timeout=30000)
        token = stored_token(page, "insp-auth")
        assert api_status(cfg, token, "/api/v1/me/dispatches") == 200
        expect(page.locator("#insp-logout")).to_have_text("Log out")
        page.click("#insp-logout")
        page.wait_for_selector("#insp-login", state="visible", timeout=30000)
        assert api_status(cfg, token, "/api/v1/me/dispatches") == 401
        ctx.close()
