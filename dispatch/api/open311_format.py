"""Open311 answers in the format the path asks for: ``.json`` or ``.xml`` with the spec's element
names (``services/service``, ``service_requests/request``, ``service_definition``,
``errors/error``), and errors in the spec's shape on every Open311 path (pure)."""

from __future__ import annotations

import re
from datetime import datetime
from xml.etree import ElementTree as ET

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

PREFIX = "/open311/"
FORMATS = ("json", "xml")
#: the element of each item in a list-valued field
ITEM_OF = {"attributes": "attribute", "values": "value", "candidates": "candidate", "timeline": "step",
           "photos": "photo"}  # fmt: skip


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return _NOT_XML.sub("\ufffd", str(value))


def _fill(el: ET.Element, value) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(ET.SubElement(el, k), v)
    elif isinstance(value, list | tuple):
        for v in value:
            _fill(ET.SubElement(el, ITEM_OF.get(el.tag, "item")), v)
    elif value is not None:
        el.text = _text(value)


def to_xml(root: str, item: str | None, data) -> bytes:
    """``data`` (a list of dicts under ``root/item``, or one dict as ``root``) as an XML document."""
    top = ET.Element(root)
    if item is None:
        _fill(top, data)
    else:
        for row in data:
            _fill(ET.SubElement(top, item), row)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8")


def render(data, fmt: str, root: str, item: str | None, status: int = 200) -> Response:
    data = jsonable_encoder(data)
    if fmt == "xml":
        return Response(to_xml(root, item, data), status_code=status, media_type="text/xml; charset=utf-8")
    return JSONResponse(data, status_code=status)


def path_format(path: str) -> str:
    """The format an Open311 path asks for (``.xml`` at its end), JSON otherwise."""
    return "xml" if path.lower().endswith(".xml") else "json"


def is_open311(path: str) -> bool:
    return path.startswith(PREFIX)


def error_response(path: str, status: int, description: str, headers=None, **extra) -> Response:
    """``[{"code": 400, "description": "..."}]`` or ``<errors><error>...``: the spec's error shape."""
    err = {"code": status, "description": description, **extra}
    res = render([err], path_format(path), "errors", "error", status)
    for k, v in (headers or {}).items():
        res.headers[k] = v
    return res
