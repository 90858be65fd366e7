"""Keyset pagination for the incident lists: a page ends with a cursor naming its last row; the next
page starts after it (``WHERE (sort key, id) < cursor``), so page 500 costs what page 1 costs, and
rows that change between two pages are neither skipped nor repeated by an offset that moved.

A cursor is opaque to clients: ``<ISO time>~<id>``, URL-safe base64. The next page's URL goes in the
``Link: <...>; rel="next"`` header and its cursor in ``X-Next-Cursor`` (the body stays a list)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from fastapi import HTTPException, Request, Response
from sqlalchemy import and_, or_


def encode_cursor(at: datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}~{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, row_id = raw.rsplit("~", 1)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("naive time")
        return when, int(row_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(422, "cursor is not one this API gave out (take it from X-Next-Cursor)") from exc


def after(cursor: str | None, key, id_col, *, descending: bool):
    """The WHERE clause of the page after ``cursor`` for ORDER BY (key, id) in the given direction."""
    if not cursor:
        return None
    at, row_id = decode_cursor(cursor)
    if descending:
        return or_(key < at, and_(key == at, id_col < row_id))
    return or_(key > at, and_(key == at, id_col > row_id))


def link_next(request: Request, response: Response, rows: list, limit: int, key_of) -> None:
    """When the page is full, point to the next one (headers only: the body stays a plain list)."""
    if len(rows) < limit:
        return
    last = rows[-1]
    cursor = encode_cursor(key_of(last), last.id)
    url = request.url.remove_query_params(["cursor", "offset"]).include_query_params(cursor=cursor)
    response.headers["X-Next-Cursor"] = cursor
    response.headers["Link"] = f'<{url}>; rel="next"'


def prefix_end(prefix: str) -> str:
    """The least string greater than every string starting with ``prefix`` (for a range scan)."""
    if not prefix or prefix[-1] == "\U0010ffff":
        return "\U0010ffff" * 2
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
