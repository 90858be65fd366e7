"""Reliability suite: every test records its figures (load, faults, inputs, lost, duplicated, time to
recover); they are printed at the end of the run and kept in test-output/reliability-figures.jsonl."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import OUTPUT

_FIGURES: list[dict] = []
RUN = time.strftime("%Y-%m-%dT%H:%M:%S")  # rows of one run share it (bench/fault_table.py reads the last)


def is_long(path: str) -> bool:
    """Fault tests (``test_faults*.py``, ``test_vision_faults*.py``) run only when asked for."""
    name = path.rsplit("/", 1)[-1]
    return name.startswith(("test_faults", "test_vision_faults"))


def pytest_collection_modifyitems(config, items):
    """Mark this folder ``reliability``. The fault tests run only when the marker is selected
    (``./run reliability`` or ``pytest -m reliability``); the hostile-input tests (~30 s) always run."""
    asked = "reliability" in (config.getoption("markexpr") or "")
    keep, skipped = [], []
    for item in items:
        if "/reliability/" in f"/{item.nodeid}":
            item.add_marker(pytest.mark.reliability)
            if not asked and is_long(item.nodeid.split("::")[0]):
                skipped.append(item)
                continue
        keep.append(item)
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = keep


@pytest.fixture
def figures(request):
    """A dict the test fills with its figures; printed in the run's summary."""
    row: dict = {}
    yield row
    if row:
        row = {"test": request.node.name, "run": RUN, **row}
        _FIGURES.append(row)
        with (OUTPUT / "reliability-figures.jsonl").open("a") as f:
            f.write(json.dumps(row, default=str) + "\n")


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for row in _FIGURES:
        test = row["test"]
        rest = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("test", "run"))
        terminalreporter.write_line(f"{test}: {rest}")


class Stack:
    """A private embedded Redis (AOF on; the test may stop and restart it) and the services a test
    starts; everything is stopped at teardown and the logs are kept under test-output/."""

    def __init__(self, tmp_path, name: str) -> None:
        from streams.embedded import EmbeddedRedis

        self.tmp = tmp_path
        self.redis = EmbeddedRedis(tmp_path / "redis").start()
        self.logs = OUTPUT / "reliability" / name
        self.logs.mkdir(parents=True, exist_ok=True)
        for old in self.logs.glob("*.log"):
            old.unlink()
        self.services: list = []
        self.config = None

    @property
    def url(self) -> str:
        return self.redis.url

    def configure(self, cfg):
        """Write ``cfg`` (generate its grid and migrate its store first, once, before any service)."""
        from dispatch.store import open_store
        from gis.default import load_grid
        from tests.reliability.harness import write_config

        self.cfg, self.grid = cfg, load_grid(cfg.grid, cfg.data)
        open_store(cfg.store_url)[0].dispose()
        self.config = write_config(cfg, self.tmp / "config.yaml")
        return self

    def service(self, name: str, *args: str):
        from tests.reliability.harness import Service

        svc = Service(name, self.config, self.url, self.logs, *args)
        self.services.append(svc)
        return svc.start()

    def restart_redis(self, downtime_s: float, sig=None) -> float:
        """Stop Redis (SIGTERM, or ``sig``), keep it down ``downtime_s``, start it on the same port and
        data dir; returns the monotonic time it answered again."""
        import time

        from streams.embedded import EmbeddedRedis

        if sig is None:
            self.redis.stop()
        else:
            self.redis.proc.send_signal(sig)
            self.redis.proc.wait(10)
            self.redis.proc = None
        time.sleep(downtime_s)
        self.redis = EmbeddedRedis(self.tmp / "redis", port=self.redis.port).start()
        return time.monotonic()

    def close(self) -> None:
        for svc in self.services:
            svc.stop()
        self.redis.stop()


@pytest.fixture
def stack(tmp_path, request):
    s = Stack(tmp_path, request.node.name.replace("[", "-").replace("]", ""))
    yield s
    s.close()
