"""The zone editor page's words for a refused save (dashboard.pages.zones): who changed the
camera's zones and when, in the board's time zone, in both languages."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from dashboard.pages.zones import conflict_text
from vision.zone_overrides import Conflict

CTX = SimpleNamespace(tz=ZoneInfo("Asia/Shanghai"))
AT = datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC)


def test_a_conflict_names_who_and_when_in_the_boards_time_zone():
    exc = Conflict("cam-1", "abc", "olga", AT)
    assert conflict_text(CTX, exc, "en").startswith(
        "Not saved: olga saved this camera's zones at 2026-11-27 09:02:03"
    )
    zh = conflict_text(CTX, exc, "zh-CN")
    assert (
        zh.startswith("未保存：olga 于 2026-11-27 09:02:03 保存了此摄像机的区域") and "再次点「保存」" in zh
    )
    assert "Another desk saved" in conflict_text(
        CTX, Conflict("cam-1", "abc", "", AT), "en"
    )  # no name in the file
    assert "zone file was removed" in conflict_text(CTX, Conflict("cam-1", ""), "en")
    assert "区域文件被删除" in conflict_text(CTX, Conflict("cam-1", ""), "zh-CN")
