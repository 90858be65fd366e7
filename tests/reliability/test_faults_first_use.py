"""Concurrent first use, from outside (issue 16 item 1): a `cityops api` process that has just started
gets 32 Open311 reports at the same instant, each needing a point-to-cell lookup on the default
2,257-cell grid. Every one must be answered and the process must stay up; three fresh starts."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

from tests.conftest import free_port, make_config
from tests.reliability.harness import StoreCounter, wait_until

THREADS = 32
STARTS = 3


def _post(url: str, form: dict) -> int:
    req = urllib.request.Request(url, data=urlencode(form).encode(), method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0  # no answer: connection refused or reset


def _up(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_32_concurrent_first_reports_on_a_fresh_api(stack, tmp_path, figures):
    port = free_port()
    cfg = make_config(
        tmp_path,
        grid={},  # the default grid a fresh `cityops up` uses
        dispatch={"port": port, "citizen_rate_per_min": 100_000, "merge_radius_m": 0},
    )
    stack.configure(cfg)
    base = f"http://127.0.0.1:{port}"
    cells = stack.grid.cells
    answers: list[int] = []
    recover: list[float] = []
    for start in range(STARTS):
        api = stack.service("api")
        t0 = time.monotonic()
        assert wait_until(lambda: _up(base), 120), api.output()[-3000:]
        recover.append(round(time.monotonic() - t0, 2))
        barrier = threading.Barrier(THREADS)
        got = [0] * THREADS

        def report(i: int, start: int = start, barrier=barrier, got=got) -> None:
            # a cell vertex (an edge bucket: the geometric test) or a cell's inner point, far apart
            cell = cells[(start * THREADS + i) * 53 % len(cells)]  # 53: coprime with 2,257 = 37 x 61
            p = cell.geometry.exterior.coords[0] if i % 2 else cell.geometry.representative_point().coords[0]
            form = {
                "service_code": "exposed_rubbish",
                "lat": p[1],
                "long": p[0],
                "description": f"{start}-{i}",
            }
            barrier.wait()
            got[i] = _post(f"{base}/open311/v2/requests.json", form)

        pool = [threading.Thread(target=report, args=(i,)) for i in range(THREADS)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(180)
        answers += got
        alive = api.alive and _up(base)
        code = api.proc.poll()
        api.stop()
        assert alive, f"start {start}: the API died (exit {code}; -11 is SIGSEGV)\n{api.output()[-3000:]}"
    created = sum(1 for a in answers if a == 201)
    counter = StoreCounter(cfg.store_url)
    stored = counter.counts()["incidents"]
    counter.close()
    figures.update(
        fault=f"{THREADS} concurrent first Open311 reports on a just-started API, {STARTS} starts",
        incidents_expected=THREADS * STARTS,
        answered_201=created,
        got=stored,
        lost=THREADS * STARTS - stored,
        duplicated=0,
        time_to_recover_s=0.0,  # nothing to recover from: no crash
        api_start_s=max(recover),
        others_answered=True,
    )
    assert answers == [201] * (THREADS * STARTS), answers
    assert stored == THREADS * STARTS  # one incident per report: the points are far apart


def _where(base: str, lon: float, lat: float) -> tuple[int, str]:
    """The citizen page's 'which cell is this' callback, as the browser calls it."""
    body = {
        "output": "cit-where.children",
        "outputs": {"id": "cit-where", "property": "children"},
        "inputs": [
            {"id": "cit-lon", "property": "value", "value": f"{lon:.7f}"},
            {"id": "cit-lat", "property": "value", "value": f"{lat:.7f}"},
        ],
        "changedPropIds": ["cit-lon.value"],
        "state": [{"id": "cit-lang", "property": "data", "value": "en"}],
    }
    req = urllib.request.Request(
        f"{base}/_dash-update-component",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def test_32_concurrent_first_citizen_lookups_on_a_fresh_board(stack, tmp_path, figures):
    port = free_port()
    cfg = make_config(tmp_path, grid={}, dashboard={"port": port})
    stack.configure(cfg)
    base = f"http://127.0.0.1:{port}"
    cells = stack.grid.cells
    answers: list[tuple[int, str]] = []
    for start in range(STARTS):
        board = stack.service("dashboard")
        assert wait_until(lambda: _up_board(base), 120), board.output()[-3000:]
        barrier = threading.Barrier(THREADS)
        got: list = [None] * THREADS

        def lookup(i: int, start: int = start, barrier=barrier, got=got) -> None:
            cell = cells[(start * THREADS + i) * 53 % len(cells)]  # 53: coprime with 2,257 = 37 x 61
            p = cell.geometry.exterior.coords[0] if i % 2 else cell.geometry.representative_point().coords[0]
            barrier.wait()
            got[i] = _where(base, p[0], p[1])

        pool = [threading.Thread(target=lookup, args=(i,)) for i in range(THREADS)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(180)
        answers += got
        alive = board.alive and _up_board(base)
        code = board.proc.poll()
        board.stop()
        assert alive, f"start {start}: the board died (exit {code}; -11 is SIGSEGV)\n{board.output()[-3000:]}"
    ok = sum(1 for status, text in answers if status == 200 and "Cell 130203" in text)
    figures.update(
        fault=f"{THREADS} concurrent first citizen-page lookups on a just-started board, {STARTS} starts",
        incidents_expected=0,
        got=0,
        lost=0,
        duplicated=0,
        lookups=THREADS * STARTS,
        answered=ok,
        time_to_recover_s=0.0,
        others_answered=True,
    )
    assert ok == THREADS * STARTS, answers[:5]


def _up_board(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/api/live", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False
