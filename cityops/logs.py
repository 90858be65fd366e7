"""Service logs an operator can read: one line per event worth knowing, times in the city's time zone
with their offset, and the chatty libraries (an HTTP client line per poll, Alembic's plugin
registry, per-request access lines) held to warnings."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

#: loggers whose INFO lines repeat per poll or per start and say nothing to an operator
QUIET = ("httpx", "httpcore", "alembic", "werkzeug", "urllib3", "uvicorn.access")


class ZonedFormatter(logging.Formatter):
    """Times as ISO 8601 with their offset (``2026-11-26T12:00:05+08:00``) in ``tz`` (the machine's
    zone until :func:`use_timezone`)."""

    tz: ZoneInfo | None = None

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        dt = (
            datetime.fromtimestamp(record.created, self.tz)
            if self.tz
            else datetime.fromtimestamp(record.created).astimezone()
        )
        return dt.isoformat(timespec="seconds")


def setup(name: str, verbose: bool = False) -> None:
    """Log to stderr as ``<time> <service> <level> <message>``, libraries in :data:`QUIET` at WARNING."""
    handler = logging.StreamHandler()
    handler.setFormatter(ZonedFormatter(f"%(asctime)s {name:<9} %(levelname)-7s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for lib in QUIET:
        logging.getLogger(lib).setLevel(logging.WARNING)


def use_timezone(tz: str) -> None:
    """From now on, every handler's times in ``tz`` (the config's ``timezone``)."""
    zone = ZoneInfo(tz)
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, ZonedFormatter):
            handler.formatter.tz = zone
