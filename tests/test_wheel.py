"""The wheel works outside the checkout: built, installed into a fresh virtualenv (dependencies from
this one, the checkout nowhere on the path), `cityops demo` starts, serves the stylesheet and applies
the migrations, with its data in the working directory rather than in site-packages."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import time

import httpx
import pytest

from tests.conftest import OUTPUT, ROOT, free_port


def run(*cmd, **kw) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
    return res.stdout


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy, so no build/ folder is left (or reused) in the checkout
    junk = (".git", ".venv", "data", "test-output", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(*junk))
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(tmp),
        str(src),
    )
    (wheel,) = tmp.glob("cityops-*.whl")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    py = venv / "bin" / "python"
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(py),
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        str(wheel),
    )
    # the dependencies: this environment's packages as a plain path entry (its .pth files, among them
    # the editable install of the checkout, are not processed there)
    purelib = run(str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    with open(os.path.join(purelib, "cityops-deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "CITYOPS_", "REDIS_URL", "VIRTUAL_ENV"))
    }


def test_the_wheel_carries_its_files(wheel_venv, tmp_path):
    where = run(
        str(wheel_venv / "bin" / "python"),
        "-c",
        "import cityops, dispatch.migrate as m; from cityops.resources import ASSETS, DEMO_CONFIG, checkout_root;"
        "print(cityops.__file__); print(checkout_root()); print(sorted(p.name for p in ASSETS.iterdir()));"
        "print(DEMO_CONFIG.is_file()); print(sorted(p.name for p in (m.MIGRATIONS / 'versions').glob('*.py')))",
        cwd=tmp_path,
        env=clean_env(),
    ).splitlines()
    assert where[0].startswith(str(wheel_venv)) and where[1] == "None"
    assert "'board.css'" in where[2] and where[3] == "True" and "0001_initial_schema.py" in where[4]


def test_demo_from_the_wheel_serves_the_stylesheet_and_migrates(wheel_venv, tmp_path):
    port = free_port()
    log = (OUTPUT / "wheel-demo.log").open("w")
    proc = subprocess.Popen(
        [str(wheel_venv / "bin" / "cityops"), "demo", "--seconds", "120", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        css, deadline = None, time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/assets/board.css", timeout=2)
                if r.status_code == 200:
                    css = r.text
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert css and "{" in css, f"no stylesheet from the wheel's board; see {log.name}"
        db = tmp_path / "cityops-data" / "cityops.db"
        with sqlite3.connect(db) as con:
            (version,) = con.execute("select version_num from alembic_version").fetchone()
        assert version  # the packaged migrations ran
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
