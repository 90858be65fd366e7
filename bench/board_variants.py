"""Try a change to the board's first draw before writing it: each variant is a script injected into
the real board page (Playwright's init script, run before the page's own), so that nothing else
differs. The variants are drawn in turn, each in a fresh browser context, and the median first draw,
when the map was made, and the CPU seconds Chromium used are printed for each variant. The CPU is
given in all, for the page's renderer (its main thread and MapLibre's worker), and for the GPU
process, which paints WebGL in software on a machine without a GPU.

    .venv/bin/python bench/board_variants.py [--draws 6] [--incidents 5000] [variant ...]

``docs/scaling.md`` ("Making the map before Dash does not help either") gives a run of it.

The variants reach MapLibre through ``Plotly.maplibre()`` (CityOps' plotly.js build,
tools/plotly/entry.js) as soon as plotly.js has run, before the map exists. Ablations (``no-*``)
take part of the map's content away: what that part costs, not a change to make.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from board_render import ARGS, DRAWN, MAP_BORN, VIEWPORT, board_map, board_server, chromium_processes  # noqa: E402

#: run ``body`` (with ``ml``, the MapLibre module) once plotly.js has set window.Plotly
WITH_MAPLIBRE = """(() => { let P; Object.defineProperty(window, 'Plotly', { configurable: true,
  get() { return P; }, set(v) { P = v; if (v && v.maplibre && !v.__variant) { v.__variant = true;
    const ml = v.maplibre(); %s } } }); })();"""
#: the data of the GeoJSON sources whose id holds one of NAMES replaced by nothing
DROP = """const NAMES = %s, add = ml.Map.prototype.addSource;
ml.Map.prototype.addSource = function (id, src) {
  if (NAMES.some((n) => id.indexOf(n) >= 0)) src = Object.assign({}, src, {data: {type: 'FeatureCollection', features: []}});
  return add.call(this, id, src); };"""
#: every GeoJSON source with these options
SOURCE = """const OPTS = %s, add = ml.Map.prototype.addSource;
ml.Map.prototype.addSource = function (id, src) {
  if (src && src.type === 'geojson') src = Object.assign({}, src, OPTS);
  return add.call(this, id, src); };"""
#: the paint of the layers named, changed
PAINT = """const PAINT = %s, add = ml.Map.prototype.addLayer;
ml.Map.prototype.addLayer = function (layer, before) {
  if (PAINT[layer.id]) layer = Object.assign({}, layer, {paint: Object.assign({}, layer.paint, PAINT[layer.id])});
  return add.call(this, layer, before); };"""
#: until its first complete frame, a map renders at most every T ms (frames in between wait)
THROTTLE = """const T = %d, render = ml.Map.prototype._render;
ml.Map.prototype._render = function (ts) {
  if (!this.__complete) { const now = performance.now(); this.__since = this.__since || now;
    if (this.loaded() || this.isMoving() || now - this.__since > 3000) this.__complete = true;
    else if (this.__last && now - this.__last < T) {
      if (!this.__wait) this.__wait = setTimeout(() => { this.__wait = null; this.triggerRepaint(); }, T - (now - this.__last));
      return this; }
    this.__last = now; }
  return render.call(this, ts); };"""
#: the map made by this script as soon as plotly.js has run and the page's layout came (asked for as
#: this script runs): its figure is taken out of the layout that Dash renders, and drawn here in a box
#: at the board map's place; the probe reads #early-map
MAP_FIRST = """(() => { const BOX = %s; let fig = null, ready = false, made = false;
  const layout = fetch('/_dash-layout', {headers: {Accept: 'application/json', 'Content-Type': 'application/json'}})
    .then((r) => r.json()).then((j) => { take(j); make(); return j; });
  function take(node) { if (Array.isArray(node)) return node.forEach(take); if (!node || typeof node !== 'object') return;
    if (node.props && node.props.id === 'board-map' && node.props.figure) { fig = node.props.figure; node.props.figure = {data: [], layout: {}}; }
    if (node.props) take(node.props.children); }
  const fetch0 = window.fetch;
  window.fetch = function (url) { if (typeof url === 'string' && url.indexOf('_dash-layout') >= 0) {
      window.dispatchEvent(new Event('cityops:layout-asked'));
      return layout.then((j) => new Response(JSON.stringify(j), {status: 200, headers: {'Content-Type': 'application/json'}})); }
    return fetch0.apply(this, arguments); };
  function make() { if (made || !fig || !ready || !document.body) return; made = true;
    const div = document.createElement('div'); div.id = 'early-map';
    Object.assign(div.style, {position: 'fixed', left: BOX.left + 'px', top: BOX.top + 'px', width: BOX.width + 'px', height: BOX.height + 'px', zIndex: 5});
    document.body.appendChild(div); window.__mapBorn = performance.now();
    window.Plotly.newPlot(div, fig.data, fig.layout, {displayModeBar: false, scrollZoom: true, responsive: true}); }
  const seen = new MutationObserver(() => { const link = document.querySelector('link[rel="preload"][href*="plotly.min.js"]');
    if (!link) return; seen.disconnect(); const s = document.createElement('script'); s.src = link.href; s.async = true;
    const ran = new Promise((ok) => { s.onload = () => { ready = true; ok(window.Plotly); make(); }; });
    window.Plotly = {then: (ok, fail) => ran.then(ok, fail)}; document.head.appendChild(s); });
  seen.observe(document, {childList: true, subtree: true});
  document.addEventListener('DOMContentLoaded', make); })();"""


def variants(box: dict) -> dict[str, tuple[str, str]]:
    """Each variant by name: what it is, and its script ('' for the board as it is)."""
    ml = lambda body: WITH_MAPLIBRE % body  # noqa: E731
    incidents = "plotly-trace-layer-incidents-circle"
    return {
        "board": ("the board as it is", ""),
        "map-first": (
            "the map made before Dash (its figure taken from the layout)",
            MAP_FIRST % json.dumps(box),
        ),
        "no-markers": ("without the 5,000 markers (ablation)", ml(DROP % '["source-incidents"]')),
        "no-cells": ("without the cells' data (ablation)", ml(DROP % '["source-cells"]')),
        "no-outlines": (
            "without the street and community outlines (ablation)",
            ml(DROP % '["-map-1", "-map-2"]'),
        ),
        "constant-markers": (
            "every marker one colour and size (no data-driven paint)",
            ml(PAINT % json.dumps({incidents: {"circle-radius": 4, "circle-color": "#ff0000"}})),
        ),
        "paint-300ms": ("paint at most every 300 ms until the map is complete", ml(THROTTLE % 300)),
        "two-workers": ("two MapLibre workers instead of one", ml("ml.setWorkerCount(2);")),
        "maxzoom-11": ("GeoJSON tiles no finer than zoom 11", ml(SOURCE % "{maxzoom: 11, tolerance: 0.2}")),
    }


def draw(browser, url: str, script: str, n_cells: int) -> dict:
    """One first draw of ``url`` with ``script`` injected, in a fresh context: seconds, when the map
    was made, and Chromium's CPU seconds (all; the busiest renderer; the GPU process)."""
    page = browser.new_page(viewport=VIEWPORT)
    page.add_init_script(MAP_BORN)
    if script:
        page.add_init_script(script)
    probe = DRAWN.replace("#board-map .js-plotly-plot", "#early-map") if "early-map" in script else DRAWN
    before = chromium_processes()
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(probe, arg=n_cells, timeout=120_000, polling=50)
    seconds = time.perf_counter() - t0
    used = [
        (kind, cpu - before.get(pid, (kind, 0.0))[1]) for pid, (kind, cpu) in chromium_processes().items()
    ]
    spent = {
        "all": sum(u for _, u in used),
        "renderer": max(
            (u for k, u in used if k == "renderer"), default=0.0
        ),  # the page's, not the spare one
        "gpu": sum(u for k, u in used if k == "gpu"),
    }
    born = page.evaluate("() => window.__mapBorn")
    page.close()
    return {"s": seconds, "born": born, **spent}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=6)
    ap.add_argument("--incidents", type=int, default=5000)
    ap.add_argument("names", nargs="*", help="variants to draw (default: all); 'board' is always drawn")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with board_server(args.incidents) as (port, _cfg, grid, _r, _incidents), sync_playwright() as p:
        url = f"http://127.0.0.1:{port}/"
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        box, _view = board_map(browser, url, len(grid))  # also warms the server
        every = variants(box)
        unknown = [n for n in args.names if n not in every]
        if unknown:
            sys.exit(f"no such variant: {', '.join(unknown)} (there are: {', '.join(every)})")
        names = ["board", *(n for n in (args.names or every) if n != "board")]
        runs: dict[str, list[dict]] = {n: [] for n in names}
        for k in range(args.draws + 1):  # the first round warms each variant's path: not counted
            for name in names:
                got = draw(browser, url, every[name][1], len(grid))
                if k:
                    runs[name].append(got)
            print(f"round {k}/{args.draws} drawn", file=sys.stderr, flush=True)
        browser.close()
    med = lambda name, key: statistics.median(r[key] for r in runs[name])  # noqa: E731
    print(f"{args.incidents} open incidents, {len(grid)} cells, 1920x1080 headless Chromium, {os.cpu_count()} cores; "
          f"medians of {args.draws} draws each, in turn (each draw in brackets)")  # fmt: skip
    print(f"{'variant':18} {'first draw s':>12} {'map made ms':>11} {'CPU s':>6} {'renderer':>8} {'GPU':>5}")
    for name in names:
        each = ", ".join(f"{r['s']:.2f}" for r in runs[name])
        print(f"{name:18} {med(name, 's'):12.2f} {med(name, 'born'):11.0f} {med(name, 'all'):6.2f} "
              f"{med(name, 'renderer'):8.2f} {med(name, 'gpu'):5.2f}  {every[name][0]} [{each}]")  # fmt: skip


if __name__ == "__main__":
    main()
