"""What every page needs, built once per board process."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from cityops.config import CityOpsConfig
from dashboard.access import LiveAccess
from dashboard.api_client import ApiClient
from dashboard.geometry import GeometryFiles
from dashboard.live import LiveState
from gis.grid import Grid


@dataclass
class DashContext:
    cfg: CityOpsConfig
    live: LiveState
    grid: Grid
    api: ApiClient
    tz: ZoneInfo = field(init=False)
    board_views: object = None  # the board's per-page memory (dashboard.pages.board.ClientViews)
    board_panels: object = (
        None  # the board's panels per live-state version (dashboard.pages.board.PanelCache)
    )
    media_key: bytes = b""  # signs the staff's evidence clip links (dashboard.media.clip_url)
    access: LiveAccess = field(init=False)  # who may see staff data (the board token, logins)
    geometry: GeometryFiles = field(init=False)  # the grid's layers by URL (create_app sets its prefix)

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.cfg.timezone)
        self.geometry = GeometryFiles(self.cfg, self.grid)
        self.access = LiveAccess(self.cfg.dashboard.live_token, self.api)

    @property
    def api_public_url(self) -> str:
        """Where a browser reaches the API (photos are served from there)."""
        return self.cfg.api_url
