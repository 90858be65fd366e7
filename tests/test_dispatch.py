"""Intake against the real store (SQLite, and PostgreSQL when it answers)."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dispatch.lifecycle import IllegalTransition, check_transition
from dispatch.store import Incident, IncidentEventRow, open_store
from tests.helpers import T0, det, point_in


def count(sessions, model):
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_detection_creates_located_assigned_incident(intake_setup):
    cfg, grid, sessions, intake = intake_setup
    code, lon, lat = point_in(grid, "130203002")
    res = intake.handle(det(1, lon, lat))
    assert res.created and not res.duplicate_message
    with sessions() as s:
        inc = s.get(Incident, res.incident_id)
        events = s.scalars(select(IncidentEventRow).order_by(IncidentEventRow.version)).all()
    assert inc.cell == code and inc.state == "dispatched" and inc.assignee == "insp-b" and inc.version == 2
    assert [(e.version, e.action, e.from_state, e.to_state) for e in events] == [
        (1, "created", None, "new"),
        (2, "assigned", "new", "dispatched"),
    ]


def test_replayed_detection_changes_nothing(intake_setup):
    cfg, grid, sessions, intake = intake_setup
    _, lon, lat = point_in(grid, "130203001")
    first = intake.handle(det(1, lon, lat))
    again = intake.handle(det(1, lon, lat))
    assert again.duplicate_message and again.incident_id == first.incident_id
    assert count(sessions, Incident) == 1 and count(sessions, IncidentEventRow) == 2


def test_nearby_same_type_merges_far_or_other_type_does_not(intake_setup):
    cfg, grid, sessions, intake = intake_setup
    _, lon, lat = point_in(grid, "130203001")
    a = intake.handle(det(1, lon, lat))
    b = intake.handle(det(2, lon + 0.0001, lat, T0 + timedelta(minutes=5)))  # ~9 m away
    c = intake.handle(det(3, lon, lat, T0 + timedelta(minutes=6), type_="exposed_rubbish"))
    d = intake.handle(det(4, lon + 0.01, lat, T0 + timedelta(minutes=7)))  # ~850 m away
    e = intake.handle(det(5, lon, lat, T0 + timedelta(hours=2)))  # merge window passed
    assert b.incident_id == a.incident_id and not b.created
    assert len({a.incident_id, c.incident_id, d.incident_id, e.incident_id}) == 4
    with sessions() as s:
        assert s.get(Incident, a.incident_id).count == 2


def test_outside_the_grid_is_stored_unassigned(intake_setup):
    cfg, grid, sessions, intake = intake_setup
    res = intake.handle(det(9, 100.0, 30.0))
    with sessions() as s:
        inc = s.get(Incident, res.incident_id)
    assert inc.cell is None and inc.state == "new" and inc.assignee is None


def test_only_legal_transitions():
    check_transition("dispatched", "accepted")
    with pytest.raises(IllegalTransition, match="cannot go from 'new' to 'closed'"):
        check_transition("new", "closed")
    with pytest.raises(IllegalTransition, match="final state"):
        check_transition("closed", "dispatched")


def test_assignment_prefers_inspectors_then_community_then_street_supervisor():
    from datetime import time

    from cityops.config import InspectorConfig
    from dispatch.assignment import pick_inspector, supervisor_for

    roster = [
        InspectorConfig(id="street-sup", name="S", cells=["130203001"], role="supervisor"),
        InspectorConfig(id="comm-sup", name="C", cells=["130203001002"], role="supervisor"),
        InspectorConfig(id="i1", name="I1", cells=["130203001002"]),
        InspectorConfig(id="i2", name="I2", cells=["130203001002"]),
        InspectorConfig(
            id="night", name="N", cells=["130203001003"], shift={"start": "20:00", "end": "08:00"}
        ),
    ]
    noon = time(12, 0)
    assert pick_inspector(roster, "130203001002007", noon, {"i1": 3, "i2": 1}) == "i2"  # least loaded
    assert pick_inspector(roster, "130203001002007", noon, {"i1": 0, "i2": 1}) == "i1"
    assert pick_inspector(roster, "130203001003001", time(23, 0), {}) == "night"
    assert (
        pick_inspector(roster, "130203001003001", noon, {}) == "street-sup"
    )  # night shift off: street supervisor
    assert supervisor_for(roster, "130203001002007", noon) == "comm-sup"
    assert pick_inspector(roster, "130203009001001", noon, {}) is None


def test_migrations_build_exactly_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from dispatch.store import Base

    engine, _ = open_store(f"sqlite:///{tmp_path}/m.db")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()
