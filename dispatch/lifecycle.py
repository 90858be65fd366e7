"""Incident states, the legal transitions between them, who may make each, and the standard steps of
the 数字城管 case workflow they belong to (pure; the one vocabulary every package reads).

The seven standard steps (CJJ/T 106-2010, GB/T 30428): 信息收集 → 案卷建立 → 任务派遣 → 任务处理 →
处理反馈 → 核实结案 → 综合评价. Each action below belongs to one :class:`Step` and carries its standard
zh-CN term with an English gloss; each open state waits in one :class:`Stage`, whose clock runs
while the case sits there (see :mod:`dispatch.steps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """Incident states: the one definition every package reads (string values, stored as is)."""

    NEW = "new"  # reported (信息收集), waiting for the centre to file it (立案)
    CHECKING = "checking"  # the cell's inspector checks a citizen report on site (核实)
    FILED = "filed"  # filed (立案), waiting to be dispatched
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    ON_SITE = "on_site"
    RESOLVED = "resolved"  # the handler reported back (处理反馈), waiting for the on-site check (核查)
    VERIFIED = "verified"  # the check passed, waiting for the centre to close (结案)
    CLOSED = "closed"
    REJECTED = "rejected"  # not filed (不予立案), with the reason
    DUPLICATE = "duplicate"
    ESCALATED = "escalated"
    RETURNED = "returned"  # a department returned it to the centre (回退), waiting to be re-dispatched


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
CHECKING, FILED, RETURNED = State.CHECKING, State.FILED, State.RETURNED

TRANSITIONS: dict[str, frozenset[str]] = {
    NEW: frozenset({CHECKING, FILED, DISPATCHED, REJECTED, DUPLICATE, ESCALATED}),
    CHECKING: frozenset({NEW, REJECTED, DUPLICATE}),
    FILED: frozenset({DISPATCHED, DUPLICATE}),
    DISPATCHED: frozenset({ACCEPTED, DISPATCHED, RETURNED, REJECTED, DUPLICATE, ESCALATED}),
    ESCALATED: frozenset({DISPATCHED, ACCEPTED, REJECTED, DUPLICATE}),
    ACCEPTED: frozenset({ON_SITE, RESOLVED, DISPATCHED, RETURNED, ESCALATED}),
    ON_SITE: frozenset({RESOLVED, ESCALATED}),
    RESOLVED: frozenset({VERIFIED, DISPATCHED}),  # back to dispatched: rework (返工) after a failed check
    RETURNED: frozenset({DISPATCHED, REJECTED, DUPLICATE}),
    VERIFIED: frozenset({CLOSED}),
    CLOSED: frozenset(),
    REJECTED: frozenset(),
    DUPLICATE: frozenset(),
}
OPEN_STATES = frozenset({NEW, CHECKING, FILED, DISPATCHED, ESCALATED, ACCEPTED, ON_SITE, RETURNED})
FINAL_STATES = frozenset({CLOSED, REJECTED, DUPLICATE})
HANDLED_STATES = frozenset({RESOLVED, VERIFIED, CLOSED})  # the work was done (a citizen may rate it)
HANDLING_STATES = frozenset({DISPATCHED, ESCALATED, ACCEPTED, ON_SITE})  # someone has it to handle


class Step(StrEnum):
    """The seven standard steps of a case (CJJ/T 106-2010 §3; GB/T 30428.1)."""

    COLLECT = "collect"
    FILE = "file"
    DISPATCH = "dispatch"
    HANDLE = "handle"
    FEEDBACK = "feedback"
    CLOSE = "close"
    EVALUATE = "evaluate"

    @property
    def zh(self) -> str:
        return _STEP_NAMES[self][0]

    @property
    def en(self) -> str:
        return _STEP_NAMES[self][1]


_STEP_NAMES = {
    Step.COLLECT: ("信息收集", "information collection"),
    Step.FILE: ("案卷建立", "case filing"),
    Step.DISPATCH: ("任务派遣", "task dispatch"),
    Step.HANDLE: ("任务处理", "task handling"),
    Step.FEEDBACK: ("处理反馈", "handling feedback"),
    Step.CLOSE: ("核实结案", "verification and closing"),
    Step.EVALUATE: ("综合评价", "comprehensive evaluation"),
}


class Stage(StrEnum):
    """Where an open case waits, each with its own clock and time limit (:mod:`dispatch.steps`)."""

    CHECK = "check"  # the inspector's on-site check of a citizen report (核实)
    FILE = "file"  # the centre files it or not (立案 / 不予立案)
    DISPATCH = "dispatch"  # the centre dispatches it (派遣)
    HANDLE = "handle"  # the department (or inspector) handles it (处置)
    VERIFY = "verify"  # the inspector checks the fix on site (核查)
    CLOSE = "close"  # the centre closes it (结案)

    @property
    def zh(self) -> str:
        return _STAGE_NAMES[self][0]

    @property
    def en(self) -> str:
        return _STAGE_NAMES[self][1]

    @property
    def step(self) -> Step:
        return _STAGE_NAMES[self][2]


_STAGE_NAMES = {
    Stage.CHECK: ("核实", "on-site check of the report", Step.COLLECT),
    Stage.FILE: ("立案", "filing", Step.FILE),
    Stage.DISPATCH: ("派遣", "dispatch", Step.DISPATCH),
    Stage.HANDLE: ("处置", "handling", Step.HANDLE),
    Stage.VERIFY: ("核查", "on-site verification of the fix", Step.CLOSE),
    Stage.CLOSE: ("结案", "closing", Step.CLOSE),
}

#: The stage whose clock runs while a case is in each open (not final) state.
STAGE_OF_STATE: dict[str, Stage] = {
    CHECKING: Stage.CHECK,
    NEW: Stage.FILE,
    FILED: Stage.DISPATCH,
    RETURNED: Stage.DISPATCH,
    DISPATCHED: Stage.HANDLE,
    ESCALATED: Stage.HANDLE,
    ACCEPTED: Stage.HANDLE,
    ON_SITE: Stage.HANDLE,
    RESOLVED: Stage.VERIFY,
    VERIFIED: Stage.CLOSE,
}


class SlaStage(StrEnum):
    """The inspector's handling clocks (accept, arrive, resolve), in order, and the stamp that stops each."""

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
    DEPARTMENT = "department"  # staff of a department that handles cases (专业部门); acts for it
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    VIEWER = "viewer"  # read only: a wall screen that shows staff data, and may change nothing
    SYSTEM = "system"


INSPECTOR, OPERATOR, SUPERVISOR, ADMIN, VIEWER, SYSTEM = (
    Role.INSPECTOR, Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN, Role.VIEWER, Role.SYSTEM,
)  # fmt: skip
DEPARTMENT = Role.DEPARTMENT
STAFF_ROLES = (INSPECTOR, DEPARTMENT, OPERATOR, SUPERVISOR, ADMIN, VIEWER)
FIELD_ROLES = frozenset({INSPECTOR, DEPARTMENT})  # accounts that act as a roster id
DESK = frozenset({OPERATOR, SUPERVISOR, ADMIN})


class Own(StrEnum):
    """Whose case a field account may act on."""

    HANDLER = "handler"  # the inspector or department it is dispatched to
    CELL = "cell"  # the cell's inspector (who checks reports and verifies fixes)


@dataclass(frozen=True)
class Action:
    name: str
    to_state: str | None  # None: the state stays (an extension request and its answer)
    roles: frozenset[str]
    stamp: str | None = None  # the incident timestamp this action sets
    own_only: bool = False  # a field account may act only on its own case (see ``own``)
    zh: str = ""
    en: str = ""
    step: Step = Step.HANDLE
    own: Own = Own.HANDLER
    from_states: frozenset[str] | None = None  # where a state-keeping action is allowed
    reason: bool = False  # needs a note saying why
    photos: bool = False  # needs at least one photo

    def allowed_from(self, state: str) -> bool:
        if self.to_state is None:
            return state in (self.from_states or ())
        if self.from_states is not None and state not in self.from_states:
            return False
        return self.to_state in TRANSITIONS.get(state, frozenset())


_HANDLERS = frozenset({INSPECTOR, DEPARTMENT})
_EXTENDABLE = frozenset({DISPATCHED, ACCEPTED, ON_SITE, ESCALATED})

ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("request_check", CHECKING, DESK | {SYSTEM}, zh="核实派遣", en="check requested", step=Step.COLLECT,
               from_states=frozenset({NEW})),
        Action("confirm", NEW, frozenset({INSPECTOR}), stamp="checked_at", own_only=True, own=Own.CELL,
               zh="核实属实", en="report confirmed on site", step=Step.COLLECT),
        Action("refute", NEW, frozenset({INSPECTOR}), stamp="checked_at", own_only=True, own=Own.CELL,
               zh="核实不属实", en="report not confirmed on site", step=Step.COLLECT, reason=True,
               from_states=frozenset({CHECKING})),
        Action("file", FILED, DESK | {SYSTEM}, stamp="filed_at", zh="立案", en="filed", step=Step.FILE),
        # the centre does not file it; an inspector may turn down their own dispatch (not a city matter)
        Action("reject", REJECTED, DESK | {INSPECTOR}, stamp="closed_at", own_only=True, zh="不予立案",
               en="not filed", step=Step.FILE, reason=True),
        Action("assign", DISPATCHED, DESK | {SYSTEM}, stamp="dispatched_at", zh="派遣", en="dispatched",
               step=Step.DISPATCH),
        Action("accept", ACCEPTED, _HANDLERS, stamp="accepted_at", own_only=True, zh="接收", en="accepted"),
        Action("arrive", ON_SITE, _HANDLERS, stamp="arrived_at", own_only=True, zh="到场", en="on site"),
        Action("resolve", RESOLVED, _HANDLERS, stamp="resolved_at", own_only=True, zh="处置反馈",
               en="handled, reported back", step=Step.FEEDBACK),
        Action("return", RETURNED, frozenset({DEPARTMENT}), own_only=True, zh="回退", en="returned to the centre",
               reason=True, from_states=frozenset({DISPATCHED, ACCEPTED})),
        Action("request_extension", None, frozenset({DEPARTMENT}), own_only=True, zh="延期申请",
               en="extension requested", reason=True, from_states=_EXTENDABLE),
        Action("approve_extension", None, DESK, zh="延期批准", en="extension approved", from_states=_EXTENDABLE),
        Action("refuse_extension", None, DESK, zh="延期驳回", en="extension refused", reason=True,
               from_states=_EXTENDABLE),
        Action("escalate", ESCALATED, DESK | {INSPECTOR, SYSTEM}, own_only=True, zh="升级", en="escalated"),
        Action("verify", VERIFIED, DESK | {INSPECTOR}, stamp="verified_at", own_only=True, own=Own.CELL,
               zh="核查通过", en="fix verified on site", step=Step.CLOSE),
        Action("rework", DISPATCHED, frozenset({INSPECTOR}), own_only=True, own=Own.CELL, zh="返工",
               en="rework: fix failed the check", step=Step.CLOSE, reason=True, photos=True,
               from_states=frozenset({RESOLVED})),
        Action("close", CLOSED, DESK, stamp="closed_at", zh="结案", en="closed", step=Step.CLOSE),
        Action("merge", DUPLICATE, DESK, stamp="closed_at", zh="合并", en="merged as a duplicate", step=Step.FILE),
    )
}  # fmt: skip


class IllegalTransition(ValueError):
    pass


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = sorted(str(s) for s in TRANSITIONS.get(current, frozenset())) or "none (final state)"
        raise IllegalTransition(f"cannot go from '{current}' to '{target}'; allowed: {allowed}")


def check_action(current: str, action: Action) -> None:
    """Raise :class:`IllegalTransition` unless ``action`` may be taken in state ``current``."""
    if action.to_state is not None:
        check_transition(current, action.to_state)
    if not action.allowed_from(current):
        where = sorted(str(s) for s in action.from_states or ())
        raise IllegalTransition(f"cannot {action.name} a case that is '{current}'; only when {where}")


def actions_allowed(state: str, role: str) -> list[str]:
    """The actions a role may take on an incident in ``state`` (for buttons and docs)."""
    return [a.name for a in ACTIONS.values() if role in a.roles and a.allowed_from(state)]
