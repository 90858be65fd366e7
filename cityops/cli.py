"""The ``cityops`` command."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from cityops import logs
from cityops.config import CityOpsConfig, ConfigError, load_config
from cityops.paths import OutputError, output_folder
from cityops.resources import DEMO_CONFIG, INSTALLED_DATA_DIR, checkout_root


def _setup_logging(name: str, verbose: bool = False) -> None:
    logs.setup(name, verbose)  # times in the config's zone once it is loaded (_load)


def _load(path: str | None) -> CityOpsConfig:
    try:
        cfg = load_config(path or DEMO_CONFIG)
    except ConfigError as exc:
        print(f"cityops: invalid configuration\n{exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if path is None and checkout_root() is None:  # the packaged example must not write into site-packages
        cfg = cfg.model_copy(update={"data_dir": Path.cwd() / INSTALLED_DATA_DIR})
    logs.use_timezone(cfg.timezone)
    return cfg


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


def _detector_label(det) -> str:
    return det.backend + (f" ({Path(det.model).name})" if det.model else "")


# -- subcommands --------------------------------------------------------------------------------------
def cmd_config_check(args: argparse.Namespace) -> int:
    cfg = _load(args.file)
    zones = sum(len(c.zones) for c in cfg.cameras)
    missing = [
        c.source
        for c in cfg.cameras
        if "://" not in c.source and not c.source.startswith("demo:") and not Path(c.source).is_file()
    ]
    from vision import zone_overrides
    from vision.classes import camera_class_errors

    errors, lines = [], []
    for cam in cfg.cameras:
        det = cam.detector or cfg.detector
        try:  # the zone editor's file for this camera, validated as the worker will
            over = zone_overrides.load(cfg.data, cam)
        except zone_overrides.OverrideError as exc:
            why = str(exc).replace("\n", "\n    ")
            errors.append(
                f"camera {cam.id!r}: zone override refused (the worker keeps the config's zones): {why}"
            )
            over = None
        if over is not None:
            cam = over
            zones += len(over.zones) - len(next(c for c in cfg.cameras if c.id == cam.id).zones)
        static = cam.uses_static_objects(det.backend)
        extra = (" + static objects" if static else "") + (
            f", background {cam.background}" if cam.background else ""
        )
        if over is not None:
            extra += f", zones from {zone_overrides.override_path(cfg.data, cam.id)}"
        lines.append(f"  camera {cam.id}: detector {_detector_label(det)}{extra}")
        errors += camera_class_errors(cam, cfg.detector)
    if errors:
        print(f"cityops: invalid configuration {args.file}", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        return 2
    print(
        f"OK: {args.file}: {len(cfg.cameras)} camera(s), {zones} zone(s), {len(cfg.roster)} inspector(s), "
        f"default detector {_detector_label(cfg.detector)}"
    )
    print("\n".join(lines))
    for src in missing:
        print(f"warning: camera source file not found (yet): {src}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from cityops.supervisor import run_stack

    _setup_logging("up", args.verbose)
    return run_stack(_load(args.config), demo=args.demo, seconds=args.seconds, open_port=args.port)


def cmd_status(args: argparse.Namespace) -> int:
    """``cityops status``: the supervised services; exit 0 all running, 1 degraded, 3 stack not running."""
    from cityops.service_state import STATES, degraded, pid_alive, read_state, state_path

    path = state_path(_load(args.config).data)
    doc = read_state(path)
    if doc is None:
        print(f"stack not running 整套服务未运行: no state file {path}")
        return 3
    up = pid_alive(doc.get("supervisor_pid"))
    cols = (
        "service 服务",
        "state 状态",
        "pid",
        "restarts 重启",
        "last exit 上次退出",
        "since 起于",
        "next restart 下次重启",
    )
    rows = [
        (name, f"{s.get('state')} {STATES.get(s.get('state'), '')}", s.get("pid") or "-", s.get("restarts", 0),
         s.get("last_exit") or "-", s.get("since") or "-", s.get("next_restart_at") or "-")
        for name, s in doc["services"].items()
    ]  # fmt: skip
    widths = [max(_width(str(v)) for v in col) for col in zip(cols, *rows, strict=False)]
    for row in (cols, *rows):
        print(
            "  ".join(str(v) + " " * (w - _width(str(v))) for v, w in zip(row, widths, strict=True)).rstrip()
        )
    if not up:
        print(
            f"stack not running 整套服务未运行: supervisor pid {doc.get('supervisor_pid')} is gone "
            f"(last update {doc.get('updated_at')})"
        )
        return 3
    bad = degraded(doc)
    if bad:
        print(f"degraded 降级: {', '.join(bad)}")
        return 1
    print("all running 全部运行中")
    return 0


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def cmd_dispatch(args: argparse.Namespace) -> int:
    from dispatch.service import DispatchService

    _setup_logging("dispatch", args.verbose)
    cfg = _load(args.config)
    svc = DispatchService(cfg, _require_redis(cfg))
    svc.run(_stop_on_signals())
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from dispatch.api.server import build_app

    _setup_logging("api", args.verbose)
    cfg = _load(args.config)
    redis_url = _require_redis(cfg)
    port = args.port or cfg.dispatch.port
    if cfg.dispatch.api_workers > 1:  # worker processes build the app from the environment
        os.environ.update(
            CITYOPS_CONFIG=str(Path(args.config or DEMO_CONFIG).resolve()),
            CITYOPS_DATA_DIR=str(cfg.data),
            REDIS_URL=redis_url,
        )
        uvicorn.run("dispatch.api.server:app_from_env", factory=True, workers=cfg.dispatch.api_workers,
                    host=cfg.dispatch.host, port=port, log_level="warning")  # fmt: skip
    else:
        uvicorn.run(build_app(cfg, redis_url), host=cfg.dispatch.host, port=port, log_level="warning")
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    import getpass

    from dispatch.accounts import create_user
    from dispatch.store import open_store

    cfg = _load(args.config)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    _, sessions = open_store(cfg.store_url)
    try:
        create_user(sessions, args.username, password, args.role, args.inspector)
    except ValueError as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        return 2
    print(f"created {args.role} {args.username}")
    return 0


def cmd_users_set(args: argparse.Namespace) -> int:
    """Change an account (role, roster id, activity, password); any change ends its logins."""
    import getpass

    from dispatch.accounts import update_user
    from dispatch.store import open_store

    cfg = _load(args.config)
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif args.password:
        password = getpass.getpass("new password: ")
    changes = {"role": args.role, "active": args.active, "password": password}
    if args.inspector is not None:
        changes["inspector_id"] = args.inspector or None
    _, sessions = open_store(cfg.store_url)
    try:
        user = update_user(sessions, args.username, **changes)
    except (LookupError, ValueError) as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        return 2
    state = "active" if user.active else "deactivated"
    print(f"{user.username}: {user.role}{f' ({user.inspector_id})' if user.inspector_id else ''}, {state}")
    return 0


def cmd_users_logout(args: argparse.Namespace) -> int:
    from dispatch.accounts import end_logins
    from dispatch.store import open_store

    cfg = _load(args.config)
    _, sessions = open_store(cfg.store_url)
    if not end_logins(sessions, args.username):
        print(f"cityops: no user {args.username!r}", file=sys.stderr)
        return 2
    print(f"ended every login of {args.username}")
    return 0


def cmd_vision(args: argparse.Namespace) -> int:
    """``cityops vision [run] --config X``: a worker taking its share of the cameras (Redis leases)."""
    if getattr(args, "vision_command", None) == "try":
        return cmd_vision_try(args)
    if getattr(args, "vision_command", None) == "eval":
        return cmd_vision_eval(args)
    if getattr(args, "vision_command", None) == "dataset":
        return cmd_vision_dataset_export(args)
    if getattr(args, "vision_command", None) == "train":
        return cmd_vision_train(args)
    if getattr(args, "vision_command", None) == "background":
        return cmd_vision_background(args)
    from vision.worker import VisionWorker

    _setup_logging("vision", args.verbose)
    cfg = _load(args.config)
    VisionWorker(cfg, _require_redis(cfg), args.camera or None).run(_stop_on_signals())
    return 0


def _vision_tool(run) -> int:
    """Run a vision workbench action: exit 2 for a bad config or label file, 1 for a camera error."""
    from vision.worker import CAMERA_ERRORS

    try:
        run()
    except ConfigError as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        return 2
    except CAMERA_ERRORS as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_vision_try(args: argparse.Namespace) -> int:
    """``cityops vision try CLIP --camera CAMERA.yaml``: annotated MP4, incidents and timings."""
    from vision.workbench import try_clip

    _setup_logging("vision", args.verbose)
    try:
        out = output_folder(args.out, Path(f"vision-try-{Path(args.clip).stem}"))
    except OutputError as exc:
        print(f"cityops vision try: {exc}", file=sys.stderr)
        return 2
    return _vision_tool(
        lambda: try_clip(
            args.clip, Path(args.camera_yaml), out, args.camera_id, not args.no_video, not args.quiet
        )
    )


def cmd_vision_eval(args: argparse.Namespace) -> int:
    """``cityops vision eval LABELS.yaml``: event-level precision, recall and F1 per clip and overall;
    with ``--model A --model B`` once per model (same clips). ``--data DIR``: box-level P/R/mAP of
    each ``--model`` on a dataset's val split (``cityops vision dataset export``)."""
    from vision.workbench import evaluate

    _setup_logging("vision", args.verbose)
    models = args.model or []
    if args.data:
        if not models:
            print("cityops vision eval: --data needs at least one --model to score", file=sys.stderr)
            return 2
        from vision.train import compare

        cfg = _load(args.config)
        return _vision_tool(
            lambda: compare(Path(args.data), models, imgsz=args.imgsz, device=args.device, data_dir=cfg.data)
        )
    if not args.labels:
        print("cityops vision eval: give a label file (LABELS.yaml) or --data DIR", file=sys.stderr)
        return 2
    gate = {"on": True, "off": False}.get(args.gate)

    def run(model: str | None = None) -> None:
        evaluate(
            Path(args.labels),
            args.tolerance,
            clips_dir=Path(args.clips) if args.clips else None,
            detector=Path(args.detector) if args.detector else None,
            json_out=_json_for(args.json, model),
            gate=gate,
            model=model,
        )

    if not models:
        return _vision_tool(run)

    def each() -> None:
        for m in models:
            print(f"== model {m}")
            run(m)

    return _vision_tool(each)


def _json_for(arg: str | None, model: str | None) -> Path | None:
    """``--json`` as given, or one file per ``--model`` beside it (scores.<model>.json)."""
    if not arg:
        return None
    p = Path(arg)
    return p if model is None else p.with_name(f"{p.stem}.{Path(model.rstrip('/')).stem}{p.suffix}")


def cmd_vision_dataset_export(args: argparse.Namespace) -> int:
    """``cityops vision dataset export --out DIR``: operators' verdicts as a YOLO dataset."""
    from dispatch.store import read_sessions
    from dispatch.verdicts import labelled_examples
    from vision.dataset import DatasetError, export_dataset

    _setup_logging("vision", args.verbose)
    cfg = _load(args.config)
    examples = labelled_examples(read_sessions(cfg.store_url))
    try:
        res = export_dataset(examples, cfg.data, Path(args.out), args.val, progress=not args.quiet)
    except DatasetError as exc:
        print(f"cityops vision dataset export: {exc}", file=sys.stderr)
        return 1
    for why in res.skipped:
        print(f"skipped: {why}")
    print(
        f"wrote {res.out}: {res.train} train + {res.val} val image(s), {res.boxes} box(es), "
        f"{res.background} background (false alarm or no box); data: {res.out / 'data.yaml'}"
    )
    return 0


def cmd_vision_train(args: argparse.Namespace) -> int:
    """``cityops vision train --data DIR --model M``: fine-tune with Ultralytics, weights + model card."""
    from vision.train import train

    _setup_logging("vision", args.verbose)
    cfg = _load(args.config)
    try:
        out = output_folder(args.out, Path(f"vision-train-{Path(args.data).name}"))
    except OutputError as exc:
        print(f"cityops vision train: {exc}", file=sys.stderr)
        return 2
    card: dict = {}

    def run() -> None:
        card.update(
            train(Path(args.data), args.model, out, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
                  device=args.device, threads=args.threads, data_dir=cfg.data, progress=not args.quiet)
        )  # fmt: skip

    rc = _vision_tool(run)
    if rc == 0:
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in card["metrics"].items())
        print(f"wrote {card['model']} and {out / 'model_card.md'} ({card['epochs']} epoch(s); {metrics})")
    return rc


def cmd_vision_background(args: argparse.Namespace) -> int:
    """``cityops vision background CAM --from CLIP@T``: a reference image of the camera's empty scene."""
    from vision.background import BackgroundError, capture, parse_clip_at, write_image

    cfg = _load(args.config)
    cams = {c.id: c for c in cfg.cameras}
    if args.camera_id not in cams:
        print(
            f"cityops: no camera {args.camera_id!r} in the config; cameras: {', '.join(sorted(cams)) or 'none'}",
            file=sys.stderr,
        )
        return 2
    try:
        clip, at = parse_clip_at(args.source)
    except BackgroundError as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else cfg.data / "vision" / "reference" / f"{args.camera_id}.png"
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"):
        print(f"cityops: --out {out}: give an image file name (.png, .jpg)", file=sys.stderr)
        return 2
    try:
        img = capture(clip, at, args.median)
        write_image(out, img)
    except (BackgroundError, OSError) as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        return 1
    how = f"median of {args.median:g} s from {at:g} s" if args.median > 0 else f"frame at {at:g} s"
    print(f"wrote {out.resolve()} ({img.shape[1]}x{img.shape[0]}, {how} of {clip})")
    print(f"add this line to camera {args.camera_id!r} in {args.config or 'the config'}:")
    print(f"    background: {out.resolve()}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboard.server import serve

    _setup_logging("dashboard", args.verbose)
    cfg = _load(args.config)
    serve(cfg, _require_redis(cfg), port=args.port)
    return 0


def cmd_iot(args: argparse.Namespace) -> int:
    """``cityops iot [run]``: the MQTT alarm bridge; ``cityops iot devices ...``: the registry."""
    cfg = _load(args.config)
    if args.iot_command == "devices":
        from iot.commands import devices

        return devices(args, cfg)
    from iot.bridge import Bridge

    _setup_logging("iot", args.verbose)
    if not cfg.mqtt_url:
        print(
            "cityops: no MQTT broker configured for the iot bridge: set iot.mqtt_url (or CITYOPS_MQTT_URL), "
            "or run 'cityops up', which starts an embedded Mosquitto",
            file=sys.stderr,
        )
        return 2
    Bridge(cfg, _require_redis(cfg), cfg.mqtt_url).run(_stop_on_signals())
    return 0


def cmd_gis(args: argparse.Namespace) -> int:
    """``cityops gis ACTION``: the action's function in :mod:`gis.commands` (set by the parser)."""
    from gis import commands

    return getattr(commands, args.gis_run)(args, _load(args.config))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cityops", description="CityOps: city operations command centre.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", "-c", help="YAML config (default: the example, config/demo.yaml)")
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

    with_config(
        sub.add_parser(
            "status", help="state of the services 'cityops up' runs (exit 0 all running, 1 degraded, 3 down)"
        )
    ).set_defaults(func=cmd_status)

    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    chk = cfg_sub.add_parser("check", help="validate a config file; exits non-zero and names each bad field")
    chk.add_argument("file")
    chk.set_defaults(func=cmd_config_check)

    with_config(
        sub.add_parser("dispatch", help="run the dispatch service (detections -> incidents)")
    ).set_defaults(func=cmd_dispatch)
    vis = with_config(
        sub.add_parser("vision", help="run a vision worker (default), or try/evaluate the rules on clips")
    )
    vis.add_argument("--camera", action="append", help="only this camera id (repeatable)")
    vis.set_defaults(func=cmd_vision, vision_command=None)
    vis_sub = vis.add_subparsers(dest="vision_command", required=False, metavar="ACTION")
    vrun = vis_sub.add_parser("run", help="run a worker on its share of the cameras (same as no action)")
    vrun.add_argument("--config", "-c", default=argparse.SUPPRESS, help="YAML config")
    vrun.add_argument("--camera", action="append", default=argparse.SUPPRESS, help="only this camera id")
    vtry = vis_sub.add_parser(
        "try", help="run one camera's rules over a clip: annotated MP4, incidents, timings"
    )
    vtry.add_argument("clip", help="video file or image folder")
    vtry.add_argument("--camera", dest="camera_yaml", required=True, help="camera YAML (or a config)")
    vtry.add_argument("--camera-id", help="which camera, when the YAML is a whole config")
    vtry.add_argument("--out", help="output folder, created when missing (default: vision-try-<clip name>)")
    vtry.add_argument("--no-video", action="store_true", help="skip the annotated MP4")
    vtry.add_argument("--quiet", action="store_true", help="no progress bar")
    veval = vis_sub.add_parser("eval", help="event-level precision/recall/F1 on labelled clips")
    veval.add_argument("labels", nargs="?", help="label YAML (format: docs/vision.md)")
    veval.add_argument("--tolerance", type=float, help="seconds (overrides the label file's tolerance_s)")
    veval.add_argument("--clips", help="folder holding the clips (default: the label file's folder)")
    veval.add_argument("--detector", help="detector YAML replacing every camera's (compare backends)")
    veval.add_argument("--gate", choices=("on", "off"), help="force the motion gate on or off")
    veval.add_argument("--json", help="also write the scores (per clip, per type, all) to this JSON file")
    vbg = vis_sub.add_parser(
        "background", help="capture a camera's reference image of the empty scene from a clip"
    )
    vbg.add_argument("camera_id", metavar="CAMERA", help="camera id in the config")
    vbg.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="CLIP@T",
        help="video file or image folder and the second to take, e.g. street.mp4@12.5",
    )
    vbg.add_argument(
        "--median",
        type=float,
        default=0.0,
        metavar="S",
        help="take the per-pixel median of S seconds from T on (people walking through vanish)",
    )
    vbg.add_argument("--out", help="image file (default: <data dir>/vision/reference/<camera>.png)")
    vbg.add_argument("--config", "-c", default=argparse.SUPPRESS, help="YAML config")
    veval.add_argument(
        "--model", action="append", help="Ultralytics model to score (repeat to compare: old, then new)"
    )
    veval.add_argument("--data", help="a YOLO dataset folder: box-level P/R/mAP on its val split")
    veval.add_argument("--imgsz", type=int, default=640, help="image size for --data (default 640)")
    veval.add_argument("--device", default="cpu", help="for --data (default cpu)")
    veval.add_argument("--config", "-c", default=argparse.SUPPRESS, help="YAML config (its data dir)")
    vds = vis_sub.add_parser("dataset", help="the operators' verdicts as a training dataset")
    vds_sub = vds.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")
    vexp = vds_sub.add_parser("export", help="write the verdicts as an Ultralytics/YOLO dataset")
    vexp.add_argument("--out", required=True, help="a new (or empty) folder")
    vexp.add_argument("--val", type=float, default=0.2, help="fraction for validation (default 0.2)")
    vexp.add_argument("--quiet", action="store_true", help="no progress bar")
    vexp.add_argument("--config", "-c", default=argparse.SUPPRESS, help="YAML config")
    vtrain = vis_sub.add_parser("train", help="fine-tune an Ultralytics model on an exported dataset")
    vtrain.add_argument("--data", required=True, help="dataset folder (or its data.yaml)")
    vtrain.add_argument("--model", required=True, help="start from: a .pt checkpoint or a model .yaml")
    vtrain.add_argument("--epochs", type=int, default=10)
    vtrain.add_argument("--imgsz", type=int, default=640)
    vtrain.add_argument("--batch", type=int, default=8)
    vtrain.add_argument("--device", default="cpu")
    vtrain.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    vtrain.add_argument("--out", help="output folder (default: vision-train-<dataset name>)")
    vtrain.add_argument("--quiet", action="store_true", help="no progress bar")
    vtrain.add_argument("--config", "-c", default=argparse.SUPPRESS, help="YAML config")
    api = with_config(
        sub.add_parser("api", help="serve the dispatch HTTP API (inspectors, desk, Open311, reports)")
    )
    api.add_argument("--port", type=int)
    api.set_defaults(func=cmd_api)
    users = sub.add_parser("users", help="staff accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = with_config(
        users_sub.add_parser("add", help="create an account (password prompted, or --password-stdin)")
    )
    add.add_argument("username")
    add.add_argument(
        "--role",
        required=True,
        choices=["inspector", "department", "operator", "supervisor", "admin", "viewer"],
    )
    add.add_argument("--inspector", help="roster id the inspector (or a department's staff member) acts as")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=cmd_users_add)
    chg = with_config(
        users_sub.add_parser(
            "set", help="change an account's role, roster id, password or activity (ends its logins)"
        )
    )
    chg.add_argument("username")
    chg.add_argument(
        "--role", choices=["inspector", "department", "operator", "supervisor", "admin", "viewer"]
    )
    chg.add_argument("--inspector", help="roster id the inspector acts as ('' to clear)")
    act = chg.add_mutually_exclusive_group()
    act.add_argument("--activate", dest="active", action="store_const", const=True, default=None)
    act.add_argument("--deactivate", dest="active", action="store_const", const=False)
    pw = chg.add_mutually_exclusive_group()
    pw.add_argument("--password", action="store_true", help="set a new password (prompted)")
    pw.add_argument("--password-stdin", action="store_true", help="read a new password from stdin")
    chg.set_defaults(func=cmd_users_set)
    out = with_config(users_sub.add_parser("logout", help="end every login of an account (all devices)"))
    out.add_argument("username")
    out.set_defaults(func=cmd_users_logout)
    dash = with_config(sub.add_parser("dashboard", help="serve the live command board"))
    dash.add_argument("--port", type=int)
    dash.set_defaults(func=cmd_dashboard)

    from iot.commands import add_parser as add_iot_parser

    add_iot_parser(sub, with_config, cmd_iot)

    from gis.commands import add_import_options

    gis = sub.add_parser("gis", help="district grid tools")
    gis_sub = gis.add_subparsers(dest="gis_command", required=True, metavar="ACTION")

    def gis_action(name: str, help: str, run: str) -> argparse.ArgumentParser:
        sp = with_config(gis_sub.add_parser(name, help=help))
        sp.add_argument("--data-dir", help="data directory (default: the config's, or CITYOPS_DATA_DIR)")
        sp.set_defaults(func=cmd_gis, gis_run=run)
        return sp

    gen = gis_action("generate", "generate the default grid (seeded) as GeoJSON and GeoPackage", "generate")
    gen.add_argument(
        "--out",
        help="a .geojson file (the .gpkg goes beside it) or a folder, created when missing "
        "(default: DATA/grid/<district>.geojson)",
    )
    gen.add_argument("--cells", type=int, help="default: the config's grid.cells")
    gen.add_argument("--communities", type=int, help="default: the config's grid.communities")
    gen.add_argument("--streets", type=int, help="default: the config's grid.streets")
    gen.add_argument("--seed", type=int, help="default: the config's grid.seed")
    gen.add_argument("--bbox", type=float, nargs=4, metavar=("W", "S", "E", "N"), help="default: grid.bbox")
    gen.add_argument("--area-km2", type=float, default=124.0, help="outline area (default 124: Lubei's)")
    gen.add_argument("--activate", action="store_true", help="also make it the active grid")
    imp = gis_action("import", "validate a grid file and, when it has no errors, make it active", "import_")
    add_import_options(imp)
    val = gis_action(
        "validate", "validate a grid file and report (exit 1 on errors); changes nothing", "validate"
    )
    add_import_options(val)
    exp = gis_action("export", "write the grid's cells, communities or streets with figures", "export")
    exp.add_argument("--format", choices=["geojson", "gpkg", "csv", "shp"], default="geojson")
    exp.add_argument("--level", choices=["cell", "community", "street"], default="cell")
    exp.add_argument("--incidents", help="CSV or JSON of incidents (lon/lat or cell, type, state, overdue)")
    exp.add_argument(
        "--out", help="a file or a folder, created when missing (default: DATA/export/<level>s.<ext>)"
    )
    ros = gis_action("roster", "check the roster and cameras (config, CSV) against the grid", "roster")
    ros.add_argument("--roster-csv", help="extra inspectors: id,name,phone,cells,shift_start,shift_end")
    ros.add_argument("--cameras-csv", help="camera sites: id,name,lon,lat[,cell]")
    com = gis_action(
        "components",
        "validate a component layer (部件普查) and, without errors, make it the registry",
        "components",
    )
    com.add_argument(
        "file", help="GeoJSON, GeoPackage or Shapefile of points: code, type, owner, state, name"
    )
    com.add_argument("--layer", help="the layer of a multi-layer GeoPackage")
    com.add_argument("--crs", help="assumed when the file names none")
    com.add_argument("--check", action="store_true", help="validate only; change nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
