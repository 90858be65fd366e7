"""Commands (dispatch/commands.py) against the real store: roles, ownership, the state machine, the
audit trail, merge, rating and the SLA sweep, without the HTTP layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from dispatch.commands import Actor, Conflict, Extras, Forbidden, NotFound, token_hash
from dispatch.intake import citizen_report
from dispatch.store import CitizenReport, Incident, IncidentEventRow, open_store
from dispatch.wiring import build_dispatch
from gis.default import load_grid
from streams.schemas import Detection
from tests.conftest import make_config

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai: both inspectors on duty
OPERATOR = Actor("op", "operator")
INSP_A, INSP_B = Actor("a", "inspector", "insp-a"), Actor("b", "inspector", "insp-b")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(tmp_path, store_url):
    cfg = make_config(tmp_path, store_url)
    engine, sessions = open_store(cfg.store_url)
    grid = load_grid(cfg.grid, cfg.data)
    clock = Clock()
    parts = build_dispatch(cfg, grid, sessions=sessions, clock=clock)
    commands, intake = parts.commands, parts.intake

    def new_incident(street: str, i: int, token: str | None = None) -> int:
        cell = next(c for c in grid.cells if c.street == street)
        p = cell.geometry.representative_point()
        det = Detection(
            id=f"d{i}", type="illegal_parking", lon=p.x + i * 0.01, lat=p.y, observed_at=clock.now
        )
        return intake.handle(det, report=citizen_report(det, token) if token else None).incident_id

    yield commands, sessions, clock, new_incident
    engine.dispose()


def events(sessions, incident_id):
    with sessions() as s:
        rows = s.scalars(
            select(IncidentEventRow)
            .where(IncidentEventRow.incident_id == incident_id)
            .order_by(IncidentEventRow.version)
        ).all()
        return [(e.version, e.action, e.from_state, e.to_state, e.actor) for e in rows]


def test_inspector_works_own_dispatch_through_the_stages(world):
    commands, sessions, clock, new_incident = world
    iid = new_incident("130203001", 1)  # insp-a's cell
    with pytest.raises(Forbidden, match="not dispatched to you"):
        commands.act(iid, "accept", INSP_B)
    with pytest.raises(Forbidden, match="operator may not accept"):
        commands.act(iid, "accept", OPERATOR)
    with pytest.raises(Conflict, match="cannot go from 'dispatched' to 'on_site'"):
        commands.act(iid, "arrive", INSP_A)
    for step, minutes in (("accept", 1), ("arrive", 20), ("resolve", 60)):
        clock.now = T0 + timedelta(minutes=minutes)
        commands.act(iid, step, INSP_A, Extras(note=step, lon=118.2, lat=39.65))
    with sessions() as s:
        inc = s.get(Incident, iid)
        assert inc.state == "resolved" and inc.version == 5
        assert inc.accepted_at.replace(tzinfo=UTC) == T0 + timedelta(minutes=1)
    assert [e[1:4] for e in events(sessions, iid)][-3:] == [
        ("transition", "dispatched", "accepted"),
        ("transition", "accepted", "on_site"),
        ("transition", "on_site", "resolved"),
    ]
    with pytest.raises(Conflict, match="unknown action"):
        commands.act(iid, "merge", OPERATOR)
    with pytest.raises(NotFound):
        commands.act(99999, "verify", OPERATOR)


def test_reassign_restarts_the_clocks(world):
    commands, sessions, clock, new_incident = world
    iid = new_incident("130203001", 1)
    commands.act(iid, "accept", INSP_A)
    with pytest.raises(NotFound, match="no inspector"):
        commands.assign(iid, "nobody", OPERATOR)
    with pytest.raises(Forbidden):
        commands.assign(iid, "insp-b", INSP_A)
    clock.now = T0 + timedelta(minutes=5)
    inc = commands.assign(iid, "insp-b", OPERATOR)
    assert inc.assignee == "insp-b" and inc.accepted_at is None and inc.state == "dispatched"
    commands.act(iid, "accept", INSP_B)


def test_merge_moves_the_count_and_refuses_final_targets(world):
    commands, sessions, clock, new_incident = world
    a, b, c = (new_incident("130203001", i) for i in (1, 2, 3))
    with pytest.raises(Conflict, match="into itself"):
        commands.merge(a, a, OPERATOR)
    commands.merge(b, a, OPERATOR)
    with sessions() as s:
        assert s.get(Incident, a).count == 2
        assert (s.get(Incident, b).state, s.get(Incident, b).merged_into) == ("duplicate", a)
    commands.act(c, "reject", OPERATOR, Extras(note="not in scope"))
    with pytest.raises(Conflict, match="merge into an open one"):
        commands.merge(a, c, OPERATOR)


def test_rating_needs_the_token_a_handled_request_and_only_once(world):
    commands, sessions, clock, new_incident = world
    iid = new_incident("130203001", 1, token="secret-token")
    with pytest.raises(Conflict, match="only a handled request"):
        commands.rate("d1", "secret-token", 5)
    for step in ("accept", "arrive", "resolve"):
        commands.act(iid, step, INSP_A)
    with pytest.raises(Forbidden):
        commands.rate("d1", "wrong", 5)
    with pytest.raises(Conflict, match="1 to 5"):
        commands.rate("d1", "secret-token", 6)
    with pytest.raises(NotFound):
        commands.rate("nope", "secret-token", 4)
    commands.rate("d1", "secret-token", 4, "quick")
    with pytest.raises(Conflict, match="already been rated"):
        commands.rate("d1", "secret-token", 5)
    with sessions() as s:
        row = s.get(CitizenReport, "d1")
        assert (row.rating, row.rating_comment, row.secret_hash) == (4, "quick", token_hash("secret-token"))


def test_sla_sweep_escalates_once_per_stage(world):
    commands, sessions, clock, new_incident = world
    iid = new_incident("130203001", 1)
    assert commands.sweep_sla() == []
    clock.now = T0 + timedelta(minutes=2)
    assert commands.sweep_sla() == [(iid, "accept")]
    assert commands.sweep_sla() == []  # idempotent
    clock.now = T0 + timedelta(hours=2)
    assert commands.sweep_sla() == [(iid, "arrive")]
    with sessions() as s:
        assert s.get(Incident, iid).breaches == ["accept", "arrive"]
    assert [e[1] for e in events(sessions, iid)].count("sla_breach") == 2


def test_vocabulary_is_complete_where_it_is_shown():
    """Every state has its zh/en label and Open311 note; every open state a map colour."""
    from dashboard.i18n import CATALOGUE
    from dashboard.theme import STATE_COLOURS
    from dispatch.api.open311 import STATUS_NOTES
    from dispatch.lifecycle import OPEN_STATES, State

    for state in State:
        assert set(CATALOGUE[f"state.{state}"]) == {"zh-CN", "en"}, state
        assert STATUS_NOTES[state], state
    assert set(STATE_COLOURS) == OPEN_STATES
