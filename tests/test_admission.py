"""Admission of detections before intake: taxonomy types only, observed times within bounds; and the
dispatch service dead-lettering what is refused (real Redis, real store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.config import CityOpsConfig
from cityops.taxonomy import violation_types
from dispatch.admission import admit
from dispatch.service import DispatchService
from dispatch.store import Incident
from streams.bus import publish_many
from streams.schemas import DEAD_LETTERS, DETECTIONS, Detection
from tests.conftest import make_config

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
RULES = {"max_future_skew_s": 300, "max_age_s": 3600}


def det(type_: str = "illegal_parking", at: datetime = NOW, id_: str = "d1") -> Detection:
    return Detection(id=id_, type=type_, lon=118.19, lat=39.66, observed_at=at)


def test_taxonomy_types_are_admitted_unchanged():
    for code in violation_types():
        res = admit(det(code), NOW, **RULES)
        assert res.ok and res.detection == det(code) and res.reason == ""


@pytest.mark.parametrize("type_", ["not_a_type", '<a href="https://evil.example">x</a>', "ILLEGAL_PARKING"])
def test_type_outside_the_taxonomy_is_refused(type_):
    res = admit(det(type_), NOW, **RULES)
    assert not res.ok and res.detection is None
    assert "not in the taxonomy" in res.reason and repr(type_) in res.reason


def test_future_within_skew_is_clamped_to_now_and_beyond_is_refused():
    res = admit(det(at=NOW + timedelta(seconds=299)), NOW, **RULES)
    assert res.ok and res.detection.observed_at == NOW and res.detection.id == "d1"
    res = admit(det(at=NOW + timedelta(seconds=301)), NOW, **RULES)
    assert not res.ok and "301 s in the future" in res.reason and "clock skew of 300 s" in res.reason


def test_old_detections_are_refused_beyond_the_max_age():
    assert admit(
        det(at=NOW - timedelta(seconds=3599)), NOW, **RULES
    ).detection.observed_at == NOW - timedelta(seconds=3599)
    res = admit(det(at=NOW - timedelta(days=400)), NOW, **RULES)
    assert not res.ok and f"{400 * 86400} s old" in res.reason and "allowed age of 3600 s" in res.reason


def test_limits_come_from_the_config():
    cfg = CityOpsConfig()
    assert cfg.dispatch.max_clock_skew_s == 300 and cfg.dispatch.max_detection_age_s == 3600
    cfg = CityOpsConfig.model_validate({"dispatch": {"max_clock_skew_s": 5, "max_detection_age_s": 86400}})
    assert cfg.dispatch.max_detection_age_s == 86400
    with pytest.raises(ValueError):
        CityOpsConfig.model_validate({"dispatch": {"max_detection_age_s": 0}})


@pytest.mark.parametrize("batched", [True, False], ids=["batch", "one-by-one"])
def test_dispatch_dead_letters_refused_detections(tmp_path, r, redis_url, store_url, batched):
    """Through the real service (a batch in one transaction, or the one-at-a-time fallback): unknown
    and markup types, a 400-day-old and a far-future detection are dead-lettered once with their
    reason and open nothing; the good ones (one clamped) are taken."""
    cfg = make_config(tmp_path, store_url)
    now = datetime.now(UTC)
    bad = [
        det("not_a_type", now, "bad-type"),
        det("<img src=x onerror=alert(1)>", now, "bad-markup"),
        det("illegal_parking", now - timedelta(days=400), "bad-old"),
        det("illegal_parking", now + timedelta(days=1), "bad-future"),
    ]
    good = [
        det("illegal_parking", now, "good-now"),
        det("exposed_rubbish", now + timedelta(seconds=60), "ahead"),
    ]
    publish_many(r, DETECTIONS, bad + good)
    svc = DispatchService(cfg, redis_url, consumer="t-admission")
    if not batched:
        svc.consumer.batch_handler = None
    try:
        svc.consumer.setup()
        while svc.step(block_ms=100):
            pass
        with svc.sessions() as s:
            incs = s.scalars(select(Incident)).all()
            assert sorted(i.type for i in incs) == ["exposed_rubbish", "illegal_parking"]
            ahead = next(i for i in incs if i.type == "exposed_rubbish")
            opened = ahead.opened_at if ahead.opened_at.tzinfo else ahead.opened_at.replace(tzinfo=UTC)
            assert opened <= datetime.now(UTC)  # clamped to the time it was taken in, not a minute ahead
    finally:
        svc.parts.close()
    dead = r.xrange(DEAD_LETTERS)
    reasons = {json.loads(f["f_data"])["id"]: f["error"] for _, f in dead}
    assert sorted(reasons) == sorted(d.id for d in bad) and len(dead) == len(bad)
    assert "not in the taxonomy" in reasons["bad-type"] and "not in the taxonomy" in reasons["bad-markup"]
    assert "allowed age" in reasons["bad-old"] and "in the future" in reasons["bad-future"]
    assert all(e.startswith("refused: ") for e in reasons.values())
    assert r.xpending(DETECTIONS, "dispatch")["pending"] == 0  # refused ones are settled, not retried
