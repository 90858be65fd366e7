"""One vocabulary for object classes, whatever backend produced them.

Every backend maps its model's names through :func:`canonical` at its edge, so rules and zones
only ever see one spelling: Ultralytics' COCO names (``motorcycle``, ``potted plant``, ``dining
table``, ``couch``, ``tv``, ``airplane``), plus ``object`` (a static blob of the weight-free
backend). Darknet's ``coco.names`` spells six of them differently; a custom model's own names pass
through unchanged. Zone ``classes`` go through the same mapping, and a zone whose camera's detector
can produce none of its classes, or that names a class no detector here knows, is a config error
listing the classes that detector can produce (:func:`zone_class_errors`).
"""

from __future__ import annotations

from pathlib import Path

import yaml

#: Ultralytics' COCO names, in class-index order.
COCO = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
#: The weight-free backend's one class.
OBJECT = "object"
#: Other spellings of the same classes (Darknet's coco.names, older exports) -> the canonical name.
ALIASES = {
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "sofa": "couch",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "tvmonitor": "tv",
    "tv monitor": "tv",
    "cellphone": "cell phone",
    "hair dryer": "hair drier",
}
KNOWN = frozenset(COCO) | {OBJECT}


def canonical(name: str) -> str:
    """The one spelling of a class name (unknown names, e.g. a custom model's, pass unchanged)."""
    n = str(name).strip()
    return ALIASES.get(n.lower(), n)


def names_file(path: Path) -> list[str]:
    """A Darknet names file (one class per line), canonical spellings."""
    return [canonical(c) for c in path.read_text(encoding="utf-8").splitlines() if c.strip()]


def producible(cfg) -> frozenset[str] | None:
    """The classes a :class:`~cityops.config.DetectorConfig` can produce, read from its files without
    loading the model; ``None`` when that needs the model itself (checked when it is loaded)."""
    if cfg.backend == "motion":
        return frozenset({OBJECT})
    if cfg.backend == "darknet":
        p = Path(cfg.names) if cfg.names else Path(cfg.cfg).with_name("coco.names")
        return frozenset(names_file(p)) if p.is_file() else None
    model = Path(cfg.model or "")
    for meta in (model / "metadata.yaml", model.with_name("metadata.yaml")):
        if "://" not in str(cfg.model) and meta.is_file():
            try:
                names = (yaml.safe_load(meta.read_text(encoding="utf-8")) or {}).get("names") or {}
            except (OSError, yaml.YAMLError):
                return None
            return frozenset(canonical(n) for n in (names.values() if isinstance(names, dict) else names))
    return None


def zone_class_errors(zone_id: str, classes: list[str] | None, can: frozenset[str] | None) -> list[str]:
    """Why a zone's ``classes`` cannot work with a detector producing ``can`` (empty: they can).

    A class is fine when the detector produces it; a class another backend produces (``object``,
    a COCO name) is tolerated beside one the detector does produce, so one zone can serve the
    weight-free and a COCO backend. Anything else is an error.
    """
    if not classes or can is None:
        return []
    want = [canonical(c) for c in classes]
    unknown = [c for c in want if c not in can and c not in KNOWN]
    if unknown or not any(c in can for c in want):
        bad = unknown or want
        return [
            f"zone {zone_id!r}: class(es) {bad} are never produced by this camera's detector; "
            f"it produces: {', '.join(sorted(can))}"
        ]
    return []


def camera_class_errors(camera, default_detector) -> list[str]:
    """:func:`zone_class_errors` for each zone of a :class:`~cityops.config.CameraConfig` with its
    detector (its own, else ``default_detector``), the static-object analysis's ``object`` included."""
    det = camera.detector or default_detector
    can = producible(det)
    if can is not None and camera.uses_static_objects(det.backend):
        can = can | {OBJECT}
    return [
        f"camera {camera.id!r}: {e}" for z in camera.zones for e in zone_class_errors(z.id, z.classes, can)
    ]


#: Classes one object may be boxed as at once (a van: ``car`` and ``truck``); folded before tracking.
FAMILIES = {"vehicle": frozenset({"car", "truck", "bus", "motorcycle"})}


def fold_families(boxes: list, iou: float = 0.6) -> list:
    """Class-agnostic NMS within each family: of boxes of one family overlapping by ``iou`` or more,
    keep the most confident (its class and box); boxes of other classes pass unchanged.
    ``iou >= 1`` turns folding off."""
    if iou >= 1 or len(boxes) < 2:
        return list(boxes)
    from vision.geometry import box_iou

    family = {c: f for f, members in FAMILIES.items() for c in members}
    kept: list = []
    for b in sorted(boxes, key=lambda b: -b.conf):
        f = family.get(b.cls)
        if f is None or not any(family.get(k.cls) == f and box_iou(k, b) >= iou for k in kept):
            kept.append(b)
    order = {id(b): i for i, b in enumerate(boxes)}
    return sorted(kept, key=lambda b: order[id(b)])
