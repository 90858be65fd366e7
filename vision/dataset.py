"""``cityops vision dataset export``: operators' verdicts as an Ultralytics/YOLO dataset.

Layout (what ``yolo train data=DIR/data.yaml`` and :mod:`vision.train` read)::

    DIR/data.yaml                      path, train, val, names (the COCO vocabulary of vision.classes)
    DIR/images/{train,val}/inc-N.jpg   the clean evidence frame of incident N
    DIR/labels/{train,val}/inc-N.txt   one "class cx cy w h" line per box (normalised 0..1)
    DIR/examples.json                  where each image came from (incident, verdict, reason, actor)

A confirmed incident keeps its boxes (as detected, or as the operator drew them); a false alarm is a
background image with an empty label file, so the model learns that nothing there is to be found.
The split is deterministic (evenly spaced by incident id, confirmed and false alarms each), so the
same verdicts always give the same dataset. It is written beside ``DIR`` and moved in place at the
end: an error leaves nothing half-written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import yaml

from cityops.config import ConfigError
from vision.classes import COCO, canonical
from vision.workbench import _progress

CLASS_ID = {name: i for i, name in enumerate(COCO)}


class DatasetError(ConfigError):
    """The verdicts cannot make a dataset (none, no frames), or ``--out`` cannot take one."""


@dataclass
class ExportResult:
    out: Path
    train: int
    val: int
    boxes: int
    background: int
    skipped: list[str]


def yolo_lines(boxes: list[dict], width: int, height: int) -> tuple[list[str], list[str]]:
    """YOLO label lines for pixel ``boxes`` on a ``width`` x ``height`` frame, and the classes left
    out (not in the COCO vocabulary: a class-less ``object`` box cannot teach a class)."""
    lines, dropped = [], []
    for b in boxes:
        cls = canonical(b["cls"])
        if cls not in CLASS_ID:
            dropped.append(cls)
            continue
        x1, x2 = sorted((min(max(b["x1"], 0.0), width), min(max(b["x2"], 0.0), width)))
        y1, y2 = sorted((min(max(b["y1"], 0.0), height), min(max(b["y2"], 0.0), height)))
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        lines.append(f"{CLASS_ID[cls]} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
    return lines, dropped


def split(ids: list[int], val_fraction: float) -> set[int]:
    """The ids that go to validation: evenly spaced, at least one when there are two or more."""
    ids = sorted(ids)
    if len(ids) < 2 or val_fraction <= 0:
        return set()
    n = min(len(ids) - 1, max(1, round(len(ids) * val_fraction)))
    step = len(ids) / n
    return {ids[int(step * k + step / 2)] for k in range(n)}


def export_dataset(
    examples: list[dict], data_dir: Path, out: Path, val_fraction: float = 0.2, progress: bool = True
) -> ExportResult:
    """Write ``examples`` (:func:`dispatch.verdicts.labelled_examples`) as a YOLO dataset in ``out``."""
    if not examples:
        raise DatasetError(
            "no verdicts to export: mark incidents confirmed or false alarm in the console first"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"--out {out}: not an empty folder; give a new one (nothing was written)")
    usable, skipped = [], []
    for ex in examples:
        if ex["frame"] and (data_dir / ex["frame"]).is_file():
            usable.append(ex)
        else:
            skipped.append(f"incident {ex['incident_id']}: no evidence frame kept ({ex['frame'] or 'none'})")
    if not usable:
        raise DatasetError(
            f"none of the {len(examples)} verdict(s) has its evidence frame under {data_dir}: "
            + "; ".join(skipped[:3])
        )
    val: set[int] = set()
    for kind in ("confirmed", "false_alarm"):
        val |= split([e["incident_id"] for e in usable if e["verdict"] == kind], val_fraction)
    if not val:  # one example: it must serve both (Ultralytics needs a validation image)
        val = {usable[0]["incident_id"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    res = ExportResult(out, 0, 0, 0, 0, skipped)
    try:
        manifest = []
        with _progress(progress, len(usable), "export") as step:
            for ex in usable:
                iid = ex["incident_id"]
                parts = ["val"] if iid in val else ["train"]
                if len(usable) == 1:
                    parts = ["train", "val"]
                src = data_dir / ex["frame"]
                img = cv2.imread(str(src))
                if img is None:
                    raise DatasetError(f"incident {iid}: {src} is not a readable image")
                h, w = img.shape[:2]
                lines: list[str] = []
                if ex["verdict"] == "confirmed":
                    lines, dropped = yolo_lines(ex["boxes"], w, h)
                    if dropped:
                        res.skipped.append(
                            f"incident {iid}: box class(es) {sorted(set(dropped))} not in COCO"
                        )
                res.boxes += len(lines)
                res.background += not lines
                for part in parts:
                    (tmp / "images" / part).mkdir(parents=True, exist_ok=True)
                    (tmp / "labels" / part).mkdir(parents=True, exist_ok=True)
                    if src.suffix.lower() in (".jpg", ".jpeg"):
                        shutil.copyfile(src, tmp / "images" / part / f"inc-{iid}.jpg")
                    else:
                        cv2.imwrite(str(tmp / "images" / part / f"inc-{iid}.jpg"), img)
                    (tmp / "labels" / part / f"inc-{iid}.txt").write_text(
                        "".join(f"{line}\n" for line in lines), encoding="utf-8"
                    )
                    res.train += part == "train"
                    res.val += part == "val"
                manifest.append(
                    {k: ex[k] for k in ("incident_id", "verdict", "reason", "actor")}
                    | {"at": str(ex["at"]), "split": parts, "boxes": len(lines)}
                )
                step()
        (tmp / "examples.json").write_text(
            json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8"
        )
        data = {
            "path": str(out.resolve()),
            "train": "images/train",
            "val": "images/val",
            "names": dict(enumerate(COCO)),
        }
        (tmp / "data.yaml").write_text(
            yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.replace(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return res
