"""Incident states, the legal transitions between them, and who may make each (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """Incident states: the one definition every package reads (string values, stored as is)."""

    NEW = "new"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    VERIFIED = "verified"
    CLOSED = "closed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    ESCALATED = "escalated"


NEW, DISPATCHED, ACCEPTED, ON_SITE, RESOLVED = (
    State.NEW,
    State.DISPATCHED,
    State.ACCEPTED,
    State.ON_SITE,
    State.RESOLVED,
)
VERIFIED, CLOSED, REJECTED, DUPLICATE, ESCALATED = (
    State.VERIFIED, State.CLOSED, State.REJECTED, State.DUPLICATE, State.ESCALATED,
)  # fmt: skip

TRANSITIONS: dict[str, frozenset[str]] = {
    NEW: frozenset({DISPATCHED, REJECTED, DUPLICATE, ESCALATED}),
    DISPATCHED: frozenset({ACCEPTED, DISPATCHED, REJECTED, DUPLICATE, ESCALATED}),
    ESCALATED: frozenset({DISPATCHED, ACCEPTED, REJECTED, DUPLICATE}),
    ACCEPTED: frozenset({ON_SITE, DISPATCHED, ESCALATED}),
    ON_SITE: frozenset({RESOLVED, ESCALATED}),
    RESOLVED: frozenset({VERIFIED, DISPATCHED}),  # back to dispatched when verification fails
    VERIFIED: frozenset({CLOSED}),
    CLOSED: frozenset(),
    REJECTED: frozenset(),
    DUPLICATE: frozenset(),
}
OPEN_STATES = frozenset({NEW, DISPATCHED, ESCALATED, ACCEPTED, ON_SITE})
FINAL_STATES = frozenset({CLOSED, REJECTED, DUPLICATE})
HANDLED_STATES = frozenset({RESOLVED, VERIFIED, CLOSED})  # the work was done (a citizen may rate it)


class SlaStage(StrEnum):
    """The SLA clocks, in order, and the incident stamp that stops each."""

    ACCEPT = "accept"
    ARRIVE = "arrive"
    RESOLVE = "resolve"

    @property
    def stamp(self) -> str:
        return {"accept": "accepted_at", "arrive": "arrived_at", "resolve": "resolved_at"}[self.value]

    @property
    def state(self) -> State:
        """The state an incident enters when this stage is done."""
        return {"accept": ACCEPTED, "arrive": ON_SITE, "resolve": RESOLVED}[self.value]


class Role(StrEnum):
    INSPECTOR = "inspector"
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    VIEWER = "viewer"  # read only: a wall screen that shows staff data, and may change nothing
    SYSTEM = "system"


INSPECTOR, OPERATOR, SUPERVISOR, ADMIN, VIEWER, SYSTEM = (
    Role.INSPECTOR, Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN, Role.VIEWER, Role.SYSTEM,
)  # fmt: skip
STAFF_ROLES = (INSPECTOR, OPERATOR, SUPERVISOR, ADMIN, VIEWER)
DESK = frozenset({OPERATOR, SUPERVISOR, ADMIN})


@dataclass(frozen=True)
class Action:
    name: str
    to_state: str
    roles: frozenset[str]
    stamp: str | None = None  # the incident timestamp this action sets
    own_only: bool = False  # an inspector may act only on their own dispatch


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("assign", DISPATCHED, DESK | {SYSTEM}, stamp="dispatched_at"),
        Action("accept", ACCEPTED, frozenset({INSPECTOR}), stamp="accepted_at", own_only=True),
        Action("arrive", ON_SITE, frozenset({INSPECTOR}), stamp="arrived_at", own_only=True),
        Action("resolve", RESOLVED, frozenset({INSPECTOR}), stamp="resolved_at", own_only=True),
        Action("escalate", ESCALATED, DESK | {INSPECTOR, SYSTEM}, own_only=True),
        Action("verify", VERIFIED, DESK),
        Action("close", CLOSED, DESK, stamp="closed_at"),
        # an inspector may turn down their own dispatch (a false alarm, not a city matter), with a reason
        Action("reject", REJECTED, DESK | {INSPECTOR}, stamp="closed_at", own_only=True),
        Action("merge", DUPLICATE, DESK, stamp="closed_at"),
    )
}


class IllegalTransition(ValueError):
    pass


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = sorted(str(s) for s in TRANSITIONS.get(current, frozenset())) or "none (final state)"
        raise IllegalTransition(f"cannot go from '{current}' to '{target}'; allowed: {allowed}")


def actions_allowed(state: str, role: str) -> list[str]:
    """The actions a role may take on an incident in ``state`` (for buttons and docs)."""
    return [a.name for a in ACTIONS.values() if role in a.roles and a.to_state in TRANSITIONS.get(state, ())]
