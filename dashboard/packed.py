"""A file prepared once per process and served many times: its bytes, gzipped once, and an ETag."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass

from flask import Response, request


@dataclass(frozen=True)
class Packed:
    raw: bytes
    gz: bytes
    etag: str

    @classmethod
    def of(cls, raw: bytes, etag_len: int = 32) -> Packed:
        """``raw`` gzipped (level 9, no timestamp: the same bytes every time) with its digest as ETag."""
        return cls(raw, gzip.compress(raw, 9, mtime=0), hashlib.sha256(raw).hexdigest()[:etag_len])

    def response(self, mimetype: str, cache_control: str) -> Response:
        """The file for this request: gzipped where the client takes it, 304 when it holds it."""
        if request.if_none_match.contains(self.etag):
            resp = Response(status=304)
        elif "gzip" in request.headers.get("Accept-Encoding", "").lower():
            resp = Response(self.gz, mimetype=mimetype)
            resp.headers["Content-Encoding"] = "gzip"
        else:
            resp = Response(self.raw, mimetype=mimetype)
        resp.headers["Vary"] = "Accept-Encoding"
        resp.headers["Cache-Control"] = cache_control
        resp.set_etag(self.etag)
        return resp
