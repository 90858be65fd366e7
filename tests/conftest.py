"""Shared fixtures: a real Redis server, a store per test, small configs, and output folders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from cityops.config import CityOpsConfig
from streams.bus import connect
from streams.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
OUTPUT = ROOT / "test-output"


def pytest_configure(config):
    OUTPUT.mkdir(exist_ok=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """TEST_REDIS_URL when given, else a real embedded server (Valkey from the wheel) for this session."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as srv:
        yield srv.url


@pytest.fixture
def redis_url(redis_server):
    r = connect(redis_server)
    r.flushdb()
    yield redis_server
    r.close()


@pytest.fixture
def r(redis_url):
    client = connect(redis_url)
    yield client
    client.close()


def postgres_url() -> str | None:
    """A fresh database on the local PostgreSQL when it answers, else None."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
        import psycopg
    except (OSError, ImportError):
        return None
    name = f"cityops_test_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(
            "host=127.0.0.1 user=postgres dbname=postgres", autocommit=True, connect_timeout=2
        ) as c:
            c.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        return None
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cityops.db"
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    return url


SMALL_GRID = {"cells": 60, "communities": 6, "streets": 2, "seed": 7}
ROSTER = [
    {"id": "insp-a", "name": "A", "cells": ["130203001"]},
    {"id": "insp-b", "name": "B", "cells": ["130203002"]},
]


def make_config(tmp_path: Path, store_url: str | None = None, **overrides) -> CityOpsConfig:
    data = {
        "data_dir": str(tmp_path / "data"),
        "grid": SMALL_GRID,
        "roster": ROSTER,
        "store": {"url": store_url or f"sqlite:///{tmp_path}/cityops.db"},
        **overrides,
    }
    return CityOpsConfig.model_validate(data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StaffApi:
    """The real dispatch API app in-process on a test's store and Redis (see the ``staff_api`` fixture)."""

    def __init__(self, app, cfg: CityOpsConfig, sessions, grid, r) -> None:
        self.app, self.cfg, self.sessions, self.grid, self.r = app, cfg, sessions, grid, r

    def client(self, address: str = "testclient"):
        """A client whose requests come from ``address`` (the peer address the API sees)."""
        from fastapi.testclient import TestClient

        return TestClient(self.app, client=(address, 50000))

    def login(self, client, username: str, password: str | None = None) -> dict[str, str]:
        res = client.post(
            "/api/v1/login", json={"username": username, "password": password or f"{username}-password"}
        )
        assert res.status_code == 200, res.text
        return {"Authorization": f"Bearer {res.json()['token']}"}


@pytest.fixture
def staff_api(tmp_path, redis_url, store_url, monkeypatch):
    """Factory: ``staff_api(users=[(name, role, inspector_id)], **config overrides)`` builds the real API
    app (store migrated, grid loaded, Redis connected); each user's password is ``<name>-password``."""
    from dispatch.accounts import create_user
    from dispatch.api.app import create_api
    from dispatch.store import open_store
    from gis.default import load_grid

    monkeypatch.setenv("CITYOPS_SECRET", "test-secret")
    engines, clients = [], []

    def make(users=(), **overrides) -> StaffApi:
        cfg = make_config(tmp_path, store_url, **overrides)
        engine, sessions = open_store(cfg.store_url)
        engines.append(engine)
        r = connect(redis_url)
        clients.append(r)
        grid = load_grid(cfg.grid, cfg.data)
        for name, role, insp in users:
            create_user(sessions, name, f"{name}-password", role, insp)
        return StaffApi(create_api(cfg, sessions, grid, r), cfg, sessions, grid, r)

    yield make
    for r in clients:
        r.close()
    for engine in engines:
        engine.dispose()


def _exif_jpeg(size=(64, 32), orientation=6, appended: bytes = b"") -> bytes:
    """A JPEG whose left half is red and right half blue, carrying GPS coordinates, camera make and
    model ("SpyCam Corp", "Model X-1000"), an EXIF orientation and a comment; ``appended`` after it."""
    import io

    from PIL import ExifTags, Image

    img = Image.new("RGB", size, (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCam Corp"
    exif[ExifTags.Base.Model] = "Model X-1000"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (39.0, 38.0, 12.5),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (118.0, 11.0, 3.25),
    }
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=95, comment=b"shot at home")
    return buf.getvalue() + appended


@pytest.fixture
def exif_jpeg():
    """The maker of a privacy-leaking citizen photo (see ``_exif_jpeg``)."""
    return _exif_jpeg


# -- servers and apps shared by several test modules ------------------------------------------------
@pytest.fixture
def board(tmp_path, redis_url):
    """The real board (``cityops dashboard``) as a separate process."""
    from tests.helpers import wait_http

    cfg = make_config(tmp_path)
    port = free_port()
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True)))
    env = {**os.environ, "REDIS_URL": redis_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cityops", "dashboard", "--config", str(cfg_path), "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/live")
        yield cfg, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


API_ROSTER = [
    {"id": "insp-a", "name": "A", "cells": ["130203001"]},
    {"id": "insp-b", "name": "B", "cells": ["130203002"]},
    {"id": "sup-1", "name": "S", "cells": ["130203"], "role": "supervisor"},
]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def api(tmp_path, redis_url, store_url, monkeypatch):
    """The dispatch API in-process (TestClient) on the test's store, with inspectors alice and bob and
    the operator olga; yields ``(client, grid, clock, r, sessions, cfg)``."""
    from fastapi.testclient import TestClient

    from dispatch.accounts import create_user
    from dispatch.api.app import create_api
    from dispatch.store import open_store
    from gis.default import load_grid

    monkeypatch.setenv("CITYOPS_SECRET", "test-secret")
    cfg = make_config(
        tmp_path, store_url, roster=API_ROSTER, dispatch={"max_upload_mb": 0.5, "citizen_rate_per_min": 8}
    )
    engine, sessions = open_store(cfg.store_url)
    grid = load_grid(cfg.grid, cfg.data)
    clock = Clock(datetime.now(UTC))
    r = connect(redis_url)
    app = create_api(cfg, sessions, grid, r, clock)
    for user, role, insp in [
        ("alice", "inspector", "insp-a"),
        ("bob", "inspector", "insp-b"),
        ("olga", "operator", None),
    ]:
        create_user(sessions, user, f"{user}-password", role, insp)
    with TestClient(app) as client:
        yield client, grid, clock, r, sessions, cfg
    engine.dispose()


@pytest.fixture
def api_url(tmp_path, redis_url):
    """The real API (``cityops api``) as a separate process, with the operator olga."""
    from dispatch.accounts import create_user
    from dispatch.store import open_store
    from tests.helpers import wait_http

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


@pytest.fixture
def intake_setup(tmp_path, store_url):
    """``(cfg, grid, sessions, intake)`` on the test's store (SQLite, and PostgreSQL when it answers)."""
    from dispatch.store import open_store
    from dispatch.wiring import build_dispatch
    from gis.default import load_grid

    cfg = make_config(tmp_path, store_url)
    engine, sessions = open_store(cfg.store_url)
    grid = load_grid(cfg.grid, cfg.data)
    yield cfg, grid, sessions, build_dispatch(cfg, grid, sessions=sessions).intake
    engine.dispose()


# -- IoT (issue 14) -----------------------------------------------------------------------------------
@pytest.fixture
def mqtt_broker(tmp_path):
    """A real Mosquitto (Debian's package, installed by ./run test) in the test's folder."""
    from iot.broker import BrokerError, EmbeddedMosquitto, find_mosquitto

    try:
        find_mosquitto()
    except BrokerError as exc:
        pytest.skip(f"mosquitto cannot run here: {exc}")
    with EmbeddedMosquitto(tmp_path / "mqtt") as broker:
        yield broker
