"""The IoT vocabulary, defined once: device kinds, the incident type each raises, topics."""

from __future__ import annotations

from enum import StrEnum


class DeviceKind(StrEnum):
    WATER_LEAK = "water_leak"
    GAS = "gas"
    SMOKE = "smoke"
    SOS_WRISTBAND = "sos_wristband"
    MANHOLE_COVER = "manhole_cover"


class DeviceState(StrEnum):
    """What the board shows per device (colour): see :func:`iot.devices.device_states`."""

    OK = "ok"
    ALARM = "alarm"
    OFFLINE = "offline"


#: The incident type (taxonomy code) an alarm of each device kind raises.
INCIDENT_TYPE: dict[DeviceKind, str] = {
    DeviceKind.WATER_LEAK: "water_leak",
    DeviceKind.GAS: "gas_leak",
    DeviceKind.SMOKE: "smoke_alarm",
    DeviceKind.SOS_WRISTBAND: "sos_call",
    DeviceKind.MANHOLE_COVER: "manhole_cover_alarm",
}
#: A registered device silent for longer than its heartbeat interval raises this (low severity).
OFFLINE_TYPE = "device_offline"
#: Incident types that are urgent device alarms (the board's flashing card and KPI tile).
ALARM_TYPES = frozenset(INCIDENT_TYPE.values())
DEVICE_TYPES = ALARM_TYPES | {OFFLINE_TYPE}

#: MQTT topics: ``cityops/devices/<device id>/alarm`` and ``.../heartbeat``.
TOPIC_PREFIX = "cityops/devices"
ALARM_TOPIC = f"{TOPIC_PREFIX}/+/alarm"
HEARTBEAT_TOPIC = f"{TOPIC_PREFIX}/+/heartbeat"


def alarm_topic(device_id: str) -> str:
    return f"{TOPIC_PREFIX}/{device_id}/alarm"


def heartbeat_topic(device_id: str) -> str:
    return f"{TOPIC_PREFIX}/{device_id}/heartbeat"
