"""The supervisor's restart policy, its state file and ``cityops status`` (quick; no stack started)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cityops.cli import main
from cityops.config import CityOpsConfig
from cityops.service_state import health, read_state, state_path, write_state
from cityops.supervisor import RestartPolicy, describe_exit


def test_backoff_doubles_to_the_cap_and_resets_after_a_long_run():
    p = RestartPolicy(initial_s=1, max_s=30, reset_after_s=60, startup_s=5, crash_loop_exits=100)
    assert [p.on_exit(20) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert p.on_exit(60) == 1  # ran 60 s: back to the first wait
    assert p.on_exit(59) == 2
    assert p.on_exit(3600) == 1


def test_policy_from_config_defaults():
    p = RestartPolicy.from_config(CityOpsConfig().supervisor)
    assert (p.initial_s, p.max_s, p.reset_after_s) == (1.0, 30.0, 60.0)
    assert p.crash_loop_exits >= 2 and p.startup_s > 0


def test_crash_loop_needs_quick_exits_in_a_row():
    p = RestartPolicy(initial_s=1, max_s=30, reset_after_s=60, startup_s=5, crash_loop_exits=3)
    assert p.on_exit(1) == 1 and p.on_exit(2) == 2
    assert p.on_exit(40) == 4  # a run past start-up breaks the series
    assert p.on_exit(0.5) == 8 and p.on_exit(0.5) == 16
    assert p.on_exit(0.5) is None  # third quick exit in a row: give up
    one = RestartPolicy(startup_s=5, crash_loop_exits=1)
    assert one.on_exit(4.9) is None
    assert RestartPolicy(startup_s=5, crash_loop_exits=1).on_exit(5) == 1


def test_exit_descriptions_name_the_signal():
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL (signal 9)"
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV (signal 11)"
    assert describe_exit(2) == "exited with code 2"
    assert describe_exit(None) == "did not start"


def test_supervisor_settings_are_validated():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        CityOpsConfig.model_validate({"supervisor": {"crash_loop_exits": 0}})
    with pytest.raises(ValidationError):
        CityOpsConfig.model_validate({"supervisor": {"backoff_max": 3}})


@pytest.fixture
def fake_supervisor():
    """A live process whose command line names cityops, standing in for ``cityops up``."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "cityops-up"])
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + 30
    while b"cityops-up" not in cmdline.read_bytes():  # until exec has replaced the forked pytest
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield proc.pid
    proc.kill()
    proc.wait()


def _doc(pid, **states):
    return {
        "supervisor_pid": pid,
        "updated_at": "2026-01-01T00:00:00+00:00",
        "services": {
            name: {"state": st, "pid": 1, "restarts": 0, "last_exit": None, "last_exit_code": None}
            for name, st in states.items()
        },
    }


@pytest.fixture
def cfg_file(tmp_path):
    path = tmp_path / "cityops.yaml"
    path.write_text(f"data_dir: {tmp_path / 'data'}\n")
    return path


def test_state_file_is_replaced_whole(tmp_path):
    path = state_path(tmp_path)
    write_state(path, _doc(1, api="running"))
    write_state(path, _doc(2, api="restarting"))
    assert read_state(path)["supervisor_pid"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["services.json"]  # no temporary left
    path.write_text("{half")
    assert read_state(path) is None


def test_health_names_degraded_services(tmp_path, fake_supervisor):
    assert health(tmp_path) == {
        "supervised": False,
        "degraded": [],
        "note": "no supervisor state file (started alone)",
    }
    write_state(state_path(tmp_path), _doc(fake_supervisor, dispatch="running", vision="restarting"))
    h = health(tmp_path)
    assert h["supervised"] and h["degraded"] == ["vision"]
    assert h["services"] == {"dispatch": "running", "vision": "restarting"}
    write_state(state_path(tmp_path), _doc(os.getpid(), vision="restarting"))  # pytest: no cityops
    assert health(tmp_path)["degraded"] == [] and not health(tmp_path)["supervised"]


def test_status_exit_codes(cfg_file, tmp_path, fake_supervisor, capsys):
    data = tmp_path / "data"
    assert main(["status", "--config", str(cfg_file)]) == 3
    assert "not running" in capsys.readouterr().out
    write_state(state_path(data), _doc(fake_supervisor, dispatch="running", dashboard="running"))
    assert main(["status", "--config", str(cfg_file)]) == 0
    out = capsys.readouterr().out
    assert "state 状态" in out and "running 运行中" in out and "dashboard" in out
    write_state(state_path(data), _doc(fake_supervisor, dispatch="running", dashboard="restarting"))
    assert main(["status", "--config", str(cfg_file)]) == 1
    assert "degraded 降级: dashboard" in capsys.readouterr().out
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    time.sleep(0.1)
    write_state(state_path(data), _doc(dead.pid, dispatch="running"))
    assert main(["status", "--config", str(cfg_file)]) == 3
    assert f"supervisor pid {dead.pid} is gone" in capsys.readouterr().out


def test_state_file_is_json(tmp_path):
    write_state(state_path(tmp_path), _doc(5, api="failed"))
    assert json.loads(state_path(tmp_path).read_text())["services"]["api"]["state"] == "failed"


def test_healthz_of_api_and_board_name_degraded_services(tmp_path, redis_url, fake_supervisor, monkeypatch):
    from fastapi.testclient import TestClient

    from dashboard.app import create_app
    from dashboard.live import LiveState
    from dispatch.api.app import create_api
    from dispatch.store import open_store
    from gis.default import load_grid
    from streams.bus import connect
    from tests.conftest import make_config

    monkeypatch.setenv("CITYOPS_SECRET", "test-secret")
    cfg = make_config(tmp_path)
    engine, sessions = open_store(cfg.store_url)
    grid = load_grid(cfg.grid, cfg.data)
    board = create_app(cfg, LiveState(redis_url), grid).server.test_client()
    with TestClient(create_api(cfg, sessions, grid, connect(redis_url))) as api:
        get = {
            "api": lambda: (lambda res: (res.status_code, res.json()))(api.get("/healthz")),
            "board": lambda: (lambda res: (res.status_code, res.get_json()))(board.get("/healthz")),
        }
        for name, call in get.items():  # started alone: no state file, still ok
            code, body = call()
            assert code == 200, name
            assert body == {
                "ok": True,
                "supervised": False,
                "degraded": [],
                "note": "no supervisor state file (started alone)",
            }, name
        write_state(state_path(cfg.data), _doc(fake_supervisor, api="running", vision="restarting"))
        for name, call in get.items():
            code, body = call()
            assert code == 200 and body["ok"] is True, name
            assert body["degraded"] == ["vision"], name
            assert body["services"] == {"api": "running", "vision": "restarting"}
    engine.dispose()
