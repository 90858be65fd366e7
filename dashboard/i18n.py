"""Every label the pages show, in zh-CN (default) and English, from one catalogue."""

from __future__ import annotations

from cityops.taxonomy import violation_types

LANGS = ("zh-CN", "en")

CATALOGUE: dict[str, dict[str, str]] = {
    "title": {"zh-CN": "城市运行指挥中心", "en": "City Operations Command Centre"},
    "subtitle": {
        "zh-CN": "一屏观全域 · 一网管全城",
        "en": "One screen sees the district, one network manages it",
    },
    "open": {"zh-CN": "未结案件", "en": "Open incidents"},
    "today_new": {"zh-CN": "今日新增", "en": "New today"},
    "dispatched": {"zh-CN": "已派遣", "en": "Dispatched"},
    "cameras_online": {"zh-CN": "在线摄像机", "en": "Cameras online"},
    "map": {"zh-CN": "单元网格案件分布", "en": "Open incidents by unit cell"},
    "latest": {"zh-CN": "最新案件", "en": "Latest incidents"},
    "cameras": {"zh-CN": "摄像机状态", "en": "Camera health"},
    "no_incidents": {"zh-CN": "暂无案件", "en": "No incidents yet"},
    "cell": {"zh-CN": "网格", "en": "Cell"},
    "assignee": {"zh-CN": "处置人", "en": "Inspector"},
    "unassigned": {"zh-CN": "待派遣", "en": "Unassigned"},
    "count": {"zh-CN": "次", "en": "×"},
    "language": {"zh-CN": "English", "en": "中文"},
    "cells_label": {"zh-CN": "个网格", "en": "cells"},
    "state.new": {"zh-CN": "新立案", "en": "New"},
    "state.dispatched": {"zh-CN": "已派遣", "en": "Dispatched"},
    "state.accepted": {"zh-CN": "已接单", "en": "Accepted"},
    "state.on_site": {"zh-CN": "已到场", "en": "On site"},
    "state.resolved": {"zh-CN": "已处置", "en": "Resolved"},
    "state.verified": {"zh-CN": "已核查", "en": "Verified"},
    "state.closed": {"zh-CN": "已结案", "en": "Closed"},
    "state.rejected": {"zh-CN": "不予受理", "en": "Rejected"},
    "state.duplicate": {"zh-CN": "重复", "en": "Duplicate"},
    "state.escalated": {"zh-CN": "已升级", "en": "Escalated"},
    "cam.online": {"zh-CN": "在线", "en": "online"},
    "cam.offline": {"zh-CN": "离线", "en": "offline"},
    "cam.error": {"zh-CN": "故障", "en": "error"},
    "cam.starting": {"zh-CN": "启动中", "en": "starting"},
    "cam.stopped": {"zh-CN": "已停止", "en": "stopped"},
    "fps": {"zh-CN": "帧/秒", "en": "fps"},
}


def t(key: str, lang: str) -> str:
    entry = CATALOGUE.get(key)
    if entry is None:
        if key.startswith("type."):
            vt = violation_types().get(key[5:])
            return vt.name(lang) if vt else key[5:]
        return key
    return entry.get(lang) or entry["zh-CN"]
