"""The ``cityops`` command."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from cityops.config import CityOpsConfig, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "config" / "demo.yaml"


def _setup_logging(name: str, verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"%(asctime)s {name:<9} %(levelname)-7s %(message)s",
        datefmt="%H:%M:%S",
    )


def _load(path: str | None) -> CityOpsConfig:
    try:
        return load_config(path or DEMO_CONFIG)
    except ConfigError as exc:
        print(f"cityops: invalid configuration\n{exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _require_redis(cfg: CityOpsConfig) -> str:
    url = cfg.redis_url
    if not url:
        print(
            "cityops: no Redis configured for this service: set REDIS_URL or redis.url in the config, "
            "or run 'cityops up', which starts an embedded server",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return url


# -- subcommands --------------------------------------------------------------------------------------
def cmd_config_check(args: argparse.Namespace) -> int:
    cfg = _load(args.file)
    zones = sum(len(c.zones) for c in cfg.cameras)
    missing = [
        c.source
        for c in cfg.cameras
        if "://" not in c.source and not c.source.startswith("demo:") and not Path(c.source).is_file()
    ]
    print(
        f"OK: {args.file}: {len(cfg.cameras)} camera(s), {zones} zone(s), {len(cfg.roster)} inspector(s), detector {cfg.detector.backend}"
    )
    for src in missing:
        print(f"warning: camera source file not found (yet): {src}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from cityops.supervisor import run_stack

    _setup_logging("up", args.verbose)
    return run_stack(_load(args.config), demo=args.demo, seconds=args.seconds, open_port=args.port)


def cmd_dispatch(args: argparse.Namespace) -> int:
    from dispatch.service import DispatchService

    _setup_logging("dispatch", args.verbose)
    cfg = _load(args.config)
    svc = DispatchService(cfg, _require_redis(cfg))
    svc.run(_stop_on_signals())
    return 0


def cmd_vision(args: argparse.Namespace) -> int:
    from vision.worker import VisionWorker

    _setup_logging("vision", args.verbose)
    cfg = _load(args.config)
    VisionWorker(cfg, _require_redis(cfg), args.camera or None).run(_stop_on_signals())
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboard.server import serve

    _setup_logging("dashboard", args.verbose)
    cfg = _load(args.config)
    serve(cfg, _require_redis(cfg), port=args.port)
    return 0


def cmd_gis_generate(args: argparse.Namespace) -> int:
    from gis.generate import generate_grid

    grid = generate_grid(cells=args.cells, communities=args.communities, streets=args.streets, seed=args.seed)
    out = Path(args.out)
    grid.save_geojson(out)
    area = sum(c.area_m2 for c in grid.cells) / 1e6
    print(
        f"wrote {out}: {len(grid)} cells, {len({c.community for c in grid.cells})} communities, {len({c.street for c in grid.cells})} streets, {area:.1f} km2"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cityops", description="CityOps: city operations command centre.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", "-c", help=f"YAML config (default: {DEMO_CONFIG.relative_to(ROOT)})")
        return sp

    up = with_config(
        sub.add_parser("up", help="run the whole stack (Redis if none configured, dispatch, vision, board)")
    )
    up.add_argument("--seconds", type=float, help="stop after this many seconds (for scripted runs)")
    up.add_argument("--port", type=int, help="board port (default from config)")
    up.set_defaults(func=cmd_up, demo=False)

    demo = with_config(
        sub.add_parser("demo", help="run the demo district offline, on the sample clips or a generated one")
    )
    demo.add_argument("--seconds", type=float, help="stop after this many seconds")
    demo.add_argument("--port", type=int, help="board port (default from config)")
    demo.set_defaults(func=cmd_up, demo=True)

    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    chk = cfg_sub.add_parser("check", help="validate a config file; exits non-zero and names each bad field")
    chk.add_argument("file")
    chk.set_defaults(func=cmd_config_check)

    with_config(
        sub.add_parser("dispatch", help="run the dispatch service (detections -> incidents)")
    ).set_defaults(func=cmd_dispatch)
    vis = with_config(sub.add_parser("vision", help="run a vision worker on the configured cameras"))
    vis.add_argument("--camera", action="append", help="only this camera id (repeatable)")
    vis.set_defaults(func=cmd_vision)
    dash = with_config(sub.add_parser("dashboard", help="serve the live command board"))
    dash.add_argument("--port", type=int)
    dash.set_defaults(func=cmd_dashboard)

    gis = sub.add_parser("gis", help="district grid tools")
    gis_sub = gis.add_subparsers(dest="gis_command", required=True, metavar="ACTION")
    gen = gis_sub.add_parser("generate", help="generate the default three-level grid (seeded, reproducible)")
    gen.add_argument("--out", default="data/grid/cells.geojson")
    gen.add_argument("--cells", type=int, default=2257)
    gen.add_argument("--communities", type=int, default=98)
    gen.add_argument("--streets", type=int, default=10)
    gen.add_argument("--seed", type=int, default=2257)
    gen.set_defaults(func=cmd_gis_generate)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
