"""Keyset pages of the incident lists: every row exactly once across pages, rows that change while
a client pages are neither skipped nor repeated twice, deep pages by cursor, bad cursors refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from dispatch.store import Incident
from tests.helpers import login


def seed(sessions, grid, n: int, assignee: str | None = None) -> list[int]:
    """``n`` open incidents, several sharing each ``updated_at`` (ties must page by id)."""
    t0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    cell = grid.cells[0]
    p = cell.geometry.representative_point()
    with sessions.begin() as s:
        rows = [
            Incident(type="illegal_parking", state="dispatched" if assignee else "new", source="camera",
                     cell=cell.code, lon=p.x, lat=p.y, assignee=assignee, count=1, description="", version=1,
                     opened_at=t0 + timedelta(minutes=k // 3), updated_at=t0 + timedelta(minutes=k // 3),
                     dispatched_at=(t0 + timedelta(minutes=k // 3)) if assignee else None, breaches=[])
            for k in range(n)
        ]  # fmt: skip
        s.add_all(rows)
    with sessions() as s:
        return sorted(s.scalars(Incident.__table__.select().with_only_columns(Incident.id)).all())


def pages(client, url: str, headers: dict) -> list[list[dict]]:
    out = []
    while url:
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200, resp.text
        out.append(resp.json())
        link = resp.headers.get("link")
        url = link.split(">")[0].lstrip("<").replace("http://testserver", "") if link else None
    return out


def test_every_incident_once_across_pages_newest_first(api):
    client, grid, _clock, _r, sessions, _cfg = api
    ids = seed(sessions, grid, 50)
    got = pages(client, "/api/v1/incidents?limit=7", login(client, "olga"))
    flat = [i["id"] for page in got for i in page]
    assert sorted(flat) == ids and len(flat) == len(set(flat))
    assert len(got) == 8 and all(len(p) == 7 for p in got[:7]) and len(got[-1]) == 1
    keys = [(i["updated_at"], i["id"]) for page in got for i in page]
    assert keys == sorted(keys, reverse=True)


def test_a_row_that_changes_while_paging_is_not_served_twice_nor_does_another_go_missing(api):
    client, grid, _clock, _r, sessions, _cfg = api
    ids = seed(sessions, grid, 30)
    headers = login(client, "olga")
    first = client.get("/api/v1/incidents?limit=10", headers=headers)
    seen = [i["id"] for i in first.json()]
    with sessions.begin() as s:  # one already served changes (moves to the top); with offsets the
        s.execute(  # rows after it would shift by one and one would never be served
            update(Incident).where(Incident.id == seen[3]).values(updated_at=datetime.now(UTC))
        )
    cursor = first.headers["x-next-cursor"]
    while cursor:
        resp = client.get(f"/api/v1/incidents?limit=10&cursor={cursor}", headers=headers)
        seen += [i["id"] for i in resp.json()]
        cursor = resp.headers.get("x-next-cursor")
    assert sorted(seen) == ids


def test_an_inspectors_dispatches_come_in_pages_most_urgent_first(api):
    client, grid, _clock, _r, sessions, _cfg = api
    ids = seed(sessions, grid, 25, assignee="insp-a")
    got = pages(client, "/api/v1/me/dispatches?limit=10", login(client, "alice"))
    assert [len(p) for p in got] == [10, 10, 5]
    flat = [i["id"] for page in got for i in page]
    assert sorted(flat) == ids and len(set(flat)) == 25
    dues = [min(i["due"].values()) for page in got for i in page]
    assert dues == sorted(dues)  # one type, one target: clock order is deadline order


def test_bad_cursors_are_refused_with_a_reason(api):
    client, grid, _clock, _r, sessions, _cfg = api
    seed(sessions, grid, 3)
    headers = login(client, "olga")
    for bad in ("nonsense", "MjAyNi0wMS0wNQ", "bm90LWEtdGltZX4x", "x" * 150):
        resp = client.get(f"/api/v1/incidents?cursor={bad}", headers=headers)
        assert resp.status_code == 422, (bad, resp.text)
        assert "cursor" in resp.text


def test_a_street_or_community_prefix_lists_exactly_its_cells(api):
    client, grid, _clock, _r, sessions, _cfg = api
    seed(sessions, grid, 2)
    other = next(c for c in grid.cells if c.street != grid.cells[0].street)
    p = other.geometry.representative_point()
    with sessions.begin() as s:
        s.add(Incident(type="illegal_parking", state="new", source="camera", cell=other.code, lon=p.x, lat=p.y,
                       count=1, description="", version=1, opened_at=datetime.now(UTC),
                       updated_at=datetime.now(UTC), breaches=[]))  # fmt: skip
    headers = login(client, "olga")
    for prefix, want in (
        (grid.cells[0].street, 2),
        (other.street, 1),
        (other.code, 1),
        ("9", 0),
        ("%", 0),
        ("_", 0),
    ):
        got = client.get("/api/v1/incidents", params={"cell": prefix}, headers=headers).json()
        assert len(got) == want, (prefix, got)
        assert all(i["cell"].startswith(prefix) for i in got)
