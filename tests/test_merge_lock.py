"""Several dispatch consumers on one store: the advisory lock keys for merges (pure); intake on the
real store holding them, retrying a batch that lost a race, keeping the merge window across a batch;
and outbox flushers that never publish one event twice."""

from __future__ import annotations

import math
import random
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from cityops.config import DispatchConfig
from dispatch.merge_lock import batch_lock_keys, home_key, lock_keys
from dispatch.outbox import flush_outbox, to_message
from dispatch.store import Incident, IncidentEventRow, ProcessedDetection, open_store
from dispatch.wiring import build_dispatch
from gis.default import load_grid
from gis.projection import distance_m
from streams.bus import publish_many
from streams.schemas import INCIDENTS, decode
from tests.conftest import make_config, postgres_url
from tests.helpers import T0, det, point_in

R, CELL = 30.0, 250.0
M_PER_DEG = 111_195.0


def moved(lon, lat, east_m, north_m):
    return lon + east_m / (M_PER_DEG * math.cos(math.radians(lat))), lat + north_m / M_PER_DEG


# -- the keys (pure) -------------------------------------------------------------------------------
@pytest.mark.parametrize("lat0", [39.65, 0.0, -33.9, 62.0, 78.0])
def test_points_within_the_merge_radius_always_share_a_key(lat0):
    rng = random.Random(lat0)
    for _ in range(3000):
        lon, lat = 118.2 + rng.uniform(-0.05, 0.05), lat0 + rng.uniform(-0.05, 0.05)
        d, a = rng.uniform(0.9, 1.0) * R, rng.uniform(0, 2 * math.pi)  # mostly near the disc's edge
        lon2, lat2 = moved(lon, lat, d * math.cos(a), d * math.sin(a))
        if distance_m(lon, lat, lon2, lat2) > R:
            continue
        mine, theirs = lock_keys("t", lon, lat, R, CELL), lock_keys("t", lon2, lat2, R, CELL)
        assert home_key("t", lon2, lat2, CELL) in mine and home_key("t", lon, lat, CELL) in theirs
        assert len(mine) <= 4


def test_neighbours_across_a_cell_edge_share_a_key():
    rs = CELL / 111_000.0
    edge = math.floor(39.65 / rs) * rs  # a row boundary near 39.65 N
    lon = 118.2
    south, north = edge - 0.5 / M_PER_DEG, edge + (R - 1) / M_PER_DEG  # 29.5 m apart across it
    assert distance_m(lon, south, lon, north) <= R
    assert home_key("t", lon, south, CELL) != home_key("t", lon, north, CELL)
    assert lock_keys("t", lon, south, R, CELL) & lock_keys("t", lon, north, R, CELL)
    # and across a column edge
    row = math.floor(39.65 / rs)
    cs = rs / math.cos(math.radians((row + 0.5) * rs))
    col_edge = math.ceil(118.2 / cs) * cs
    lat = (row + 0.5) * rs
    west, east = col_edge - 1e-6, moved(col_edge, lat, R - 1, 0)[0]
    assert home_key("t", west, lat, CELL) != home_key("t", east, lat, CELL)
    assert lock_keys("t", west, lat, R, CELL) & lock_keys("t", east, lat, R, CELL)


def test_a_point_inside_its_cell_takes_one_key_and_far_or_other_types_share_none():
    rs = CELL / 111_000.0
    row = math.floor(39.65 / rs)
    cs = rs / math.cos(math.radians((row + 0.5) * rs))
    lon, lat = (math.floor(118.2 / cs) + 0.5) * cs, (row + 0.5) * rs  # a cell's centre
    assert lock_keys("t", lon, lat, R, CELL) == {home_key("t", lon, lat, CELL)}
    assert not lock_keys("t", lon, lat, R, CELL) & lock_keys("u", lon, lat, R, CELL)
    far = moved(lon, lat, CELL + 2 * R + 1, 0)
    assert not lock_keys("t", lon, lat, R, CELL) & lock_keys("t", *far, R, CELL)
    # about 60 m apart (twice the radius) they need not wait for each other: astride a cell edge they don't
    edge = (math.floor(118.2 / cs) + 1) * cs
    west, east = moved(edge, lat, -31, 0)[0], moved(edge, lat, 31, 0)[0]
    assert distance_m(west, lat, east, lat) > 2 * R
    assert not lock_keys("t", west, lat, R, CELL) & lock_keys("t", east, lat, R, CELL)
    # a cell smaller than the radius is raised to it: never more than nine keys
    assert len(lock_keys("t", lon, lat, R, 1.0)) <= 9


def test_batch_keys_are_sorted_and_unique():
    dets = [det(i, 118.2 + (i % 3) * 1e-5, 39.65, T0) for i in range(10)]
    keys = batch_lock_keys(dets, R, CELL)
    assert keys == sorted(set(keys)) and all(-(2**63) <= k < 2**63 for k in keys)


def test_default_cells_are_wider_than_the_merge_square():
    d = DispatchConfig()
    assert d.merge_lock_cell_m >= 2 * d.merge_radius_m


# -- intake on the real store ------------------------------------------------------------------------


@pytest.fixture
def pg_setup(tmp_path):
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    cfg = make_config(tmp_path, url)
    engine, sessions = open_store(cfg.store_url)
    grid = load_grid(cfg.grid, cfg.data)
    yield cfg, grid, sessions, build_dispatch(cfg, grid, sessions=sessions).intake
    engine.dispose()


def test_merge_window_holds_across_a_batch(intake_setup):
    """Each detection is within the window of the one before: one incident, batched or not."""
    cfg, grid, sessions, intake = intake_setup
    _, lon, lat = point_in(grid, "130203001")
    step = timedelta(seconds=cfg.dispatch.merge_window_s * 0.9)
    res = intake.handle_many([det(i, lon, lat, T0 + i * step) for i in range(3)])
    assert [r.created for r in res] == [True, False, False]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1
        assert s.get(Incident, res[0].incident_id).count == 3


def _waiting_on_lock(sessions) -> bool:
    with sessions() as s:
        query = "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted"
        return bool(s.scalar(text(query + " AND a.datname = current_database()")))


def _wait(cond, timeout=15.0) -> bool:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def test_a_neighbour_waits_for_the_consumer_holding_its_cell(pg_setup):
    """Another consumer's transaction holds the cell and creates an incident there; a detection a few
    metres away, handled meanwhile, waits for it and merges instead of creating a second one."""
    cfg, grid, sessions, intake = pg_setup
    _, lon, lat = point_in(grid, "130203001")
    first, second = det(1, lon, lat), det(2, *moved(lon, lat, 12, 5), T0 + timedelta(seconds=5))
    other = sessions()
    with other.begin():
        other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": home_key(first.type, lon, lat, 250.0)})
        got = []
        t = threading.Thread(target=lambda: got.append(intake.handle(second)))
        t.start()
        waited = _wait(lambda: _waiting_on_lock(sessions))
        inc = intake._create(other, first, {})
        other.add(ProcessedDetection(detection_id=first.id, incident_id=inc.id, at=first.observed_at))
    other.close()
    t.join(30)
    assert waited, "the second detection did not wait for the cell's lock"
    assert got and got[0].incident_id == inc.id and not got[0].created
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1


def test_same_detection_id_stored_first_by_another_consumer_is_a_replay(pg_setup):
    """The same detection id reaches two consumers (claimed after a stall) with different contents,
    so they lock different cells: the loser's insert hits the unique key; its batch is retried and
    finds the detection already processed."""
    cfg, grid, sessions, intake = pg_setup
    _, lon, lat = point_in(grid, "130203001")
    theirs, mine = det(1, lon, lat), det(1, *moved(lon, lat, 2000, 0))
    other = sessions()
    with other.begin():
        inc = intake._create(other, theirs, {})
        other.add(ProcessedDetection(detection_id=theirs.id, incident_id=inc.id, at=theirs.observed_at))
        other.flush()  # the key row exists, uncommitted: our insert of the same key waits on it
        got, errors = [], []

        def run():
            try:
                got.append(intake.handle(mine))
            except Exception as exc:  # noqa: BLE001 -- reported below
                errors.append(exc)

        t = threading.Thread(target=run)
        t.start()
        assert _wait(lambda: _waiting_on_lock(sessions)), "intake never reached the insert"
    other.close()
    t.join(30)
    assert not errors, errors
    assert got and got[0].duplicate_message and got[0].incident_id == inc.id
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1


def test_outbox_flushers_never_publish_an_event_twice(pg_setup, r):
    """Another flusher holds the oldest events while it publishes them: this one publishes the rest
    and leaves those alone; every event reaches the stream exactly once."""
    cfg, grid, sessions, intake = pg_setup
    _, lon, lat = point_in(grid, "130203001")
    for i in range(4):
        intake.handle(det(i, *moved(lon, lat, 200 * i, 0)))
    other = sessions()
    with other.begin():
        held = other.execute(
            select(IncidentEventRow, Incident)
            .join(Incident, Incident.id == IncidentEventRow.incident_id)
            .order_by(IncidentEventRow.id)
            .limit(3)
            .with_for_update(of=IncidentEventRow)
        ).all()
        publish_many(r, INCIDENTS, [to_message(ev, inc) for ev, inc in held])
        done = []
        t = threading.Thread(target=lambda: done.append(flush_outbox(sessions, r)))
        t.start()
        t.join(10)  # with the rows it cannot take skipped, it does not wait for them
        other.execute(
            update(IncidentEventRow)
            .where(IncidentEventRow.id.in_([ev.id for ev, _ in held]))
            .values(published=True)
        )
    other.close()
    t.join(30)
    published = [(m.incident_id, m.version) for m in (decode(f) for _, f in r.xrange(INCIDENTS))]
    assert done == [8 - 3]
    assert len(published) == len(set(published)) == 8
