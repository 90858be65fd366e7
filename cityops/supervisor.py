"""``cityops up`` / ``cityops demo``: start Redis when none is configured, then the services.

Each service runs as its own process (as it would in production), started with the effective
config written under the data directory. If one of them exits, the rest are stopped and the exit
is reported; on SIGINT/SIGTERM everything stops, the embedded Redis last.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from cityops.config import CameraConfig, CityOpsConfig
from gis.default import load_grid
from streams.embedded import EmbeddedRedis, _die_with_parent
from vision.sources import demo_clip_camera, is_live, make_demo_clip

log = logging.getLogger(__name__)
SERVICES = ("dispatch", "api", "vision", "dashboard")
DEMO_PASSWORD = "cityops-demo"


def demo_config(cfg: CityOpsConfig) -> CityOpsConfig:
    """Drop sample-clip cameras whose files are missing; with none left, watch a generated clip."""
    keep = [c for c in cfg.cameras if is_live(c.source) or Path(c.source).is_file()]
    for c in cfg.cameras:
        if c not in keep:
            log.warning("demo: %s not found, camera %s left out", c.source, c.id)
    if not keep:
        clip = make_demo_clip(cfg.data / "media" / "demo-street.avi")
        log.warning("demo: no sample clip available; watching the generated clip %s", clip)
        keep = [CameraConfig.model_validate(demo_clip_camera(clip))]
    return cfg.model_copy(update={"cameras": keep})


def demo_accounts(cfg: CityOpsConfig) -> list[str]:
    """Demo logins (password ``cityops-demo``): an operator, and one account per roster entry."""
    from sqlalchemy import func, select

    from dispatch.accounts import create_user
    from dispatch.store import User, open_store

    engine, sessions = open_store(cfg.store_url)
    try:
        with sessions() as s:
            if s.scalar(select(func.count()).select_from(User)):
                return []
        made = [("operator", "operator", None)]
        made += [(i.id, i.role, i.id) for i in cfg.roster]
        for name, role, insp in made:
            create_user(sessions, name, DEMO_PASSWORD, role, insp if role == "inspector" else None)
        return [name for name, _, _ in made]
    finally:
        engine.dispose()


def write_effective(cfg: CityOpsConfig, path: Path) -> Path:
    data = cfg.model_dump(mode="json", exclude_none=True)
    data["data_dir"] = str(cfg.data)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        "# written by 'cityops up'; edit the source config instead\n"
        + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    tmp.replace(path)
    return path


def run_stack(
    cfg: CityOpsConfig, *, demo: bool = False, seconds: float | None = None, open_port: int | None = None
) -> int:
    if demo:
        cfg = demo_config(cfg)
    if open_port:
        cfg = cfg.model_copy(update={"dashboard": cfg.dashboard.model_copy(update={"port": open_port})})
    data = cfg.data
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    redis_srv = None
    url = cfg.redis_url
    if url:
        log.info("using Redis at %s", url)
    else:
        redis_srv = EmbeddedRedis(data / "redis").start()
        url = redis_srv.url
        log.info("started embedded Redis on %s (append-only file in %s)", url, data / "redis")
    procs: dict[str, subprocess.Popen] = {}
    code = 0
    try:
        grid = load_grid(cfg.grid, data)  # generate once, before the services read it
        from dispatch.store import open_store

        open_store(cfg.store_url)[0].dispose()  # migrate once, before the services open the store
        if demo:
            names = demo_accounts(cfg)
            if names:
                log.info("demo accounts (password %r): %s", DEMO_PASSWORD, ", ".join(names))
        log.info("grid: %d unit cells", len(grid))
        eff = write_effective(cfg, data / "effective-config.yaml")
        env = {**os.environ, "REDIS_URL": url, "CITYOPS_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
        for name in SERVICES:
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "cityops", name, "--config", str(eff)],
                env=env,
                preexec_fn=_die_with_parent,
            )
        board = f"http://{cfg.dashboard.host}:{cfg.dashboard.port}/"
        api = f"http://{cfg.dispatch.host}:{cfg.dispatch.port}/docs"
        print(f"\nCityOps is up: board at {board}  API at {api}  (Ctrl-C to stop)\n", flush=True)
        deadline = time.monotonic() + seconds if seconds else None
        while not stop.is_set():
            dead = [(n, p.returncode) for n, p in procs.items() if p.poll() is not None]
            if dead:
                for n, rc in dead:
                    log.error("service %s exited with code %s; stopping the stack", n, rc)
                code = 1
                break
            if deadline and time.monotonic() >= deadline:
                break
            stop.wait(0.5)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for n, p in procs.items():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                log.warning("service %s did not stop in time; killing it", n)
                p.kill()
        if redis_srv:
            redis_srv.stop()
        log.info("stopped")
    return code
