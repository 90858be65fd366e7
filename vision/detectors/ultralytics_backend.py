"""Ultralytics models behind the common interface.

``model`` may be a PyTorch ``.pt`` file, an ``.onnx`` file, an OpenVINO export folder
(``*_openvino_model/``), a TensorRT ``.engine``, a Triton Inference Server URL
(``http://host:8000/<model>`` or ``grpc://...``, needs ``tritonclient``), or a model ``.yaml``
(random weights: exercises the whole path where no weights can be downloaded, e.g. in tests and
benchmarks). Imported only when configured: the package pulls in PyTorch. It runs offline
(YOLO_OFFLINE=1, YOLO_AUTOINSTALL=0) with its settings under the data directory, and quietly
(YOLO_VERBOSE=False). An OpenVINO export (e.g. ``yolo11n_int8_openvino_model/``) needs the
``openvino`` package, part of ``cityops[ultralytics]``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import numpy as np

from vision.classes import canonical
from vision.detectors.base import Box, DetectorError

LOCAL_SUFFIXES = (".pt", ".onnx", ".engine", ".torchscript", ".yaml", ".yml", ".tflite")


def offline_env(data_dir: Path | None = None) -> None:
    """Ultralytics' settings for an offline service (before it is first imported); its banner and
    settings notices ("Creating new Ultralytics Settings", "Loading ... for OpenVINO inference") are
    kept out of the user's terminal (``YOLO_VERBOSE=False``: warnings and errors only)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    if data_dir is not None:
        os.environ.setdefault("YOLO_CONFIG_DIR", str(data_dir / "ultralytics"))


def check_model_ref(model: str) -> None:
    """A clear error for a local model file or export folder that is not there."""
    if "://" in model:
        return
    p = Path(model)
    is_yaml_name = p.suffix in (".yaml", ".yml") and p.parent == Path(".")  # a built-in architecture
    if (p.suffix in LOCAL_SUFFIXES or p.name.endswith("_openvino_model")) and not is_yaml_name:
        if not p.exists() and (p.parent != Path(".") or p.suffix != ".pt"):
            raise DetectorError(f"Ultralytics model not found: {model}")


class UltralyticsDetector:
    name = "ultralytics"

    def __init__(
        self,
        model: str,
        *,
        imgsz: int = 640,
        conf: float = 0.25,
        device: str = "cpu",
        data_dir: Path,
        threads: int | None = None,
    ):
        offline_env(data_dir)
        check_model_ref(model)
        if model.rstrip("/").endswith("_openvino_model") and importlib.util.find_spec("openvino") is None:
            raise DetectorError(
                f"the OpenVINO model {model} needs: pip install 'cityops[ultralytics]' (openvino)"
            )
        try:
            import torch
            from ultralytics import YOLO
        except ImportError as exc:
            raise DetectorError("the ultralytics backend needs: pip install 'cityops[ultralytics]'") from exc
        if os.environ.get("YOLO_VERBOSE", "").lower() == "false":  # also when imported before us
            logging.getLogger("ultralytics").setLevel(logging.WARNING)
        torch.set_num_threads(threads or max(1, os.cpu_count() or 1))
        try:
            self.model = YOLO(model, task="detect")
        except Exception as exc:  # Ultralytics raises many types for a missing or bad model
            hint = " (downloads are off: give a local path)" if not Path(model).exists() else ""
            raise DetectorError(f"Ultralytics cannot load model {model!r}{hint}: {exc}") from exc
        self.imgsz, self.conf, self.device = imgsz, conf, device
        self._names: dict[int, str] = {}

    @property
    def classes(self) -> frozenset[str] | None:
        """What this model can produce, in the canonical vocabulary (:mod:`vision.classes`); None for
        a model without class names (an architecture ``.yaml``: its names are indices)."""
        names = [str(n) for n in self.model.names.values()]
        return None if all(n.isdigit() for n in names) else frozenset(map(canonical, names))

    def _name(self, names: dict, c: int) -> str:
        if c not in self._names:
            self._names[c] = canonical(names[c])
        return self._names[c]

    def detect(self, frame: np.ndarray) -> list[Box]:
        res = self.model.predict(frame, imgsz=self.imgsz, conf=self.conf, device=self.device, verbose=False)
        r = res[0]
        names = r.names
        xyxy = r.boxes.xyxy.cpu().numpy()
        cls = r.boxes.cls.cpu().numpy().astype(int)
        conf = r.boxes.conf.cpu().numpy()
        return [
            Box(*map(float, b), self._name(names, int(c)), float(p))
            for b, c, p in zip(xyxy, cls, conf, strict=True)
        ]
