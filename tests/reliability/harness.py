"""What the fault tests and ``bench/load_sustained.py`` share: real ``cityops`` service processes,
a config file per run, detections that never merge, store and stream counts, process memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import func, select

from cityops.config import CityOpsConfig
from dispatch.store import Incident, IncidentEventRow, ProcessedDetection, make_engine
from gis.grid import Grid
from streams.bus import publish_many
from streams.schemas import INCIDENTS, Detection, decode

ROOT = Path(__file__).resolve().parents[2]


def write_config(cfg: CityOpsConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True), allow_unicode=True))
    return path


def wait_until(cond, timeout: float, step: float = 0.2):
    """Poll ``cond`` until it returns something truthy (returned) or ``timeout`` seconds pass (None)."""
    end = time.monotonic() + timeout
    while True:
        got = cond()
        if got or time.monotonic() >= end:
            return got or None
        time.sleep(step)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class Service:
    """``python -m cityops NAME --config PATH`` as a child process, its output in ``log``."""

    def __init__(self, name: str, config: Path, redis_url: str, log_dir: Path, *args: str) -> None:
        self.name, self.config, self.redis_url, self.args = name, config, redis_url, args
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Service:
        self.starts += 1
        env = {**os.environ, "REDIS_URL": self.redis_url, "PYTHONUNBUFFERED": "1"}
        with self.log.open("a") as out:
            out.write(f"--- start {self.starts} ---\n")
            out.flush()
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cityops",
                    *self.name.split(),
                    "--config",
                    str(self.config),
                    *self.args,
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(30)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def spread_detections(grid: Grid, n: int, prefix: str, start: int = 0, type_: str = "illegal_parking"):
    """``n`` detections at distinct points of the grid's cells: none merges with another when the
    config's ``dispatch.merge_radius_m`` is 0."""
    cells = grid.cells
    now = datetime.now(UTC)
    out = []
    for i in range(start, start + n):
        p = cells[i % len(cells)].geometry.representative_point()
        k = i // len(cells)
        out.append(
            Detection(
                id=f"{prefix}-{i}",
                type=type_,
                lon=p.x + (k % 100) * 1e-6,
                lat=p.y + (k // 100) * 1e-6,
                observed_at=now,
            )
        )
    return out


def publish_chunks(r, stream: str, dets: list[Detection], chunk: int = 1000) -> list[str]:
    ids: list[str] = []
    for i in range(0, len(dets), chunk):
        ids += publish_many(r, stream, dets[i : i + chunk], maxlen=10_000_000)
    return ids


class StoreCounter:
    """Row counts read while the services write (SQLite: a reader engine that never blocks them)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, writer=False)

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as c:
            one = lambda q: c.execute(q).scalar()  # noqa: E731
            return {
                "incidents": one(select(func.count()).select_from(Incident)),
                "processed": one(select(func.count()).select_from(ProcessedDetection)),
                "created_events": one(
                    select(func.count())
                    .select_from(IncidentEventRow)
                    .where(IncidentEventRow.action == "created")
                ),
                "unpublished": one(
                    select(func.count())
                    .select_from(IncidentEventRow)
                    .where(IncidentEventRow.published.is_(False))
                ),
            }

    def processed_ids(self) -> set[str]:
        with self.engine.connect() as c:
            return set(c.execute(select(ProcessedDetection.detection_id)).scalars())

    def incident_counts(self) -> Counter:
        """How many detections each incident absorbed (1: created only)."""
        with self.engine.connect() as c:
            return Counter(dict(c.execute(select(Incident.id, Incident.count)).all()))

    def close(self) -> None:
        self.engine.dispose()


def incident_stream(r) -> dict[str, int]:
    """Created events on the incidents stream: distinct incidents, and repeats of the same event."""
    seen: Counter = Counter()
    last = "-"
    while True:
        entries = r.xrange(INCIDENTS, min=last, count=5000)
        if last != "-":
            entries = entries[1:]
        if not entries:
            break
        for _eid, fields in entries:
            msg = decode(fields)
            if msg.action == "created":
                seen[msg.incident_id] += 1
        last = entries[-1][0]
    return {"created_incidents": len(seen), "repeated_events": sum(v - 1 for v in seen.values())}


def answers(url: str) -> bool:
    """Whether ``url`` answers at all (a service that is up)."""
    try:
        urllib.request.urlopen(url, timeout=3).read()
        return True
    except OSError:
        return False


def get_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def pending(r, stream: str, group: str) -> int:
    return r.xpending(stream, group)["pending"]


class Answering:
    """While a fault lasts (``with Answering(urls, services) as watch``), poll every HTTP ``url`` each
    ``step`` seconds from a thread and check the other ``services`` stay alive; ``watch.answered`` is
    True only if every poll got a 2xx answer and no watched process died."""

    def __init__(self, urls: list[str], services: list | tuple = (), step: float = 0.25) -> None:
        import threading

        self.urls, self.services, self.step = urls, list(services), step
        self.rounds, self.polls, self.failures = 0, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.rounds += 1
            for url in self.urls:
                try:
                    with urllib.request.urlopen(url, timeout=5) as resp:
                        ok = 200 <= resp.status < 300
                except OSError as exc:
                    ok, resp = False, exc
                self.polls += 1
                if not ok:
                    self.failures.append(f"{url}: {resp}")
            for svc in self.services:
                if not svc.alive:
                    self.failures.append(f"{svc.name} exited")
            self._stop.wait(self.step)

    def __enter__(self) -> Answering:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def answered(self) -> bool:
        return self.rounds > 0 and not self.failures
