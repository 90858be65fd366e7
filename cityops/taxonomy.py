"""The violation taxonomy (code, names, severity, detector, SLA) read from ``taxonomy.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

_FILE = Path(__file__).with_name("taxonomy.yaml")


@dataclass(frozen=True)
class ViolationType:
    code: str
    zh: str
    en: str
    severity: int
    detector: str | None
    sla: dict[str, float] | None = None

    def name(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


@cache
def violation_types() -> dict[str, ViolationType]:
    entries = yaml.safe_load(_FILE.read_text(encoding="utf-8"))
    return {e["code"]: ViolationType(**e) for e in entries}


#: Codes a camera zone may enforce: the types that have a vision rule.
RULE_CODES = frozenset(t.code for t in violation_types().values() if t.detector)
