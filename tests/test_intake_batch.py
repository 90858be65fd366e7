"""Batched intake (issue 14, the IoT bench): a batch is read and written with a fixed number of
statements, and must decide exactly what one detection at a time decides. Checked on the real store
(SQLite, and PostgreSQL when it answers): a seeded mix of new findings, merges, device alarms and
clears, replays and repeated ids in one batch, compared row by row with the same detections taken
one at a time; through the real dispatch service, a batch mixing new alarms, merges into an incident
of an earlier batch, repeated message ids, a clear, a refused and an unreadable entry; and a batch
the database refuses part of, retried one detection at a time."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, inspect, select, text

from dispatch.intake import citizen_report
from dispatch.service import GROUP, DispatchService
from dispatch.store import CitizenReport, Incident, IncidentEventRow, ProcessedDetection, open_store
from dispatch.wiring import build_dispatch
from gis.default import load_grid
from streams.bus import publish_many
from streams.schemas import DEAD_LETTERS, DETECTIONS, INCIDENTS, Detection, decode, encode
from tests.conftest import make_config, postgres_url
from tests.helpers import T0, point_in

M_PER_DEG = 111_195.0


def moved(lon, lat, east_m, north_m=0.0):
    return lon + east_m / (M_PER_DEG * math.cos(math.radians(lat))), lat + north_m / M_PER_DEG


def second_store(tmp_path, store_url: str) -> str:
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/one-at-a-time.db"
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    return url


def rows(sessions, model, order) -> list[dict]:
    cols = [c.key for c in inspect(model).column_attrs]
    with sessions() as s:
        return [{c: getattr(o, c) for c in cols} for o in s.scalars(select(model).order_by(*order))]


def mixed_detections(grid, n: int = 240, seed: int = 14) -> tuple[list[Detection], dict[str, dict]]:
    """Camera findings, citizen reports and device alarms at a few spots (neighbours 10-40 m apart,
    so some merge and some do not), time moving on (sometimes past the merge window), ids repeated
    (a replay of an earlier one, or twice in a row), device clears with and without an open alarm."""
    rng = random.Random(seed)
    spots = []
    for street in ("130203001", "130203002"):
        _, lon, lat = point_in(grid, street)
        spots += [
            (lon, lat),
            moved(lon, lat, 10),
            moved(lon, lat, 25, 5),
            moved(lon, lat, 45),
            moved(lon, lat, -20, 20),
        ]
    spots.append((100.0, 30.0))  # outside the grid: stored unassigned
    dets: list[Detection] = []
    reports: dict[str, dict] = {}
    t = T0
    for i in range(n):
        t += timedelta(seconds=rng.choice([1, 5, 30, 120, 1000]))  # 1000 s: past the 900 s window
        roll = rng.random()
        if dets and roll < 0.1:
            dets.append(rng.choice(dets))  # a replay (same id and contents)
            continue
        lon, lat = rng.choice(spots)
        if roll < 0.45:
            d = Detection(id=f"cam-{i}", type=rng.choice(["illegal_parking", "exposed_rubbish"]), lon=lon,
                          lat=lat, observed_at=t, camera_id="cam-1", evidence=f"evidence/{i}.jpg")  # fmt: skip
        elif roll < 0.55:
            d = Detection(id=f"cit-{i}", source="citizen", type="exposed_rubbish", lon=lon, lat=lat,
                          observed_at=t, description=f"report {i}")  # fmt: skip
            reports[d.id] = citizen_report(d, f"secret-{i}", token=f"token-{i}", address=f"No. {i}")
        else:
            state = "clear" if rng.random() < 0.25 else "alarm"
            d = Detection(id=f"iot:dev-{i % 7}:m{i}", source="device", type="gas_leak", lon=lon, lat=lat,
                          observed_at=t, device_id=f"dev-{i % 7}", device_state=state, value=float(i),
                          description=f"gas {state}")  # fmt: skip
        dets.append(d)
        if rng.random() < 0.08:
            dets.append(d)  # the same message twice in a row (QoS 1 redelivery): same batch, likely
    return dets, reports


def test_a_batch_decides_exactly_as_one_detection_at_a_time(tmp_path, store_url):
    cfg = make_config(tmp_path, store_url)
    grid = load_grid(cfg.grid, cfg.data)
    dets, reports = mixed_detections(grid)
    stores = {}
    for name, url in (("batched", store_url), ("single", second_store(tmp_path, store_url))):
        engine, sessions = open_store(url)
        stores[name] = (engine, sessions, build_dispatch(cfg, grid, sessions=sessions).intake)
    try:
        _, sessions_b, batched = stores["batched"]
        _, sessions_s, single = stores["single"]
        statements = []
        event.listen(stores["batched"][0], "before_cursor_execute", lambda *a: statements.append(1))
        rng = random.Random(3)
        got_b, k, sizes = [], 0, []
        while k < len(dets):
            size = rng.choice([1, 2, 7, 30, 100])
            chunk = dets[k : k + size]
            before = len(statements)
            res = batched.handle_many(chunk, {d.id: reports[d.id] for d in chunk if d.id in reports})
            sizes.append((len(chunk), len(statements) - before, sum(r.created for r in res)))
            got_b += res
            k += size
        got_s = [single.handle(d, report=reports.get(d.id)) for d in dets]

        assert got_b == got_s
        created = sum(r.created for r in got_s)
        merged = sum(not r.created and not r.duplicate_message and r.incident_id for r in got_s)
        replays = sum(r.duplicate_message for r in got_s)
        cleared_nothing = sum(r.incident_id == 0 for r in got_s)
        assert min(created, merged, replays, cleared_nothing) > 0, (created, merged, replays, cleared_nothing)
        for model, order in (
            (Incident, [Incident.id]),
            (IncidentEventRow, [IncidentEventRow.id]),
            (ProcessedDetection, [ProcessedDetection.detection_id]),
            (CitizenReport, [CitizenReport.id]),
        ):
            assert rows(sessions_b, model, order) == rows(sessions_s, model, order), model.__name__
        actions = {e["action"] for e in rows(sessions_b, IncidentEventRow, [IncidentEventRow.id])}
        assert {"created", "assigned", "merged", "device_clear"} <= actions
        # no statement per detection for the look-ups (replays, merge partners, load) nor for the
        # merges and events: a batch of any size runs a dozen or so; SQLite adds one INSERT per new
        # incident (SA writes those a row at a time there: SQLite's RETURNING has no guaranteed order)
        sqlite = store_url.startswith("sqlite")
        assert max(n for n, _, _ in sizes) == 100
        assert all(st <= 20 + (created if sqlite else 0) for _, st, created in sizes), sizes
    finally:
        for engine, _, _ in stores.values():
            engine.dispose()


def test_merges_into_an_incident_made_earlier_in_the_same_batch_keep_its_window(intake_setup):
    """Each detection falls within the merge window of the one before, not of the first: every one
    merges, in one batch, because each merge moves the incident's clock on (as one at a time)."""
    cfg, grid, sessions, intake = intake_setup
    _, lon, lat = point_in(grid, "130203002")
    step = timedelta(seconds=cfg.dispatch.merge_window_s * 0.8)
    dets = [
        Detection(id=f"w{i}", type="illegal_parking", lon=lon, lat=lat, observed_at=T0 + i * step)
        for i in range(5)
    ]
    res = intake.handle_many(dets)
    assert [r.created for r in res] == [True, False, False, False, False]
    assert len({r.incident_id for r in res}) == 1
    with sessions() as s:
        inc = s.get(Incident, res[0].incident_id)
        assert inc.count == 5 and inc.version == 6 and inc.updated_at == T0 + 4 * step
        versions = s.scalars(select(IncidentEventRow.version).order_by(IncidentEventRow.id)).all()
    assert versions == [1, 2, 3, 4, 5, 6]


def _alarm(
    grid, device: str, msg: str, state: str = "alarm", *, street="130203001", east=0.0, type_="gas_leak"
):
    _, lon, lat = point_in(grid, street)
    lon, lat = moved(lon, lat, east)
    return Detection(id=f"iot:{device}:{msg}", source="device", type=type_, lon=lon, lat=lat,
                     observed_at=datetime.now(UTC), device_id=device, device_state=state, value=1.0,
                     description=f"{device} {state}")  # fmt: skip


def _events(r) -> list:
    return [decode(f) for _, f in r.xrange(INCIDENTS)]


def test_a_mixed_batch_through_the_service(tmp_path, r, redis_url, store_url):
    """One batch off the stream: a merge into an incident of an earlier batch, two new alarms (one
    with a second alarm merging into it), the same message id twice, an earlier batch's id again, a
    clear, a detection of an unknown type and an unreadable entry. Exactly the right incidents,
    events (each published once) and dead letters; nothing left pending."""
    cfg = make_config(tmp_path, store_url)
    svc = DispatchService(cfg, redis_url, consumer="t-batch")
    grid = svc.intake.grid
    sizes: list[int] = []
    handler = svc.consumer.batch_handler
    svc.consumer.batch_handler = lambda batch: (sizes.append(len(batch)), handler(batch))
    try:
        svc.consumer.setup()
        first = _alarm(grid, "gas-1", "1")
        publish_many(r, DETECTIONS, [first])
        while svc.step(block_ms=100):
            pass
        batch = [
            _alarm(grid, "gas-1", "2", east=3),  # merges into the earlier batch's incident
            _alarm(grid, "sos-2", "1", street="130203002", type_="sos_call"),  # new
            _alarm(grid, "sos-2", "1", street="130203002", type_="sos_call"),  # the same message again
            _alarm(grid, "sos-2", "2", street="130203002", type_="sos_call"),  # merges into the new one
            first,  # an earlier batch's message again
            _alarm(grid, "gas-1", "3", "clear"),  # recorded on the gas incident
            _alarm(grid, "leak-3", "1", "clear", street="130203002", type_="water_leak"),  # nothing open
            _alarm(grid, "gas-9", "1", type_="no_such_type"),  # refused: dead-lettered
            _alarm(grid, "gas-4", "1", east=800),  # new: too far to merge
        ]
        pipe = r.pipeline(transaction=True)
        for d in batch[:4]:
            pipe.xadd(DETECTIONS, encode(d))
        pipe.xadd(DETECTIONS, {"kind": "detection", "v": "2", "data": "{not json"})  # dead-lettered first
        for d in batch[4:]:
            pipe.xadd(DETECTIONS, encode(d))
        pipe.execute()
        while svc.step(block_ms=100):
            pass
    finally:
        svc.parts.close()
    assert sizes == [1, len(batch)], "the nine readable entries were not handled as one batch"
    with svc.sessions() as s:
        incs = {i.type + ":" + (i.description or "").split()[0]: i for i in s.scalars(select(Incident))}
        evs = s.execute(select(IncidentEventRow.incident_id, IncidentEventRow.version, IncidentEventRow.action,
                               IncidentEventRow.detection_id).order_by(IncidentEventRow.id)).all()  # fmt: skip
        keys = set(s.scalars(select(ProcessedDetection.detection_id)))
    assert sorted(incs) == ["gas_leak:gas-1", "gas_leak:gas-4", "sos_call:sos-2"]
    gas, sos, far = incs["gas_leak:gas-1"], incs["sos_call:sos-2"], incs["gas_leak:gas-4"]
    assert (gas.count, gas.version, sos.count, sos.version, far.count) == (2, 4, 2, 3, 1)
    by_incident: dict[int, list] = {}
    for iid, version, action, det_id in evs:
        by_incident.setdefault(iid, []).append((version, action, det_id))
    assert by_incident[gas.id] == [(1, "created", first.id), (2, "assigned", None),
                                   (3, "merged", "iot:gas-1:2"), (4, "device_clear", "iot:gas-1:3")]  # fmt: skip
    assert by_incident[sos.id] == [(1, "created", "iot:sos-2:1"), (2, "assigned", None),
                                   (3, "merged", "iot:sos-2:2")]  # fmt: skip
    assert [a for _, a, _ in by_incident[far.id]] == ["created", "assigned"]
    assert keys == {first.id, "iot:gas-1:2", "iot:sos-2:1", "iot:sos-2:2", "iot:gas-1:3", "iot:gas-4:1"}
    published = [(e.incident_id, e.version) for e in _events(r)]
    assert sorted(published) == sorted((iid, v) for iid, v, _, _ in evs)  # each event once
    dead = r.xrange(DEAD_LETTERS)
    assert len(dead) == 2
    assert any("not in the taxonomy" in f["error"] for _, f in dead)
    assert r.xpending(DETECTIONS, GROUP)["pending"] == 0


POISON_SQLITE = """CREATE TRIGGER poison BEFORE INSERT ON processed_detections
WHEN NEW.detection_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned detection'); END"""
POISON_PG = [
    """CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN
         IF NEW.detection_id = 'poison' THEN RAISE EXCEPTION 'poisoned detection'; END IF;
         RETURN NEW; END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER poison BEFORE INSERT ON processed_detections
       FOR EACH ROW EXECUTE FUNCTION poison()""",
]


def test_a_batch_the_store_refuses_is_taken_one_at_a_time(tmp_path, r, redis_url, store_url):
    """The database refuses one detection of the batch (a trigger): the batch's transaction leaves
    nothing behind, the others are taken one at a time and published once, the refused one stays
    pending (for a retry or another consumer), not half-written."""
    cfg = make_config(tmp_path, store_url)
    svc = DispatchService(cfg, redis_url, consumer="t-poison")
    with svc.sessions.begin() as s:
        for sql in [POISON_SQLITE] if store_url.startswith("sqlite") else POISON_PG:
            s.execute(text(sql))
    grid = svc.intake.grid
    _, lon, lat = point_in(grid, "130203001")
    now = datetime.now(UTC)
    dets = [
        Detection(id="a", type="illegal_parking", lon=lon, lat=lat, observed_at=now),
        Detection(id="poison", type="exposed_rubbish", lon=lon, lat=lat, observed_at=now),
        Detection(id="b", type="illegal_parking", lon=moved(lon, lat, 5)[0], lat=lat, observed_at=now),
        Detection(id="a", type="illegal_parking", lon=lon, lat=lat, observed_at=now),
    ]
    try:
        svc.consumer.setup()
        publish_many(r, DETECTIONS, dets)
        while svc.step(block_ms=100):
            pass
        with svc.sessions() as s:
            incs = s.scalars(select(Incident)).all()
            keys = set(s.scalars(select(ProcessedDetection.detection_id)))
    finally:
        svc.parts.close()
    assert [(i.type, i.count) for i in incs] == [("illegal_parking", 2)]
    assert keys == {"a", "b"} and svc.consumer.failed == 1
    assert sorted((e.version, e.action) for e in _events(r)) == [
        (1, "created"),
        (2, "assigned"),
        (3, "merged"),
    ]
    pending = r.xpending_range(DETECTIONS, GROUP, "-", "+", 10)
    assert len(pending) == 1
    assert (
        json.loads(r.xrange(DETECTIONS, pending[0]["message_id"], pending[0]["message_id"])[0][1]["data"])[
            "id"
        ]
        == "poison"
    )
