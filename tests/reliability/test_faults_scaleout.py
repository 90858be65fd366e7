"""Scale-out: 1, 2 and 3 real ``cityops dispatch`` processes on one PostgreSQL database.

The stream holds merge pairs (two detections of one type at one spot) whose halves lie a batch apart,
so different consumers take them at the same time, and pairs 60 m apart that must stay two incidents.
Every run must end with exactly one incident per merge pair and two per apart pair, and one
``created`` event per incident, however many consumers raced for them.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from dispatch.service import GROUP
from dispatch.store import ProcessedDetection
from streams.bus import connect
from streams.schemas import DETECTIONS, Detection, encode
from tests.conftest import make_config, postgres_url
from tests.reliability.harness import Service, StoreCounter, incident_stream, pending, wait_until

MERGE_PAIRS = 300
APART_PAIRS = 100
STRIDE = 100  # the consumer's batch size: the halves of a pair land in consecutive batches
SPACING_M = 250  # between the pairs' spots: no pair merges with another
M_PER_DEG = 111_195.0


def _offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    return (
        lon + east_m / (M_PER_DEG * math.cos(math.radians(lat))),
        lat + north_m / M_PER_DEG,
    )


def pair_stream(lon0: float, lat0: float, merge_radius_m: float) -> tuple[list[Detection], int]:
    """The detections in stream order, and how many incidents they must make.

    Pair ``i`` sits on its own lattice spot; its second half is ``STRIDE`` entries after the first
    (first halves of a block of pairs, then their second halves, then the next block)."""
    now = datetime.now(UTC)
    side = math.ceil(math.sqrt(MERGE_PAIRS + APART_PAIRS))
    firsts, seconds = [], []
    for i in range(MERGE_PAIRS + APART_PAIRS):
        lon, lat = _offset(lon0, lat0, (i % side) * SPACING_M, (i // side) * SPACING_M)
        angle = math.radians(i * 37 % 360)
        if i < MERGE_PAIRS:  # a few metres apart, any direction: across lock-bucket edges too
            dist, kind = min(0.2 * merge_radius_m * (1 + i % 4), merge_radius_m - 1), "merge"
        else:
            dist, kind = 60.0, "apart"
        lon2, lat2 = _offset(lon, lat, dist * math.cos(angle), dist * math.sin(angle))
        firsts.append(
            Detection(id=f"{kind}-{i}-a", type="illegal_parking", lon=lon, lat=lat, observed_at=now)
        )
        seconds.append(
            Detection(id=f"{kind}-{i}-b", type="illegal_parking", lon=lon2, lat=lat2, observed_at=now)
        )
    # the apart pairs are spread among the merge pairs, so they meet the same races
    order = sorted(range(len(firsts)), key=lambda i: (i * 7919) % len(firsts))
    firsts, seconds = [firsts[i] for i in order], [seconds[i] for i in order]
    dets: list[Detection] = []
    for k in range(0, len(firsts), STRIDE):
        dets += firsts[k : k + STRIDE] + seconds[k : k + STRIDE]
    return dets, MERGE_PAIRS + 2 * APART_PAIRS


@pytest.mark.parametrize("consumers", [1, 2, 3])
def test_dispatch_scaleout_on_postgresql_no_duplicate_incidents(stack, tmp_path, figures, consumers):
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    cfg = make_config(tmp_path, url, dispatch={"sla_sweep_s": 3600})
    stack.configure(cfg)
    grid_bounds = stack.grid.cells[0].geometry.bounds
    dets, expected = pair_stream(grid_bounds[0], grid_bounds[1], cfg.dispatch.merge_radius_m)

    r = connect(stack.url)
    procs = []
    for k in range(consumers):
        svc = Service("dispatch", stack.config, stack.url, stack.logs)
        svc.log = stack.logs / f"dispatch-{k}.log"
        stack.services.append(svc)
        procs.append(svc.start())

    def all_waiting():  # every consumer has joined the group and blocks for new entries
        try:
            return len(r.xinfo_consumers(DETECTIONS, GROUP)) == consumers
        except Exception:  # the group does not exist yet
            return False

    assert wait_until(all_waiting, 120), [p.output()[-2000:] for p in procs]
    # one MULTI/EXEC: the waiting consumers are served after it, each a full batch in stream order
    pipe = r.pipeline(transaction=True)
    for det in dets:
        pipe.xadd(DETECTIONS, encode(det))
    pipe.execute()
    t0 = time.monotonic()

    counter = StoreCounter(url)
    try:

        def settled():
            c = counter.counts()
            done = c["processed"] >= len(dets) and c["unpublished"] == 0
            return c if done and pending(r, DETECTIONS, GROUP) == 0 else None

        done = wait_until(settled, 300)
        took = time.monotonic() - t0
        assert done, (counter.counts(), [p.output()[-3000:] for p in procs])
        with counter.engine.connect() as c:
            where = dict(
                c.execute(select(ProcessedDetection.detection_id, ProcessedDetection.incident_id)).all()
            )
        per_incident = counter.incident_counts()
        stream = incident_stream(r)
    finally:
        counter.close()

    split_merges = sum(where[f"merge-{i}-a"] != where[f"merge-{i}-b"] for i in range(MERGE_PAIRS))
    wrong_apart = sum(
        where[f"apart-{i}-a"] == where[f"apart-{i}-b"] for i in range(MERGE_PAIRS, MERGE_PAIRS + APART_PAIRS)
    )
    members = defaultdict(set)
    for det_id, inc in where.items():
        members[inc].add(det_id.rsplit("-", 1)[0])
    mixed = sum(len(m) > 1 for m in members.values())  # an incident holding detections of two pairs
    figures.update(
        fault=f"{consumers} dispatch consumer(s) on one PostgreSQL, strided merge pairs",
        consumers=consumers,
        detections=len(dets),
        incidents_expected=expected,
        got=done["incidents"],
        lost=len(dets) - len(where),
        duplicated=done["incidents"] - expected,
        split_merge_pairs=split_merges,
        stream_repeated_events=stream["repeated_events"],
        time_to_process_s=round(took, 1),
        others_answered=all(p.alive for p in procs),
    )
    assert all(p.alive for p in procs), [p.output()[-3000:] for p in procs]
    assert split_merges == 0, f"{split_merges} merge pairs became two incidents"
    assert wrong_apart == 0 and mixed == 0, (wrong_apart, mixed)
    assert done["incidents"] == expected == done["created_events"], done
    assert sorted(per_incident.values()) == [1] * (2 * APART_PAIRS) + [2] * MERGE_PAIRS
    assert stream == {"created_incidents": expected, "repeated_events": 0}, stream
