"""The case taxonomy.

``taxonomy.yaml``: the product's own type codes (what camera rules, citizen categories and IoT alarms
raise; code, names, severity, detector, SLA). ``standard.yaml``: the standard catalogue of events
(事件) and components (部件) after GB/T 30428.2 / CJ/T 214 (category and type codes, owning department,
urgency, filing and closing conditions, time limit in working or natural hours). A product code that a
standard entry lists under ``aliases`` takes that entry's owner, limit and conditions, so the product
codes keep working while cases are handled, routed and timed as the standard says.

Users extend either file (or point ``CITYOPS_TAXONOMY_EXTRA`` at a YAML file of more standard types).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import yaml

_FILE = Path(__file__).with_name("taxonomy.yaml")
_STANDARD = Path(__file__).with_name("standard.yaml")


@dataclass(frozen=True)
class ViolationType:
    code: str
    zh: str
    en: str
    severity: int = 1
    detector: str | None = None
    sla: dict[str, float] | None = None
    # from the standard catalogue (own entries, or the standard entry that lists this code as an alias)
    kind: str = ""  # "event" (事件) or "component" (部件)
    category: str = ""  # the category (大类) code
    owner: str = ""  # the owning department kind (归属部门), routed by config.departments
    urgency: str = "normal"  # "normal" or "urgent" (urgent: natural-time limits)
    limit_h: float | None = None  # handling time limit, hours
    natural: bool = False  # the limit counts natural time (自然时), not working time (工作时)
    filing: str = ""  # 立案条件
    closing: str = ""  # 结案条件
    standard: str = ""  # the standard code this product code maps onto
    aliases: tuple[str, ...] = field(default_factory=tuple)
    iot: tuple[str, ...] = field(default_factory=tuple)  # IoT alarm kinds that raise it

    def name(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


@dataclass(frozen=True)
class Category:
    code: str
    kind: str
    zh: str
    en: str

    def name(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


_STD_FIELDS = ("kind", "category", "owner", "urgency", "limit_h", "natural", "filing", "closing")


def _standard_entry(e: dict, categories: dict[str, Category]) -> ViolationType:
    data = dict(e)
    code = str(data.pop("code"))
    cat = str(data.pop("category", "")) or code[:3]
    if cat not in categories:
        raise ValueError(f"standard type {code}: unknown category {cat!r}")
    limit = data.pop("limit", None)  # "4 working hours" style: {hours: 4, time: working|natural}
    if isinstance(limit, dict):
        data["limit_h"] = float(limit["hours"])
        data["natural"] = limit.get("time", "working") == "natural"
    data["aliases"] = tuple(data.pop("aliases", ()) or ())
    data["iot"] = tuple(data.pop("iot", ()) or ())
    data.setdefault("natural", data.get("urgency") == "urgent")
    return ViolationType(code=code, category=cat, kind=categories[cat].kind, **data)


@cache
def standard_catalogue() -> tuple[dict[str, Category], dict[str, str], dict[str, ViolationType]]:
    """(categories, owners: code -> "zh / en" name, standard types by code)."""
    files = [_STANDARD] + (
        [Path(os.environ["CITYOPS_TAXONOMY_EXTRA"])] if os.environ.get("CITYOPS_TAXONOMY_EXTRA") else []
    )
    categories: dict[str, Category] = {}
    owners: dict[str, str] = {}
    types: dict[str, ViolationType] = {}
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for c in doc.get("categories", []):
            categories[str(c["code"])] = Category(str(c["code"]), c["kind"], c["zh"], c["en"])
        owners.update({str(k): v for k, v in (doc.get("owners") or {}).items()})
        for e in doc.get("types", []):
            vt = _standard_entry(e, categories)
            if vt.code in types:
                raise ValueError(f"{path}: standard type {vt.code} defined twice")
            types[vt.code] = vt
    return categories, owners, types


def standard_types() -> dict[str, ViolationType]:
    return standard_catalogue()[2]


@cache
def violation_types() -> dict[str, ViolationType]:
    """The product's type codes, each with what its standard entry says (owner, limit, conditions)."""
    entries = yaml.safe_load(_FILE.read_text(encoding="utf-8"))
    by_alias = {a: st for st in standard_types().values() for a in st.aliases}
    out = {}
    for e in entries:
        vt = ViolationType(**e)
        st = by_alias.get(vt.code)
        if st is not None:
            vt = replace(vt, standard=st.code, **{k: getattr(st, k) for k in _STD_FIELDS})
        out[vt.code] = vt
    return out


def case_type(code: str) -> ViolationType | None:
    """A product or a standard type by its code."""
    return violation_types().get(code) or standard_types().get(code)


def all_types() -> dict[str, ViolationType]:
    """Every code a case may carry: the product's and the standard's."""
    return {**standard_types(), **violation_types()}


#: Codes a camera zone may enforce: the types that have a vision rule.
RULE_CODES = frozenset(t.code for t in violation_types().values() if t.detector)


def type_for_iot(kind: str) -> ViolationType | None:
    """The standard type an IoT alarm kind raises (``iot`` in standard.yaml), or None."""
    return next((vt for vt in standard_types().values() if kind in vt.iot), None)


def standard_code(code: str) -> str | None:
    """The standard code a product or standard type code means."""
    vt = case_type(code)
    return (vt.standard or (vt.code if vt.kind else None)) if vt else None
