"""Start CityOps services as real processes for browser and system tests."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import yaml

from cityops.config import CityOpsConfig
from tests.conftest import OUTPUT, ROOT
from tests.helpers import wait_http


def create_users(cfg: CityOpsConfig, *users: tuple) -> None:
    """Staff accounts in the config's store, ``(name, role[, roster or staff id])``; each password is
    ``<name>-password`` (as tests.helpers.login expects)."""
    from dispatch.accounts import create_user
    from dispatch.store import open_store

    engine, sessions = open_store(cfg.store_url)
    for name, role, *ident in users:
        create_user(sessions, name, f"{name}-password", role, *ident)
    engine.dispose()


def write_config(cfg: CityOpsConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True), allow_unicode=True))
    return path


@contextmanager
def services(
    cfg: CityOpsConfig,
    cfg_path: Path,
    redis_url: str,
    names: tuple[str, ...],
    secret: str = "test-secret",
    timeout: float = 60,
):
    """Run ``cityops <name> --config cfg_path`` for each name; waits (up to ``timeout`` s each) until
    the HTTP ones answer."""
    env = {**os.environ, "REDIS_URL": redis_url, "CITYOPS_SECRET": secret}
    procs = {}
    logs = {}
    try:
        for name in names:
            logs[name] = open(OUTPUT / f"service-{name}-{os.getpid()}.log", "w")  # noqa: SIM115
            procs[name] = subprocess.Popen([sys.executable, "-m", "cityops", name, "--config", str(cfg_path)], cwd=ROOT, env=env,
                                           stdout=logs[name], stderr=subprocess.STDOUT)  # fmt: skip
        if "api" in names:
            wait_http(f"http://127.0.0.1:{cfg.dispatch.port}/healthz", timeout=timeout)
        if "dashboard" in names:
            wait_http(f"http://127.0.0.1:{cfg.dashboard.port}/api/live", timeout=timeout)
        yield procs
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for f in logs.values():
            f.close()
