"""``cityops iot``: run the bridge, and manage the device registry (``devices add|list|import``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cityops.clock import utcnow
from cityops.config import CityOpsConfig


def add_parser(sub, with_config, run_bridge) -> None:
    iot = with_config(sub.add_parser("iot", help="run the IoT alarm bridge (default) or manage devices"))
    iot.set_defaults(func=run_bridge, iot_command=None)
    iot_sub = iot.add_subparsers(dest="iot_command", required=False, metavar="ACTION")
    run = iot_sub.add_parser("run", help="run the MQTT bridge (same as no action)")
    run.add_argument("--config", "-c", default=argparse.SUPPRESS, help="YAML config")
    dev = iot_sub.add_parser("devices", help="the device registry")
    dev_sub = dev.add_subparsers(dest="devices_command", required=True, metavar="ACTION")

    def action(name: str, help: str) -> argparse.ArgumentParser:
        sp = dev_sub.add_parser(name, help=help)
        sp.add_argument("--config", "-c", default=argparse.SUPPRESS, help="YAML config")
        return sp

    add = action("add", "register (or update) one device; prints its webhook secret when one is made")
    add.add_argument("id")
    add.add_argument("--kind", required=True, help="water_leak, gas, smoke, sos_wristband, manhole_cover")
    add.add_argument("--lon", type=float, required=True)
    add.add_argument("--lat", type=float, required=True)
    add.add_argument("--address", default="")
    add.add_argument("--protects", default="", help="the resident or site the device protects")
    add.add_argument("--contact-name", default="")
    add.add_argument("--contact-phone", default="")
    add.add_argument("--heartbeat-s", type=int, default=0, help="silence longer than this: offline (0: off)")
    add.add_argument("--secret", help="the webhook signing secret (default: made at random)")
    imp = action("import", "register the devices of a CSV (all rows valid, or nothing written)")
    imp.add_argument(
        "csv",
        help="columns: id,kind,lon,lat[,address,protects,contact_name,contact_phone,heartbeat_s,secret]",
    )
    imp.add_argument("--secrets-out", help="write the secrets made for new devices to this CSV (0600)")
    lst = action("list", "list the registered devices (without secrets)")
    lst.add_argument("--json", action="store_true")


def _open(cfg: CityOpsConfig):
    from dispatch.store import open_store
    from gis.default import load_grid

    engine, sessions = open_store(cfg.store_url)
    return engine, sessions, load_grid(cfg.grid, cfg.data)


def _write(cfg: CityOpsConfig, rows: list[dict]):
    from iot.devices import RegistryError, register

    engine, sessions, grid = _open(cfg)
    try:
        return register(sessions, grid, rows, utcnow())
    except RegistryError as exc:
        print(f"cityops iot devices: nothing written:\n{exc}", file=sys.stderr)
        return None
    finally:
        engine.dispose()


def devices(args: argparse.Namespace, cfg: CityOpsConfig) -> int:
    if args.devices_command == "list":
        from iot.devices import rows_for_listing

        engine, sessions, _ = _open(cfg)
        try:
            rows = rows_for_listing(sessions)
        finally:
            engine.dispose()
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=1))
            return 0
        for r in rows:
            hb = f"heartbeat {r['heartbeat_s']} s" if r["heartbeat_s"] else "no heartbeat"
            print(f"{r['id']}\t{r['kind']}\t{r['cell']}\t{r['address']}\t{r['protects']}\t"
                  f"{r['contact_name']} {r['contact_phone']}\t{hb}")  # fmt: skip
        print(f"{len(rows)} device(s)")
        return 0
    if args.devices_command == "add":
        row = {
            "id": args.id, "kind": args.kind, "lon": args.lon, "lat": args.lat, "address": args.address,
            "protects": args.protects, "contact_name": args.contact_name,
            "contact_phone": args.contact_phone, "heartbeat_s": args.heartbeat_s, "secret": args.secret,
        }  # fmt: skip
        done = _write(cfg, [row])
        if done is None:
            return 2
        print(f"{'added' if done.added else 'updated'} device {args.id}")
        for dev, secret in done.secrets.items():
            print(f"webhook secret of {dev} (shown once): {secret}")
        return 0
    from iot.devices import RegistryError, read_csv

    try:
        rows = read_csv(Path(args.csv).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cityops iot devices import: cannot read {args.csv}: {exc}", file=sys.stderr)
        return 2
    except RegistryError as exc:
        print(f"cityops iot devices import: nothing written: {exc}", file=sys.stderr)
        return 2
    done = _write(cfg, rows)
    if done is None:
        return 2
    print(f"{len(done.added)} device(s) added, {len(done.updated)} updated")
    if done.secrets:
        if args.secrets_out:
            import os

            fd = os.open(args.secrets_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("id,secret\n" + "".join(f"{k},{v}\n" for k, v in done.secrets.items()))
            print(f"{len(done.secrets)} new secret(s) written to {args.secrets_out}")
        else:
            print(
                f"{len(done.secrets)} device(s) got a random webhook secret; give --secrets-out to keep them"
            )
    return 0
