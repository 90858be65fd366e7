"""``cityops vision train`` and ``cityops vision eval --data``: fine-tune and compare detectors.

Training runs Ultralytics offline on the CPU (a few epochs are fine on a laptop; ``--device`` for a
GPU), with its settings under the data directory and a fixed number of torch threads, and leaves::

    OUT/model.pt          the best weights (Ultralytics checkpoint: ``detector.model`` can name it)
    OUT/model_card.json   base model, dataset (its counts and path), epochs, image size, metrics, time
    OUT/model_card.md     the same for people
    OUT/run/              Ultralytics' own run folder (results.csv, last.pt)

An INT8 OpenVINO export (``*_openvino_model/``) cannot be trained: start from a ``.pt`` checkpoint
or an architecture ``.yaml`` (random weights, e.g. ``yolo11n.yaml``, which ships with Ultralytics).
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from cityops.config import ConfigError
from vision.detectors.base import DetectorError
from vision.detectors.ultralytics_backend import check_model_ref, offline_env

METRICS = (  # Ultralytics' results_dict keys -> our names
    ("metrics/precision(B)", "precision"),
    ("metrics/recall(B)", "recall"),
    ("metrics/mAP50(B)", "mAP50"),
    ("metrics/mAP50-95(B)", "mAP50-95"),
)


class TrainError(ConfigError):
    """A dataset or model that cannot be trained or evaluated, said in one line."""


def _ultralytics(data_dir: Path, threads: int):
    """Ultralytics set up offline and quiet (:func:`offline_env`), torch on ``threads`` threads."""
    offline_env(data_dir)
    try:
        import torch
        from ultralytics import YOLO
    except ImportError as exc:
        raise TrainError("training needs: pip install 'cityops[ultralytics]'") from exc
    if os.environ.get("YOLO_VERBOSE", "").lower() == "false":
        logging.getLogger("ultralytics").setLevel(logging.WARNING)
    torch.set_num_threads(max(1, threads))
    return YOLO


def _data_yaml(data: Path) -> Path:
    path = data / "data.yaml" if data.is_dir() else data
    if not path.is_file():
        raise TrainError(f"--data {data}: no data.yaml (make one with 'cityops vision dataset export')")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise TrainError(f"{path}: not YAML: {exc}") from exc
    root = Path(doc.get("path") or path.parent)
    for part in ("train", "val"):
        imgs = root / str(doc.get(part, ""))
        if not doc.get(part) or not imgs.is_dir() or not any(imgs.iterdir()):
            raise TrainError(f"{path}: the {part} images ({imgs}) are missing or empty")
    return path


def _load(YOLO, model: str):
    if model.rstrip("/").endswith("_openvino_model"):
        raise TrainError(
            f"{model} is an OpenVINO export and cannot be trained: start from a .pt checkpoint or an "
            "architecture .yaml (e.g. yolo11n.yaml, random weights)"
        )
    try:
        check_model_ref(model)
        return YOLO(model, task="detect")
    except DetectorError as exc:
        raise TrainError(str(exc)) from exc
    except Exception as exc:  # Ultralytics raises many types for a missing or bad model
        raise TrainError(f"Ultralytics cannot load model {model!r}: {exc}") from exc


def _counts(data_yaml: Path) -> dict:
    root = Path((yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}).get("path") or data_yaml.parent)
    out = {}
    for part in ("train", "val"):
        labels = sorted((root / "labels" / part).glob("*.txt"))
        lines = [ln for p in labels for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
        out[part] = {
            "images": len(labels),
            "boxes": len(lines),
            "background": sum(1 for p in labels if not p.read_text(encoding="utf-8").strip()),
        }
    return out


def train(
    data: Path,
    model: str,
    out: Path,
    *,
    epochs: int = 10,
    imgsz: int = 640,
    batch: int = 8,
    device: str = "cpu",
    threads: int = 2,
    data_dir: Path,
    progress: bool = True,
    seed: int = 0,
) -> dict:
    """Fine-tune ``model`` on the YOLO dataset ``data``; returns the model card (also written to ``out``)."""
    data_yaml = _data_yaml(data)
    YOLO = _ultralytics(data_dir, threads)
    net = _load(YOLO, model)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    bar = _Bar(progress, f"train {Path(model).name}")
    net.add_callback("on_train_start", lambda trainer: bar.start(epochs * len(trainer.train_loader)))
    net.add_callback("on_train_batch_end", lambda trainer: bar.advance())
    try:
        net.train(
            data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, device=device, workers=0,
            project=str(out.resolve()), name="run", exist_ok=True, plots=False, amp=False,
            verbose=False, seed=seed, deterministic=True, patience=0,
        )  # fmt: skip
    except Exception as exc:
        raise TrainError(f"training failed: {type(exc).__name__}: {exc}") from exc
    finally:
        bar.stop()
    trainer = net.trainer
    weights = Path(trainer.best if Path(trainer.best).is_file() else trainer.last)
    if not weights.is_file():
        raise TrainError(f"training wrote no weights under {out / 'run'}")
    final = out / "model.pt"
    final.write_bytes(weights.read_bytes())
    raw = dict(trainer.metrics or {})
    card = {
        "model": str(final),
        "base_model": model,
        "data": str(data_yaml.resolve()),
        "dataset": _counts(data_yaml),
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        "device": device,
        "metrics": {name: round(float(raw[key]), 4) for key, name in METRICS if key in raw},
        "train_seconds": round(time.monotonic() - started, 1),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ultralytics": _version(),
    }
    (out / "model_card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    (out / "model_card.md").write_text(model_card_md(card), encoding="utf-8")
    return card


class _Bar:
    """A rich progress bar over the training batches (or nothing)."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled, self.label, self.p = enabled, label, None

    def start(self, total: int) -> None:
        if self.enabled and self.p is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.p = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
            )
            self.p.start()
            self.task = self.p.add_task(self.label, total=total)

    def advance(self) -> None:
        if self.p is not None:
            self.p.advance(self.task)

    def stop(self) -> None:
        if self.p is not None:
            self.p.stop()
            self.p = None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ultralytics")
    except PackageNotFoundError:
        return "?"


def model_card_md(card: dict) -> str:
    ds = card["dataset"]
    rows = "\n".join(f"| {k} | {v} |" for k, v in card["metrics"].items()) or "| (none) | |"
    return (
        f"# Model card: {Path(card['model']).name}\n\n"
        f"- Base model: `{card['base_model']}`\n"
        f"- Data: `{card['data']}` (operators' verdicts, `cityops vision dataset export`)\n"
        f"  - train: {ds['train']['images']} images, {ds['train']['boxes']} boxes, "
        f"{ds['train']['background']} background (false alarms)\n"
        f"  - val: {ds['val']['images']} images, {ds['val']['boxes']} boxes, "
        f"{ds['val']['background']} background\n"
        f"- Epochs: {card['epochs']}, image size {card['imgsz']}, batch {card['batch']}, "
        f"device {card['device']}\n"
        f"- Trained {card['trained_at']} in {card['train_seconds']} s (Ultralytics {card['ultralytics']})\n\n"
        f"## Validation metrics (the dataset's val split)\n\n| metric | value |\n|---|---|\n{rows}\n\n"
        "Metrics on a few dozen frames say little about a camera's footage: compare with "
        "`cityops vision eval --data DIR --model OLD --model NEW` before deploying.\n"
    )


def compare(
    data: Path, models: list[str], *, imgsz: int = 640, device: str = "cpu", threads: int = 2, data_dir: Path
) -> list[dict]:
    """Box-level precision, recall and mAP of each model on the same val split; prints a table."""
    data_yaml = _data_yaml(data)
    YOLO = _ultralytics(data_dir, threads)
    rows = []
    for m in models:
        try:
            check_model_ref(m)
            net = YOLO(m, task="detect")
        except Exception as exc:  # DetectorError, or Ultralytics' many types for a bad model
            raise TrainError(f"Ultralytics cannot load model {m!r}: {exc}") from exc
        try:
            res = net.val(
                data=str(data_yaml), imgsz=imgsz, device=device, workers=0, plots=False, verbose=False,
                batch=1, split="val", project=str(data_dir / "ultralytics-val"), name="val", exist_ok=True,
            )  # fmt: skip
        except Exception as exc:
            raise TrainError(f"evaluating {m} failed: {type(exc).__name__}: {exc}") from exc
        raw = res.results_dict
        rows.append({"model": m} | {name: round(float(raw.get(key, 0.0)), 4) for key, name in METRICS})
    width = max(12, *(len(r["model"]) for r in rows))
    print(f"{'model':<{width}} {'P':>7} {'R':>7} {'mAP50':>7} {'mAP50-95':>9}  (val split of {data_yaml})")
    for r in rows:
        print(
            f"{r['model']:<{width}} {r['precision']:7.3f} {r['recall']:7.3f} {r['mAP50']:7.3f} {r['mAP50-95']:9.3f}"
        )
    return rows
