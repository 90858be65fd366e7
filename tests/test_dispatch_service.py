"""The dispatch service's SLA clock runs on its own timer: escalations need only the database, so
they go on while Redis is away (the events wait in the outbox)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from cityops.clock import utcnow
from dispatch.service import DispatchService
from dispatch.store import Incident
from dispatch.wiring import build_dispatch
from gis.default import load_grid
from streams.schemas import Detection
from tests.conftest import free_port, make_config


def test_sla_escalates_while_redis_is_away(tmp_path):
    cfg = make_config(tmp_path, sla={"accept_s": 1}, dispatch={"sla_sweep_s": 0.2})
    grid = load_grid(cfg.grid, cfg.data)
    parts = build_dispatch(cfg, grid)
    p = next(c for c in grid.cells if c.street == "130203001").geometry.representative_point()
    det = Detection(
        id="late", type="illegal_parking", lon=p.x, lat=p.y, observed_at=utcnow() - timedelta(seconds=30)
    )
    iid = parts.intake.handle(det).incident_id
    parts.close()

    svc = DispatchService(cfg, f"redis://127.0.0.1:{free_port()}/0")  # nobody listens there
    stop = threading.Event()
    worker = threading.Thread(target=svc.run, args=(stop,), daemon=True)
    worker.start()
    try:
        deadline, breaches = time.monotonic() + 30, []
        while time.monotonic() < deadline and "accept" not in breaches:
            with svc.sessions() as s:
                breaches = s.get(Incident, iid).breaches or []
            time.sleep(0.2)
        assert "accept" in breaches, "no escalation while Redis was away"
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()
