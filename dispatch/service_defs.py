"""Open311 service definitions: the attributes a citizen may (or must) give with each service, and
the check of the ``attribute[code]`` values a POST sends (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cityops.taxonomy import violation_types


@dataclass(frozen=True)
class Attribute:
    code: str
    datatype: str  # string | number | datetime | text | singlevaluelist | multivaluelist
    description: str
    required: bool = False
    datatype_description: str = ""
    order: int = 1
    values: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (key, name)
    variable: bool = True


WHERE = Attribute(
    "where", "string", "具体位置 / Where exactly (e.g. by the north gate)", order=1,
    datatype_description="up to 200 characters",
)  # fmt: skip
BLOCKING = Attribute(
    "blocking", "singlevaluelist", "是否阻碍通行 / Is it blocking the way?", order=2,
    values=(("yes", "是 / yes"), ("no", "否 / no")),
)  # fmt: skip
#: services whose definition needs the exact place (a pothole is small: the inspector must find it)
WHERE_REQUIRED = frozenset({"road_damage"})
MAX_TEXT = 200


def attributes_for(service_code: str) -> tuple[Attribute, ...]:
    where = WHERE
    if service_code in WHERE_REQUIRED:
        where = Attribute(**{**WHERE.__dict__, "required": True})
    return (where, BLOCKING)


class InvalidAttribute(ValueError):
    pass


def check_attributes(service_code: str, given: dict[str, list[str]]) -> dict[str, str | list[str]]:
    """The validated values of ``attribute[code]`` fields (several values per code for a
    multivaluelist); unknown codes, missing required ones and values not in a list are refused."""
    defs = {a.code: a for a in attributes_for(service_code)}
    unknown = sorted(set(given) - set(defs))
    if unknown:
        raise InvalidAttribute(
            f"unknown attribute(s) {unknown} for service {service_code}; known: {sorted(defs)} "
            f"(see GET services/{service_code}.json)"
        )
    out: dict[str, str | list[str]] = {}
    for code, a in defs.items():
        values = [v.strip() for v in given.get(code, []) if v.strip()]
        if not values:
            if a.required:
                raise InvalidAttribute(
                    f"attribute[{code}] is required for service {service_code}: {a.description}"
                )
            continue
        if a.datatype != "multivaluelist" and len(values) > 1:
            raise InvalidAttribute(f"attribute[{code}] takes one value")
        if a.values:
            keys = {k for k, _ in a.values}
            bad = [v for v in values if v not in keys]
            if bad:
                raise InvalidAttribute(f"attribute[{code}] must be one of {sorted(keys)}, not {bad[0]!r}")
        if a.datatype == "number":
            try:
                float(values[0])
            except ValueError:
                raise InvalidAttribute(f"attribute[{code}] must be a number") from None
        if any(len(v) > MAX_TEXT for v in values):
            raise InvalidAttribute(f"attribute[{code}] is longer than {MAX_TEXT} characters")
        out[code] = values if a.datatype == "multivaluelist" else values[0]
    return out


def definition(service_code: str) -> dict:
    """``GET services/{code}``: the spec's service definition."""
    if service_code not in violation_types():
        raise KeyError(service_code)
    return {
        "service_code": service_code,
        "attributes": [
            {
                "variable": a.variable,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": a.datatype_description or None,
                "order": a.order,
                "description": a.description,
                "values": [{"key": k, "name": n} for k, n in a.values],
            }
            for a in attributes_for(service_code)
        ],
    }
