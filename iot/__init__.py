"""IoT alarms: devices (water leak, gas, smoke, SOS wristband, manhole cover) raise incidents.

device --MQTT (QoS 1)--> broker --> ``cityops iot`` bridge --> "cityops:detections" --> dispatch
device --HTTPS, HMAC-signed--> ``POST /api/v1/iot/alarms`` (the API) --> "cityops:detections"

Modules: :mod:`iot.kinds` (the vocabulary), :mod:`iot.alarms` (payload validation, signatures,
alarm -> Detection, pure), :mod:`iot.devices` (the registry in the store, CSV import),
:mod:`iot.broker` (the embedded Mosquitto), :mod:`iot.bridge` (MQTT -> stream, offline watch),
:mod:`iot.webhook` (the HTTP route), :mod:`iot.commands` (``cityops iot ...``).
"""
