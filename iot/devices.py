"""The device registry in the store: validation, add, CSV import, listing.

A write is all or nothing: every row is validated first (kind, position inside the district grid,
phone, heartbeat) and one bad row writes none. A device given without a ``secret`` gets a random
one (what its webhook alarms are signed with), shown once by the command that made it.
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from dispatch.store import Device
from gis.grid import OUTSIDE, Grid
from iot.alarms import DEVICE_ID, DeviceInfo
from iot.kinds import DeviceKind

CSV_COLUMNS = (
    "id", "kind", "address", "lon", "lat", "protects", "contact_name", "contact_phone", "heartbeat_s", "secret",
)  # fmt: skip
REQUIRED_COLUMNS = ("id", "kind", "lon", "lat")


class DeviceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: Annotated[str, Field(pattern=DEVICE_ID)]
    kind: DeviceKind
    address: str = Field("", max_length=256)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    protects: str = Field("", max_length=256, description="The resident or site the device protects.")
    contact_name: str = Field("", max_length=128)
    contact_phone: Annotated[str, Field(pattern=r"^[0-9+() -]{0,32}$")] = ""
    heartbeat_s: int = Field(0, ge=0, le=30 * 86400, description="0: silence is not watched.")
    secret: str | None = Field(None, min_length=16, max_length=128)

    @field_validator("secret", mode="before")
    @classmethod
    def _blank(cls, v: object) -> object:
        return None if v == "" else v


class RegistryError(ValueError):
    """Rows that cannot be registered: one line per problem, nothing was written."""


@dataclass(frozen=True)
class Written:
    added: list[str]
    updated: list[str]
    secrets: dict[str, str]  # the generated secrets of new devices (shown once)


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def validate(rows: list[dict], grid: Grid) -> list[tuple[DeviceSpec, str | None]]:
    """Each row as a spec and its grid cell, or :class:`RegistryError` listing every bad row
    (``line N``: 2 for the first data row of a CSV with a header)."""
    out, errors, seen = [], [], {}
    for n, row in enumerate(rows, start=2):
        clean = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
        try:
            spec = DeviceSpec.model_validate(clean)
        except ValidationError as exc:
            errors.append(f"line {n}: {_problems(exc)}")
            continue
        if spec.id in seen:
            errors.append(f"line {n}: device id {spec.id!r} also on line {seen[spec.id]}")
            continue
        seen[spec.id] = n
        cell = grid.locate(spec.lon, spec.lat)
        if cell == OUTSIDE:
            errors.append(
                f"line {n}: device {spec.id!r} at {spec.lon}, {spec.lat} is outside the district grid"
            )
            continue
        out.append((spec, cell))
    if errors:
        raise RegistryError("\n".join(errors))
    return out


def read_csv(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        raise RegistryError(
            f"CSV header {header}: "
            + "; ".join(
                p
                for p in (
                    f"missing column(s) {missing}" if missing else "",
                    f"unknown column(s) {unknown}" if unknown else "",
                )
                if p
            )
            + f" (columns: {', '.join(CSV_COLUMNS)})"
        )
    reader.fieldnames = header
    return [dict(r) for r in reader]


def register(sessions: sessionmaker, grid: Grid, rows: list[dict], now: datetime) -> Written:
    """Validate ``rows`` and add them (a known id is updated; its secret kept unless one is given)."""
    specs = validate(rows, grid)
    added, updated, made = [], [], {}
    with sessions.begin() as s:
        existing = {
            d.id: d for d in s.scalars(select(Device).where(Device.id.in_([sp.id for sp, _ in specs])))
        }
        for spec, cell in specs:
            fields = spec.model_dump(exclude={"secret"})
            dev = existing.get(spec.id)
            if dev is None:
                secret = spec.secret or secrets.token_hex(16)
                if spec.secret is None:
                    made[spec.id] = secret
                s.add(Device(**fields, cell=cell, secret=secret, created_at=now, updated_at=now))
                added.append(spec.id)
            else:
                for k, v in fields.items():
                    setattr(dev, k, v)
                dev.cell, dev.updated_at = cell, now
                if spec.secret:
                    dev.secret = spec.secret
                updated.append(spec.id)
    return Written(added, updated, made)


def info(d: Device) -> DeviceInfo:
    return DeviceInfo(
        id=d.id, kind=d.kind, lon=d.lon, lat=d.lat, address=d.address, protects=d.protects,
        contact_name=d.contact_name, contact_phone=d.contact_phone, heartbeat_s=d.heartbeat_s,
        secret=d.secret,
    )  # fmt: skip


def load(sessions: sessionmaker) -> dict[str, DeviceInfo]:
    with sessions() as s:
        return {d.id: info(d) for d in s.scalars(select(Device))}


def get(sessions: sessionmaker, device_id: str) -> DeviceInfo | None:
    with sessions() as s:
        d = s.get(Device, device_id)
        return info(d) if d else None


def rows_for_listing(sessions: sessionmaker) -> list[dict]:
    """Every device without its secret (``cityops iot devices list``, the API's device layer)."""
    with sessions() as s:
        return [
            {
                "id": d.id,
                "kind": d.kind,
                "address": d.address,
                "lon": d.lon,
                "lat": d.lat,
                "cell": d.cell,
                "protects": d.protects,
                "contact_name": d.contact_name,
                "contact_phone": d.contact_phone,
                "heartbeat_s": d.heartbeat_s,
            }  # fmt: skip
            for d in s.scalars(select(Device).order_by(Device.id))
        ]
