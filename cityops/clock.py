"""The one wall clock: an aware UTC ``datetime`` (every stored and streamed time is UTC)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)
