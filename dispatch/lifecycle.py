"""Incident states and the legal transitions between them (pure; roles and the API come later)."""

from __future__ import annotations

NEW, DISPATCHED, ACCEPTED, ON_SITE, RESOLVED, VERIFIED, CLOSED = (
    "new",
    "dispatched",
    "accepted",
    "on_site",
    "resolved",
    "verified",
    "closed",
)
REJECTED, DUPLICATE, ESCALATED = "rejected", "duplicate", "escalated"

TRANSITIONS: dict[str, frozenset[str]] = {
    NEW: frozenset({DISPATCHED, REJECTED, DUPLICATE, ESCALATED}),
    DISPATCHED: frozenset({ACCEPTED, DISPATCHED, REJECTED, DUPLICATE, ESCALATED}),
    ESCALATED: frozenset({DISPATCHED, ACCEPTED, REJECTED, DUPLICATE}),
    ACCEPTED: frozenset({ON_SITE, DISPATCHED, ESCALATED}),
    ON_SITE: frozenset({RESOLVED, ESCALATED}),
    RESOLVED: frozenset({VERIFIED, DISPATCHED}),
    VERIFIED: frozenset({CLOSED}),
    CLOSED: frozenset(),
    REJECTED: frozenset(),
    DUPLICATE: frozenset(),
}
OPEN_STATES = frozenset({NEW, DISPATCHED, ESCALATED, ACCEPTED, ON_SITE})


class IllegalTransition(ValueError):
    pass


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = sorted(TRANSITIONS.get(current, frozenset())) or "none (final state)"
        raise IllegalTransition(f"cannot go from {current!r} to {target!r}; allowed: {allowed}")
