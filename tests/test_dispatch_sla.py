"""SLA clocks (dispatch/sla.py): pure functions over an incident's stamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from cityops.config import SLAConfig
from dispatch.sla import deadlines, met, new_breaches, targets_for

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
SLA = SLAConfig(accept_s=60, arrive_s=3600, resolve_s=86400)


def incident(**kw):
    base = dict(
        type="illegal_parking", state="dispatched", opened_at=T0, dispatched_at=T0 + timedelta(seconds=30),
        accepted_at=None, arrived_at=None, resolved_at=None, breaches=[],
    )  # fmt: skip
    return SimpleNamespace(**{**base, **kw})


def test_clocks_start_at_dispatch_or_at_opening():
    d = deadlines(incident(), SLA)
    assert d["accept"] == T0 + timedelta(seconds=90)
    assert d["resolve"] == T0 + timedelta(seconds=30 + 86400)
    assert deadlines(incident(dispatched_at=None), SLA)["accept"] == T0 + timedelta(seconds=60)


def test_new_breaches_only_for_late_undone_unrecorded_stages():
    inc = incident()
    assert new_breaches(inc, T0 + timedelta(seconds=90), SLA) == []  # exactly at the deadline: not late
    assert new_breaches(inc, T0 + timedelta(seconds=91), SLA) == ["accept"]
    inc.breaches = ["accept"]
    assert new_breaches(inc, T0 + timedelta(hours=2), SLA) == ["arrive"]
    inc.accepted_at = inc.arrived_at = T0 + timedelta(minutes=5)
    assert new_breaches(inc, T0 + timedelta(days=2), SLA) == ["resolve"]
    assert new_breaches(incident(state="closed"), T0 + timedelta(days=9), SLA) == []


def test_met_per_stage():
    inc = incident(accepted_at=T0 + timedelta(seconds=60), arrived_at=T0 + timedelta(hours=2))
    assert met(inc, SLA) == {"accept": True, "arrive": False, "resolve": None}
    assert met(incident(breaches=["accept"]), SLA)["accept"] is False  # breached and still not done


def test_per_type_targets_override_defaults():
    from cityops.taxonomy import violation_types

    with_sla = [code for code, vt in violation_types().items() if vt.sla]
    for code in with_sla:
        t = targets_for(code, SLA)
        assert all(getattr(t, k) == v for k, v in violation_types()[code].sla.items()), code
    # a type's own targets are used, not the defaults (some happen to equal them: a water leak's)
    assert targets_for("sos_call", SLA).accept_s == 30 != SLA.accept_s
    assert targets_for("no-such-type", SLA) == SLA
