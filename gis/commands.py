"""The ``cityops gis`` actions: each takes parsed arguments and a loaded config, prints a report and
returns the exit status (0 fine, 1 the input does not validate, 2 it cannot be used at all)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from cityops.config import CityOpsConfig
from cityops.paths import OutputError, output_file
from gis.report import Report, Tolerances


@contextmanager
def _progress(label: str):
    """A spinner on stderr (rich) whose text each step replaces; silent when stderr is no terminal."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda msg: None
        return
    with console.status(label) as status:
        yield lambda msg: status.update(f"{label}: {msg}")


def _why(exc: Exception) -> str:
    """One line for an output that could not be written."""
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot write {exc.filename}: {exc.strerror}"
    return str(exc)


def _data_dir(args: argparse.Namespace, cfg: CityOpsConfig) -> Path:
    return Path(args.data_dir).resolve() if getattr(args, "data_dir", None) else cfg.data


def add_import_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="cells layer: .geojson, .gpkg or .shp, any CRS")
    p.add_argument("--communities", help="community boundaries (cells must lie inside their community)")
    p.add_argument("--streets", help="street boundaries (communities must lie inside their street)")
    p.add_argument("--layer", help="layer name in a multi-layer GeoPackage")
    p.add_argument("--crs", help="CRS assumed when the file names none, e.g. EPSG:4547")
    for field in ("code", "community", "street", "community-zh", "community-en", "street-zh", "street-en"):
        p.add_argument(
            f"--{field}-col", metavar="COLUMN", help=f"column holding the {field.replace('-', ' ')}"
        )
    t = Tolerances()
    p.add_argument("--overlap-m2", type=float, default=t.overlap_m2, help="overlap tolerated between cells")
    p.add_argument("--gap-m2", type=float, default=t.gap_m2, help="uncovered area tolerated")
    p.add_argument(
        "--gap-width-m", type=float, default=t.gap_width_m, help="slivers narrower than this are gaps"
    )
    p.add_argument(
        "--outside-m2", type=float, default=t.outside_m2, help="area a cell may stick out of its parent"
    )
    p.add_argument(
        "--no-prefix-check", action="store_true", help="codes need not start with their parent's code"
    )


def import_options(args: argparse.Namespace, cfg: CityOpsConfig):
    from gis.columns import Columns
    from gis.importer import ImportOptions

    cols = Columns(
        **{
            f: getattr(args, f"{f}_col")
            for f in ("code", "community", "street", "community_zh", "community_en", "street_zh", "street_en")
        }
    )
    return ImportOptions(
        columns=cols,
        communities=Path(args.communities) if args.communities else None,
        streets=Path(args.streets) if args.streets else None,
        layer=args.layer,
        crs=args.crs,
        tolerances=Tolerances(args.overlap_m2, args.gap_m2, args.gap_width_m, args.outside_m2),
        require_prefix=not args.no_prefix_check,
        district=cfg.district,
    )


def _print_report(report: Report, seconds: float) -> int:
    print(report.text())
    print(f"({seconds:.2f} s)")
    return 0 if report.ok else 1


def validate(args: argparse.Namespace, cfg: CityOpsConfig) -> int:
    from gis.importer import build_grid

    t0 = time.perf_counter()
    with _progress("validating") as step:
        _, report = build_grid(Path(args.file), import_options(args, cfg), step)
    return _print_report(report, time.perf_counter() - t0)


def import_(args: argparse.Namespace, cfg: CityOpsConfig) -> int:
    from gis.importer import import_grid

    t0 = time.perf_counter()
    with _progress("importing") as step:
        grid, report = import_grid(Path(args.file), _data_dir(args, cfg), import_options(args, cfg), step)
    status = _print_report(report, time.perf_counter() - t0)
    if grid is None:
        print("nothing imported: the active grid is unchanged", file=sys.stderr)
    elif cfg.grid.source:
        print(
            f"note: the config names grid.source ({cfg.grid.source}), which services load instead",
            file=sys.stderr,
        )
    return status


def generate(args: argparse.Namespace, cfg: CityOpsConfig) -> int:
    from gis.export import export_layer
    from gis.generate import generate_grid
    from gis.store import activate

    g = cfg.grid
    t0 = time.perf_counter()
    try:
        grid = generate_grid(
            bbox=tuple(args.bbox) if args.bbox else g.bbox,
            cells=args.cells or g.cells,
            communities=args.communities or g.communities,
            streets=args.streets or g.streets,
            seed=g.seed if args.seed is None else args.seed,
            area_km2=args.area_km2,
            district=cfg.district,
        )
    except ValueError as exc:
        print(f"cityops gis generate: {exc}", file=sys.stderr)
        return 2
    gen_s = time.perf_counter() - t0
    default = _data_dir(args, cfg) / "grid" / f"{cfg.district.lower()}.geojson"
    gdf = grid.to_geodataframe()
    try:
        out = output_file(args.out, default, (".geojson",))
        written = [export_layer(gdf, out, "geojson"), export_layer(gdf, out.with_suffix(".gpkg"), "gpkg")]
        if args.activate:
            written.append(activate(grid, _data_dir(args, cfg)))
    except (OutputError, OSError) as exc:
        print(f"cityops gis generate: {_why(exc)}", file=sys.stderr)
        return 2
    print(
        f"{len(grid)} cells, {len(grid.communities)} communities, {len(grid.streets)} streets, "
        f"{grid.area_m2 / 1e6:.1f} km2, generated in {gen_s:.2f} s (digest {grid.digest})"
    )
    for p in written:
        print(f"wrote {p} ({p.stat().st_size / 1024:,.0f} KB)")
    return 0


def export(args: argparse.Namespace, cfg: CityOpsConfig) -> int:
    from gis.default import load_grid
    from gis.export import FORMATS, export_layer
    from gis.rollup import IncidentsError, rollup, unit_frame

    grid = load_grid(cfg.grid, _data_dir(args, cfg))
    if args.incidents:
        try:
            frame = rollup(grid, _read_incidents(Path(args.incidents)), args.level)
        except (OSError, ValueError, IncidentsError) as exc:
            print(f"cityops gis export: {args.incidents}: {exc}", file=sys.stderr)
            return 2
    else:
        frame = unit_frame(grid, args.level)
    default = _data_dir(args, cfg) / "export" / f"{args.level}s{FORMATS[args.format]}"
    try:
        out = output_file(args.out, default, (FORMATS[args.format],))
        export_layer(frame, out, args.format, layer=f"{args.level}s")
    except (OutputError, OSError) as exc:
        print(f"cityops gis export: {_why(exc)}", file=sys.stderr)
        return 2
    outside = frame.attrs.get("outside", 0)
    print(
        f"wrote {out}: {len(frame)} {args.level}s"
        + (f" ({outside} incident(s) outside the grid)" if outside else "")
    )
    return 0


def _read_incidents(path: Path):
    import pandas as pd

    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype={"cell": str})
    return json.loads(path.read_text(encoding="utf-8"))


def roster(args: argparse.Namespace, cfg: CityOpsConfig) -> int:
    from gis import rosters
    from gis.default import load_grid

    grid = load_grid(cfg.grid, _data_dir(args, cfg))
    report = Report(source="roster and cameras")
    people, sites = list(cfg.roster), rosters.sites_from_config(cfg.cameras)
    report.extend(rosters.validate_roster(people, grid, "config roster"))
    report.extend(rosters.validate_cameras(sites, grid, "config cameras"))
    for csv_path, read, check, into in (
        (args.roster_csv, rosters.read_roster_csv, rosters.validate_roster, people),
        (args.cameras_csv, rosters.read_cameras_csv, rosters.validate_cameras, sites),
    ):
        if csv_path:
            extra, issues = read(Path(csv_path))
            report.extend(issues)
            report.extend(check(extra, grid, str(csv_path)))
            into.extend(extra)
    covered = rosters.inspectors_per_cell(people, grid)
    cams = rosters.cameras_per_cell(sites, grid)
    report.summary.append(
        f"{len(people)} inspector(s) covering {len(covered)} of {len(grid)} cells; "
        f"{len(sites)} camera(s) in {len(cams)} cell(s)"
    )
    print(report.text())
    return 0 if report.ok else 1


def components(args: argparse.Namespace, cfg: CityOpsConfig) -> int:
    """``cityops gis components FILE``: validate a component layer (部件普查) and, without errors and
    unless ``--check``, make it the registry the dispatch API reads."""
    from gis.components import activate_components, build_components
    from gis.default import load_grid

    data = _data_dir(args, cfg)
    grid = load_grid(cfg.grid, data)
    found, report = build_components(
        Path(args.file), grid, [d.id for d in cfg.departments], layer=args.layer, crs=args.crs
    )
    print(report.text())
    if found is None:
        return 1
    if not args.check:
        print(f"active: {activate_components(found, data)}")
    return 0
