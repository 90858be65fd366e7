"""``cityops vision eval``: event-level precision, recall and F1 of the rules on labelled clips.

The label file (YAML; format in docs/vision.md)::

    tolerance_s: 5                   # a detection may come this early/late around an event
    clips:
      - clip: lot-parked.mp4         # relative to the label file
        camera: lot-camera.yaml      # a camera YAML as for 'cityops vision try' (or a mapping)
        events:
          - {type: illegal_parking, zone: bay, start: 10.0, end: 50.0}

A detection matches an unmatched event of the same type (and zone, when the label names one) when
its media time lies in ``[start - tol, end + tol]``. Each event matches at most one detection;
unmatched detections are false positives (a repeated detection of an already matched event is
counted as a duplicate and as a false positive); unmatched events are misses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cityops.config import ConfigError


@dataclass(frozen=True)
class Event:
    type: str
    start: float
    end: float
    zone: str | None = None


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    duplicates: int = 0
    misses: list[Event] = field(default_factory=list)
    false_alarms: list[dict] = field(default_factory=list)

    def __iadd__(self, o: Score) -> Score:
        self.tp, self.fp, self.fn = self.tp + o.tp, self.fp + o.fp, self.fn + o.fn
        self.duplicates += o.duplicates
        self.misses += o.misses
        self.false_alarms += o.false_alarms
        return self

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _fits(det: dict, ev: Event, tol: float) -> bool:
    return (
        det["type"] == ev.type
        and (ev.zone is None or det.get("zone") == ev.zone)
        and ev.start - tol <= det["t"] <= ev.end + tol
    )


def match_events(detections: list[dict], events: list[Event], tol: float) -> Score:
    """Score detections (dicts with ``type``, ``zone``, ``t``) against labelled events."""
    s = Score()
    matched: set[int] = set()
    for det in sorted(detections, key=lambda d: d["t"]):
        free = [i for i, ev in enumerate(events) if i not in matched and _fits(det, ev, tol)]
        if free:
            matched.add(free[0])
            s.tp += 1
            continue
        s.fp += 1
        s.false_alarms.append(det)
        if any(_fits(det, events[i], tol) for i in matched):
            s.duplicates += 1
    s.misses = [ev for i, ev in enumerate(events) if i not in matched]
    s.fn = len(s.misses)
    return s


@dataclass
class LabelledClip:
    clip: Path
    camera: Path
    events: list[Event]
    background: Path | None = None  # the camera's reference image of the empty scene, beside the clip


def load_labels(path: Path, clips_dir: Path | None = None) -> tuple[float, list[LabelledClip]]:
    """The label file's tolerance and clips; clip paths are relative to ``clips_dir`` (default: the
    label file's folder), camera paths to the label file's folder."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        base = Path(path).parent
        clip_base = Path(clips_dir) if clips_dir is not None else base
        clips = [
            LabelledClip(
                clip_base / c["clip"],
                base / c["camera"],
                [
                    Event(e["type"], float(e["start"]), float(e["end"]), e.get("zone"))
                    for e in c.get("events", [])
                ],
                clip_base / c["background"] if c.get("background") else None,
            )
            for c in data["clips"]
        ]
        return float(data.get("tolerance_s", 5.0)), clips
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{path}: not a valid label file ({type(exc).__name__}: {exc}); see docs/vision.md"
        ) from exc
