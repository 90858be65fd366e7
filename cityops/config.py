"""The one CityOps configuration model: a YAML file validated in one place.

Every service reads its settings from :class:`CityOpsConfig`. A broken file is rejected with the
field path, the offending value and the reason (see :func:`format_errors`).
"""

from __future__ import annotations

import os
import re
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cityops.taxonomy import RULE_CODES

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfigError(ValueError):
    """Raised for a configuration file that cannot be used; ``str()`` is the report for a person."""


class ActiveHours(_Model):
    """A daily window in local time; ``start > end`` wraps past midnight (e.g. 22:00-06:00)."""

    start: time = time(0, 0)
    end: time = time(23, 59, 59)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _hh_mm(cls, v: object) -> object:
        """``HH:MM`` however YAML reads it: unquoted ``22:00`` is YAML 1.1's base-60 integer 1320
        (``22:00:00``: 79200); both mean a local wall-clock time, never seconds in UTC."""
        if isinstance(v, bool) or isinstance(v, float):
            raise ValueError('give a time of day as HH:MM, e.g. "22:00"')
        if isinstance(v, int):
            # H:MM gives 0..1439 for a real time; H:MM:SS (H >= 1) gives 3600..86399
            if 0 <= v < 24 * 60:
                return time(v // 60, v % 60)
            if 3600 <= v < 86400:
                return time(v // 3600, v // 60 % 60, v % 60)
            raise ValueError(f"{v} (YAML's reading of an unquoted H:MM) is not a time of day; give HH:MM")
        return v

    @field_validator("start", "end")
    @classmethod
    def _local(cls, v: time) -> time:
        if v.tzinfo is not None:
            raise ValueError("active hours are local wall-clock times (the config's timezone): no offset")
        return v

    def contains(self, t: time) -> bool:
        if self.start <= self.end:
            return self.start <= t <= self.end
        return t >= self.start or t <= self.end


class Outline(_Model):
    """A polygon drawn on a camera's picture: ``polygon`` in pixels or ``polygon_norm`` in 0-1
    fractions of the frame's width and height (scaled when the first frame gives the size)."""

    polygon: list[tuple[float, float]] | None = Field(
        None, description="Image coordinates (pixels) of the outline (or give polygon_norm)."
    )
    polygon_norm: list[tuple[float, float]] | None = Field(
        None,
        description="The outline as 0-1 fractions of the frame's width and height (any frame size).",
    )

    @field_validator("polygon")
    @classmethod
    def _valid_polygon(cls, pts: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        from shapely.geometry import Polygon

        if pts is None:
            return None
        if len(pts) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(pts)}")
        if any(x < 0 or y < 0 for x, y in pts):
            raise ValueError("image coordinates cannot be negative")
        poly = Polygon(pts)
        if not poly.is_valid or poly.area <= 0:
            from shapely.validation import explain_validity

            raise ValueError(f"invalid polygon ({explain_validity(poly)})")
        return pts

    @field_validator("polygon_norm")
    @classmethod
    def _valid_norm(cls, pts: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if pts is not None and any(not (0 <= v <= 1) for p in pts for v in p):
            raise ValueError("polygon_norm points are fractions of the frame: each coordinate in 0..1")
        return cls._valid_polygon(pts)

    @model_validator(mode="after")
    def _one_outline(self) -> Outline:
        if (self.polygon is None) == (self.polygon_norm is None):
            raise ValueError("give the outline once: 'polygon' (pixels) or 'polygon_norm' (0-1)")
        if self.polygon is not None and all(v <= 1 for p in self.polygon for v in p):
            raise ValueError(
                "every polygon point is <= 1: these look like 0-1 fractions of the frame, which as pixels "
                "cover one pixel and never match; write them as 'polygon_norm:' (or give pixels)"
            )
        return self

    def pixels(self, width: int, height: int) -> list[tuple[float, float]]:
        """The outline in pixels of a ``width`` x ``height`` frame."""
        if self.polygon is not None:
            return list(self.polygon)
        return [(x * width, y * height) for x, y in self.polygon_norm or []]


class MotionMask(Outline):
    """An area the motion gate and the weight-free backend ignore (trees in the wind, a clock, a
    screen), as Frigate's motion masks. Objects a detector finds there still count."""

    name: str = ""


class ZoneKind(StrEnum):
    RULES = "rules"  # the zone's rules apply to objects whose anchor is inside it
    EXCLUDE = "exclude"  # objects whose anchor is inside never count for the camera's rule zones


class ZoneConfig(Outline):
    id: Annotated[str, Field(pattern=_ID)]
    name: str = ""
    kind: ZoneKind = Field(
        ZoneKind.RULES,
        description="rules: enforce 'rules' here; exclude: a place where they do not apply (a marked "
        "parking row beside a no-parking pavement): objects whose anchor is inside never count for "
        "'rules' (empty: every rule) in the camera's other zones.",
    )
    rules: list[str] = Field(
        default_factory=list,
        description="Violation codes this zone enforces (see taxonomy); for kind exclude, the codes it "
        "exempts from (empty: all).",
    )
    classes: list[str] | None = Field(
        None,
        description="Object classes that count in this zone; empty: the defaults of each rule (see "
        "vision/rules). For kind exclude: the classes exempted (empty: every object).",
    )
    min_confidence: float = Field(0.3, ge=0.0, le=1.0)
    min_area: int = Field(400, ge=0, description="Minimum box area in pixels.")
    dwell_s: float = Field(60.0, gt=0, description="Seconds an object must stay before it is a violation.")
    require_stationary: bool = Field(True, description="Count dwell only while the object stands still.")
    cooldown_s: float = Field(600.0, ge=0, description="Quiet time after an incident for the same track.")
    max_gap_s: float = Field(
        5.0, ge=0, description="An object unseen this long (occlusion, missed detection) keeps its dwell."
    )
    active_hours: list[ActiveHours] = Field(default_factory=lambda: [ActiveHours()])

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, rules: list[str]) -> list[str]:
        unknown = [r for r in rules if r not in RULE_CODES]
        if unknown:
            raise ValueError(f"unknown rule(s) {unknown}; known: {sorted(RULE_CODES)}")
        return rules

    @model_validator(mode="after")
    def _kind(self) -> ZoneConfig:
        if self.kind == ZoneKind.RULES and not self.rules:
            raise ValueError(
                "a zone with no rules enforces nothing: list its 'rules', or give 'kind: exclude' for a "
                "place where they do not apply (e.g. a marked parking row; its 'rules' then name the "
                "rules it exempts from, none: all)"
            )
        if self.kind == ZoneKind.EXCLUDE:
            rule_only = {"dwell_s", "require_stationary", "cooldown_s", "max_gap_s", "active_hours"}
            given = sorted(rule_only & self.model_fields_set)
            if given:
                raise ValueError(
                    f"{', '.join(given)}: only for zones that enforce rules; an exclude zone takes "
                    "'rules' (exempted, none: all), 'classes', 'min_confidence' and 'min_area'"
                )
        return self

    def exempts(self, code: str) -> bool:
        """Does this exclude zone exempt objects from rule ``code``?"""
        return self.kind == ZoneKind.EXCLUDE and (not self.rules or code in self.rules)


class DetectorConfig(_Model):
    backend: Literal["motion", "darknet", "ultralytics"] = "motion"
    model: str | None = Field(
        None,
        description="darknet: .weights path; ultralytics: model name or path (.pt, .onnx, OpenVINO dir, Triton URL).",
    )
    cfg: str | None = Field(None, description="darknet: .cfg path")
    names: str | None = Field(None, description="darknet: class names file (one per line)")
    imgsz: int = Field(320, ge=32, le=2048)
    confidence: float = Field(0.25, ge=0.0, le=1.0)
    nms: float = Field(0.45, ge=0.0, le=1.0)
    family_iou: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Boxes of one family (car/truck/bus/motorcycle) overlapping this much are one object: "
        "the most confident is kept (1: keep all).",
    )
    device: str = "cpu"
    fallback: DetectorConfig | None = Field(
        None,
        description="Used instead, with a warning, when this detector cannot be built here "
        "(its package or model missing), e.g. Yolo-Fastest behind an Ultralytics model.",
    )

    @model_validator(mode="after")
    def _backend_files(self) -> DetectorConfig:
        if self.backend == "darknet" and not (self.model and self.cfg):
            raise ValueError("the darknet backend needs both 'model' (.weights) and 'cfg' (.cfg)")
        if self.backend == "ultralytics" and not self.model:
            raise ValueError("the ultralytics backend needs 'model' (e.g. yolo11n.pt)")
        return self


#: Rules about objects no COCO class names: where they are, the static-object analysis runs by default.
STATIC_OBJECT_RULES = frozenset({"exposed_rubbish", "street_vending"})


class CameraConfig(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    name: str = ""
    source: str = Field(
        description="rtsp://, http(s)://, a video file path, or 'demo:' for the generated clip."
    )
    loop: bool = Field(False, description="Restart a file source at its end (demo and test clips).")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    fps: float = Field(5.0, gt=0, le=60, description="Frame-rate cap for analysis.")
    zones: list[ZoneConfig] = Field(default_factory=list)
    detector: DetectorConfig | None = Field(
        None, description="Overrides the global detector for this camera."
    )
    image_interval_s: float = Field(
        1.0, gt=0, description="Image-folder sources: seconds of scene time between two images."
    )
    tracker: Literal["auto", "bytetrack", "iou"] = Field(
        "auto",
        description="bytetrack (needs cityops[tracking]), iou (no dependency), auto: the first available.",
    )
    motion_gate: bool = Field(True, description="Skip the detector on frames where nothing moved in a zone.")
    motion_masks: list[MotionMask] = Field(
        default_factory=list,
        description="Areas where motion is ignored by the motion gate and the weight-free backend "
        "(trees, a clock, a screen); 'polygon' (pixels) or 'polygon_norm' (0-1) each.",
    )
    evidence_clip_s: float = Field(
        0.0,
        ge=0,
        le=60,
        description="Seconds of H.264 video before each detection kept as evidence (0: none).",
    )

    background: str | None = Field(
        None,
        description="Image (PNG/JPEG) of the empty scene: the background models start from it, so an "
        "object there from the first frame is found (capture one: 'cityops vision background').",
    )
    static_objects: bool | None = Field(
        None,
        description="Run the static-object analysis beside the detector: new objects that stayed and "
        "that it does not explain as a person or vehicle count as class 'object' (rubbish, stall goods). "
        "Default: on where a zone enforces exposed_rubbish or street_vending, or lists class 'object'.",
    )

    def uses_static_objects(self, backend: str) -> bool:
        """Does this camera run the static-object analysis beside a detector of this ``backend``?
        The weight-free backend (``motion``) is that analysis itself."""
        if backend == "motion":
            return False
        if self.static_objects is not None:
            return self.static_objects
        rules = [z for z in self.zones if z.kind == ZoneKind.RULES]
        # a zone that lists 'object' asks for new static objects: with a COCO detector, the analysis
        # is what produces them (e.g. a car seen from above that the model boxes as nothing it knows)
        return any(r in STATIC_OBJECT_RULES for z in rules for r in z.rules) or any(
            "object" in (z.classes or ()) for z in rules
        )

    @model_validator(mode="after")
    def _unique_zones(self) -> CameraConfig:
        ids = [z.id for z in self.zones]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate zone id(s) {dup}")
        return self


class VisionConfig(_Model):
    lease_ttl_s: float = Field(
        15.0, ge=1, description="A camera lease in Redis; a dead worker's cameras move after this long."
    )
    health_interval_s: float = Field(
        2.0, gt=0, description="How often each camera publishes its health (also at once on a change)."
    )
    max_cameras: int = Field(
        0, ge=0, description="Cameras one worker process takes at most (0: a fair share)."
    )
    spool_dir: Path = Field(
        Path("spool"),
        description="Detections not yet confirmed durable by Redis are kept here (relative: under the "
        "data dir) and sent again after a Redis outage or a full disk.",
    )
    spool_max_entries: int = Field(
        10_000, ge=1, description="Unconfirmed detections a worker keeps at most; beyond, the oldest go."
    )
    confirm_timeout_ms: int = Field(
        2000,
        ge=1,
        le=9000,
        description="How long a send waits for Redis to fsync its append-only file (WAITAOF) before "
        "the detections count as not yet durable and are sent again later.",
    )
    max_clip_mb: float = Field(
        8.0,
        gt=0,
        le=500,
        description="An evidence clip larger than this (MB) is deleted and the detection sent without "
        "it (see a camera's evidence_clip_s).",
    )
    clip_retention_days: float = Field(
        30.0,
        ge=0,
        description="Evidence clips older than this are deleted by the vision worker's sweep (0: kept).",
    )
    clip_sweep_interval_s: float = Field(
        3600.0, gt=0, description="How often the vision worker looks for evidence clips past retention."
    )
    live_max_fps: float = Field(
        2.0,
        gt=0,
        le=2,
        description="Live view: annotated frames per second a camera publishes while someone watches, "
        "and the board sends each viewer, at most.",
    )


class GridConfig(_Model):
    source: str | None = Field(None, description="GeoJSON/GeoPackage of unit cells; generated when absent.")
    seed: int = 2257
    cells: int = Field(2257, ge=10, le=50000)
    streets: int = Field(10, ge=1)
    communities: int = Field(98, ge=1)
    bbox: tuple[float, float, float, float] = (118.12, 39.60, 118.26, 39.72)

    @model_validator(mode="after")
    def _levels(self) -> GridConfig:
        w, s, e, n = self.bbox
        if not (w < e and s < n):
            raise ValueError(
                f"bbox must be (west, south, east, north) with west<east and south<north, got {self.bbox}"
            )
        if not (self.streets <= self.communities <= self.cells):
            raise ValueError("need streets <= communities <= cells")
        return self


class RedisConfig(_Model):
    url: str | None = Field(None, description="redis://host:port/db; empty: start an embedded server.")
    stream_maxlen: int = Field(100_000, ge=100, description="Approximate length bound of each stream.")
    claim_idle_ms: int = Field(30_000, ge=100, description="Pending time after which a message is reclaimed.")
    health_maxlen: int = Field(
        10_000,
        ge=100,
        description="Approximate length bound of the camera-health stream (news, not records).",
    )
    dead_letter_maxlen: int = Field(
        10_000, ge=100, description="Approximate length bound of the dead-letter stream (refused entries)."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v and not re.match(r"^(redis|rediss|unix)://", v):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v or None


class StoreConfig(_Model):
    url: str = Field("sqlite:///{data_dir}/cityops.db", description="SQLAlchemy URL; {data_dir} is expanded.")
    pool_size: int = Field(
        10, ge=1, description="Connections each process keeps open (the API serves from a 40-thread pool)."
    )
    max_overflow: int = Field(
        40, ge=0, description="Connections a process may open beyond pool_size under load (closed after use)."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", v):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return v


class SLAConfig(_Model):
    accept_s: float = Field(60, gt=0)
    arrive_s: float = Field(3600, gt=0)
    resolve_s: float = Field(86400, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> SLAConfig:
        if not (self.accept_s <= self.arrive_s <= self.resolve_s):
            raise ValueError("SLA targets must satisfy accept_s <= arrive_s <= resolve_s")
        return self


class InspectorConfig(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    name: str
    phone: str = ""
    cells: list[str] = Field(
        default_factory=list, description="Cell, community or street codes covered (prefix match)."
    )
    shift: ActiveHours = ActiveHours()
    role: Literal["inspector", "supervisor"] = Field(
        "inspector", description="Supervisors get escalations and take dispatches no inspector covers."
    )


class DispatchConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8060, ge=1, le=65535, description="HTTP API port.")
    api_workers: int = Field(1, ge=1, le=64, description="API worker processes (uvicorn --workers).")
    max_upload_mb: float = Field(8.0, gt=0, le=100, description="Largest photo accepted.")
    citizen_rate_per_min: int = Field(
        10, ge=1, description="Citizen requests per client address in each citizen_rate_window_s."
    )
    token_ttl_s: int = Field(12 * 3600, ge=60, description="Lifetime of a login token.")
    sla_sweep_s: float = Field(5.0, gt=0, description="How often SLA deadlines are checked.")
    citizen_rate_window_s: int = Field(
        60, ge=1, description="The window in which citizen_rate_per_min reports per address are allowed."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Reverse proxies in front of the API (addresses or CIDRs) whose X-Forwarded-For is "
        "believed: the client is the rightmost address in it that is not one of these. The board needs no "
        "entry (it sends a key derived from the shared secret); listing 127.0.0.1 lets any local process "
        "choose the address it is counted as.",
    )
    account_check_s: float = Field(
        5.0,
        ge=0,
        le=300,
        description="Seconds an account's state (active, role, logins ended) is cached per API process; "
        "a deactivated account or a lowered role stops working within this long (0: every request).",
    )
    login_failures_per_account: int = Field(
        10, ge=1, description="Failed logins to one account in login_window_s before it is throttled (429)."
    )
    login_failures_per_address: int = Field(
        30,
        ge=1,
        description="Failed logins from one client address in login_window_s before it is throttled.",
    )
    login_window_s: int = Field(900, ge=1, description="The window (s) failed logins are counted in.")
    merge_radius_m: float = Field(
        30.0, ge=0, description="Same-type findings this close merge into one incident."
    )
    merge_window_s: float = Field(900.0, ge=0, description="... if the open incident changed this recently.")
    max_clock_skew_s: float = Field(
        300.0,
        ge=0,
        description="A detection observed up to this far in the future is taken as observed now; "
        "further ahead it is dead-lettered.",
    )
    max_detection_age_s: float = Field(
        3600.0,
        gt=0,
        description="A detection observed longer ago than this is dead-lettered, not opened as an incident "
        "(keep it above merge_window_s and the longest outage producers hold detections through).",
    )
    merge_lock_cell_m: float = Field(
        250.0,
        gt=0,
        description="Map cells (per type) whose locks serialise merges between dispatch consumers on "
        "PostgreSQL; raised to merge_radius_m when smaller.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress

        for entry in v:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from exc
        return v


class Open311Config(_Model):
    """The citizen API (Open311 GeoReport v2 at /open311/v2)."""

    api_keys: list[Annotated[str, Field(min_length=16, max_length=128)]] = Field(
        default_factory=list,
        description="Keys integrations send as api_key with POST requests (each at least 16 characters).",
    )
    require_api_key: bool = Field(
        False,
        description="POST requests needs one of api_keys; the board's citizen page (which the API knows "
        "by the key derived from the shared secret) never needs one.",
    )
    public_base_url: str | None = Field(
        None,
        description="The API as the public reaches it (https://...); media_url answers start with it. "
        "None: the board's api_url.",
    )
    jurisdiction_id: str | None = Field(
        None, description="The jurisdiction this endpoint serves; requests naming another are refused."
    )
    list_camera_incidents: bool = Field(
        False,
        description="GET requests also lists camera-raised incidents (service_request_id C<incident>; "
        "no camera, zone or staff data).",
    )
    default_days: int = Field(90, ge=1, le=3650, description="GET requests without dates: the last N days.")
    max_requests: int = Field(1000, ge=1, le=10_000, description="Most requests one GET requests answers.")
    address_candidates: int = Field(
        5, ge=1, le=50, description="Names offered with a 400 when an address_string is not clear."
    )

    @field_validator("public_base_url")
    @classmethod
    def _base(cls, v: str | None) -> str | None:
        if v and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an absolute http(s):// URL")
        return v.rstrip("/") if v else None


class DashboardConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8050, ge=1, le=65535)
    language: Literal["zh-CN", "en"] = "zh-CN"
    phone_refresh_ms: int = Field(
        15_000, ge=1000, description="How often the inspector's phone page asks for its dispatches."
    )
    tile_url: str | None = Field(
        None,
        description="Intranet raster tile URL template ({z}/{x}/{y}), fetched and served by the board at "
        "/tiles/{z}/{x}/{y}; none (and no tiles): offline background.",
    )
    tiles: Path | None = Field(
        None,
        description="A local raster MBTiles file (PNG or JPEG tiles) the board serves at /tiles/{z}/{x}/{y} "
        "as every page's basemap; none (and no tile_url): offline background.",
    )
    tiles_attribution: str | None = Field(
        None, description="The basemap's attribution shown on the maps (e.g. '© OpenStreetMap contributors')."
    )
    refresh_ms: int = Field(1000, ge=100)
    cycle_s: float = Field(0, ge=0, description="Seconds per street when the wall board cycles; 0: off.")
    live_max_viewers: int = Field(
        20, ge=1, description="Live-view streams one board process serves at once (each holds a thread)."
    )
    retention_h: float = Field(
        24, gt=0, description="Hours a finished incident stays in the board's live state."
    )
    api_url: str | None = Field(
        None,
        description="The dispatch API as browsers and the board reach it; none: http://dispatch.host:port.",
    )
    live_token: str | None = Field(
        None,
        min_length=24,
        description="Token an unattended wall screen sends (?token= or X-Board-Token) to read staff data "
        "(assignees, notes, exact positions) from /api/live; others log in (e.g. a viewer account). Set, it "
        "also keeps the wall board page for staff: open it once as /?token=...; the browser keeps a cookie.",
    )
    max_body_mb: float = Field(
        16.0,
        gt=0,
        le=200,
        description="Largest request body the board accepts (a citizen photo travels base64-encoded, "
        "so keep it above 1.4 x dispatch.max_upload_mb).",
    )

    @field_validator("tiles")
    @classmethod
    def _mbtiles(cls, v: Path | None) -> Path | None:
        if v is not None and v.suffix.lower() != ".mbtiles":
            raise ValueError(f"{v} is not an .mbtiles file")
        return v

    @field_validator("tile_url")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is not None and not (
            v.startswith(("http://", "https://")) and all(k in v for k in ("{z}", "{x}", "{y}"))
        ):
            raise ValueError("a tile URL is an http(s) template with {z}, {x} and {y}")
        return v

    @model_validator(mode="after")
    def _one_basemap(self) -> DashboardConfig:
        if self.tiles is not None and self.tile_url is not None:
            raise ValueError("set tiles (a local MBTiles file) or tile_url (an intranet server), not both")
        return self


class IoTConfig(_Model):
    """IoT alarms (docs/iot.md): the MQTT broker the ``cityops iot`` bridge subscribes to."""

    enabled: bool = Field(True, description="Run the iot bridge under 'cityops up'.")
    mqtt_url: str | None = Field(
        None,
        description="mqtt://host:1883 or mqtts://host:8883 (TLS); empty: 'cityops up' starts an embedded "
        "Mosquitto. CITYOPS_MQTT_URL in the environment wins.",
    )
    username: str | None = Field(None, description="Broker login (or give it in the URL).")
    password: str | None = Field(
        None, description="Broker password (or CITYOPS_MQTT_PASSWORD, or in the URL)."
    )
    ca_file: str | None = Field(
        None, description="mqtts://: CA bundle to verify the broker (default: system)."
    )
    client_id: str = Field(
        "cityops-iot-bridge",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="The bridge's MQTT client id: its persistent session (queued alarms) is kept under it.",
    )
    max_payload_bytes: int = Field(
        65_536, ge=256, le=1_048_576, description="Larger alarms are refused (dead-lettered) unread."
    )
    offline_check_s: float = Field(
        30.0, gt=0, description="How often device heartbeats are checked for silence."
    )

    @field_validator("mqtt_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v and not re.match(r"^mqtts?://[^/]+", v):
            raise ValueError("must be mqtt://host[:port] or mqtts://host[:port]")
        return v or None


class SupervisorConfig(_Model):
    """How ``cityops up`` restarts a service that exited (README: Keeping the stack up)."""

    backoff_initial_s: float = Field(1.0, gt=0, description="Wait before the first restart of a service.")
    backoff_max_s: float = Field(30.0, gt=0, description="The wait doubles on each restart up to this cap.")
    backoff_reset_s: float = Field(
        60.0,
        gt=0,
        description="A service that ran this long before exiting starts again from the first wait.",
    )
    startup_s: float = Field(
        10.0, gt=0, description="An exit within this many seconds of starting counts as a start-up crash."
    )
    crash_loop_exits: int = Field(
        5, ge=1, description="This many start-up crashes in a row stop the stack (most often a config error)."
    )


class CalendarConfig(_Model):
    """Working time (工作时) for time limits counted in working hours: periods of a working day,
    weekend days, and public holidays / make-up working days (调休) on top of the default data."""

    periods: list[str] = Field(
        default_factory=lambda: ["08:00-12:00", "14:00-18:00"], description="Working periods, HH:MM-HH:MM."
    )
    weekend: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default_factory=lambda: [5, 6], description="Days off each week (Monday is 0)."
    )
    holidays: list[date] = Field(default_factory=list, description="Extra public holidays.")
    workdays: list[date] = Field(default_factory=list, description="Extra make-up working days (调休上班).")
    default_holidays: bool = Field(
        True, description="Add the State Council holidays and make-up days of cityops/holidays.yaml."
    )

    @field_validator("periods")
    @classmethod
    def _periods(cls, v: list[str]) -> list[str]:
        from dispatch.workcalendar import parse_periods

        parse_periods(v)
        return v


class StaffConfig(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    name: str
    phone: str = ""


class DepartmentConfig(_Model):
    """A department that handles cases (专业部门 / 归属部门): sanitation, traffic police, the water
    company, a street office... It owns the types whose ``owner`` is its ``kind`` (or listed in
    ``types``), in ``areas`` (street, community or cell codes; empty: the whole district)."""

    id: Annotated[str, Field(pattern=_ID)]
    name: str
    name_en: str = ""
    kind: str = Field("", description="The taxonomy's owner code this department is (e.g. sanitation).")
    types: list[str] = Field(default_factory=list, description="Type or category codes it owns besides.")
    areas: list[str] = Field(default_factory=list, description="Street/community/cell codes; empty: all.")
    staff: list[StaffConfig] = Field(default_factory=list)


class StageLimits(_Model):
    """Time limits in hours of the centre's and the inspector's stages (working or natural time as the
    case's type says); the handling limit comes from the type (``limit_h``), else ``handle_h``."""

    check_h: float = Field(1.0, gt=0, description="核实: the inspector checks a citizen report on site.")
    file_h: float = Field(0.5, gt=0, description="立案: the centre files it (or not).")
    dispatch_h: float = Field(0.5, gt=0, description="派遣: the centre dispatches it.")
    handle_h: float = Field(8.0, gt=0, description="处置: default handling limit of types without one.")
    verify_h: float = Field(2.0, gt=0, description="核查: the inspector checks the fix on site.")
    close_h: float = Field(1.0, gt=0, description="结案: the centre closes it.")


class WorkflowConfig(_Model):
    """The case workflow (数字城管 seven steps). Defaults keep the grid inspector handling cases that no
    department owns; ``check_citizen_reports`` and ``file_by_centre`` turn on the centre's steps."""

    check_citizen_reports: bool = Field(
        False, description="A citizen report is first checked on site by the cell's inspector (核实)."
    )
    file_by_centre: list[str] = Field(
        default_factory=list,
        description="Sources (camera, citizen, inspector, ...) whose reports wait for the centre to file "
        "them (立案); others are filed and dispatched at once.",
    )
    auto_dispatch: bool = Field(True, description="Filing dispatches to the owning department at once.")
    limits: StageLimits = StageLimits()


class CityOpsConfig(_Model):
    district: str = "Lubei"
    data_dir: Path = Path("data")
    timezone: str = "Asia/Shanghai"
    grid: GridConfig = GridConfig()
    cameras: list[CameraConfig] = Field(default_factory=list)
    detector: DetectorConfig = DetectorConfig()
    vision: VisionConfig = VisionConfig()
    redis: RedisConfig = RedisConfig()
    store: StoreConfig = StoreConfig()
    sla: SLAConfig = SLAConfig()
    roster: list[InspectorConfig] = Field(default_factory=list)
    departments: list[DepartmentConfig] = Field(default_factory=list)
    calendar: CalendarConfig = CalendarConfig()
    workflow: WorkflowConfig = WorkflowConfig()
    dispatch: DispatchConfig = DispatchConfig()
    dashboard: DashboardConfig = DashboardConfig()
    open311: Open311Config = Open311Config()
    supervisor: SupervisorConfig = SupervisorConfig()
    iot: IoTConfig = IoTConfig()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _unique_ids(self) -> CityOpsConfig:
        for label, ids in (
            ("cameras", [c.id for c in self.cameras]),
            ("roster", [i.id for i in self.roster]),
            ("departments", [d.id for d in self.departments]),
            (
                "roster and department staff",
                [i.id for i in self.roster] + [m.id for d in self.departments for m in d.staff],
            ),
        ):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise ValueError(f"duplicate {label} id(s) {dup}")
        return self

    # -- derived settings -------------------------------------------------------------------------
    @property
    def redis_url(self) -> str | None:
        """``REDIS_URL`` in the environment wins over the file; ``None`` means 'start embedded'."""
        return os.environ.get("REDIS_URL") or self.redis.url

    @property
    def mqtt_url(self) -> str | None:
        """``CITYOPS_MQTT_URL`` in the environment wins over ``iot.mqtt_url``; ``None``: embedded."""
        return os.environ.get("CITYOPS_MQTT_URL") or self.iot.mqtt_url

    @property
    def api_url(self) -> str:
        """Where the board and browsers reach the dispatch API (``dashboard.api_url``, else host:port)."""
        return (self.dashboard.api_url or f"http://{self.dispatch.host}:{self.dispatch.port}").rstrip("/")

    @property
    def public_api_url(self) -> str:
        """The API as the public reaches it (``open311.public_base_url``, else :attr:`api_url`)."""
        return self.open311.public_base_url or self.api_url

    @property
    def board_url(self) -> str:
        return f"http://{self.dashboard.host}:{self.dashboard.port}"

    @property
    def store_url(self) -> str:
        url = os.environ.get("CITYOPS_STORE_URL") or self.store.url
        return url.replace("{data_dir}", str(self.data))

    @property
    def data(self) -> Path:
        """The data directory (``CITYOPS_DATA_DIR`` overrides the file). Reading it creates nothing:
        whoever writes under it creates the folder it writes into."""
        return Path(os.environ.get("CITYOPS_DATA_DIR") or self.data_dir).resolve()


def format_errors(err: ValidationError, data: object) -> str:
    """One line per problem: ``field.path: value <v> -- reason``."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in e["loc"]).replace(".[", "[")
        value = e.get("input")
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{loc or '<root>'}: value {shown} -- {msg}")
    return "\n".join(lines)


def load_config(path: str | Path) -> CityOpsConfig:
    """Read and validate a YAML config; relative paths in it are resolved against the file's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file in UTF-8 (byte {exc.start}: {exc.reason})") from exc
    try:
        # libyaml's loader where installed: a fleet's config (7,803 cameras, 1.9 MB) in 1.8 s, not 6 s
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}  # noqa: S506
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):  # libyaml's own limit (the pure-Python loader recurses instead)
            raise ConfigError(f"{path}: not valid YAML: nested too deeply ({exc.problem})") from exc
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    try:
        cfg = CityOpsConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc.error_count()} problem(s)\n{format_errors(exc, data)}") from exc
    try:
        return resolve_paths(cfg, path.parent.resolve())
    except ConfigError as exc:  # a file the config names is missing or unusable
        raise ConfigError(f"{path}: {exc}") from exc


def resolve_paths(cfg: CityOpsConfig, base: Path) -> CityOpsConfig:
    def rel(p: str | None) -> str | None:
        if not p or "://" in p or p.startswith("demo:") or Path(p).is_absolute():
            return p
        return str((base / p).resolve())

    def det(d: DetectorConfig | None) -> DetectorConfig | None:
        if d is None:
            return None
        model = rel(d.model) if d.backend == "darknet" or (d.model and d.model.startswith(".")) else d.model
        return d.model_copy(
            update={"cfg": rel(d.cfg), "names": rel(d.names), "model": model, "fallback": det(d.fallback)}
        )

    cams = [
        c.model_copy(
            update={"source": rel(c.source), "detector": det(c.detector), "background": rel(c.background)}
        )
        for c in cfg.cameras
    ]
    bad = [
        f"cameras[{i}].background: {err}" for i, c in enumerate(cams) if (err := _image_error(c.background))
    ]
    if bad:
        raise ConfigError(f"{len(bad)} problem(s)\n" + "\n".join(bad))
    grid = cfg.grid.model_copy(update={"source": rel(cfg.grid.source)})
    data_dir = cfg.data_dir if cfg.data_dir.is_absolute() else (base / cfg.data_dir).resolve()
    return cfg.model_copy(
        update={"detector": det(cfg.detector), "cameras": cams, "grid": grid, "data_dir": data_dir}
    )


def _image_error(path: str | None) -> str | None:
    """Why ``path`` is not a readable image (None: it is, or no path given)."""
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        return (
            f"value {path!r} -- file not found (an image of the empty scene; "
            "capture one with 'cityops vision background')"
        )
    try:
        import cv2
        import numpy as np
    except ImportError:  # no OpenCV here: the vision worker checks it when the camera starts
        return None
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as exc:
        return f"value {path!r} -- cannot be read ({exc.strerror or exc})"
    try:
        ok = data.size > 0 and cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) is not None
    except cv2.error:
        ok = False
    return None if ok else f"value {path!r} -- not an image OpenCV can read (PNG, JPEG, ...)"
