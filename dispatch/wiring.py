"""One place that builds what a dispatch process (the service or the API) works with: the store's
write and read sessions, the commands and the intake that share them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from cityops.clock import Clock, utcnow
from cityops.config import CityOpsConfig
from dispatch.commands import Commands
from dispatch.intake import Intake
from dispatch.store import open_store, read_sessions
from gis.grid import Grid


@dataclass
class DispatchParts:
    sessions: sessionmaker  # writes (commands and intake)
    readers: sessionmaker  # queries (on SQLite: deferred transactions that never block writers)
    commands: Commands
    intake: Intake
    engine: Engine | None = None  # the write engine, when these parts opened it

    def close(self) -> None:
        self.readers.kw["bind"].dispose()
        if self.engine is not None:
            self.engine.dispose()


def build_dispatch(
    cfg: CityOpsConfig, grid: Grid, *, sessions: sessionmaker | None = None, clock: Clock = utcnow
) -> DispatchParts:
    """Open (and migrate) the store unless ``sessions`` are given; one :class:`Commands` serves the
    intake and the caller alike."""
    engine = None
    if sessions is None:
        engine, sessions = open_store(cfg.store_url)
    commands = Commands(cfg, sessions, clock)
    return DispatchParts(
        sessions, read_sessions(cfg.store_url), commands, Intake(cfg, grid, sessions, commands), engine
    )
