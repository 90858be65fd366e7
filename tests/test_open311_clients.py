"""The published Open311 client libraries against a live ``cityops api`` (the ``api_url`` fixture):
every call the spec defines and the library implements, in JSON and XML.

- ``georeport`` 0.3.1 (PyPI, Python 3, read-only): imported and called as is.
- ``three`` 0.8.0 (PyPI, Python 2 only: ``itertools.ifilter``, ``relaxml``, ``dict.keys()[0]``) and
  ``open311`` 1.1 (PyPI, Python 2 only: implicit relative imports, ``urlopen(url, str)``) cannot be
  imported on Python 3. Their request calls are ported below line by line (same paths, methods,
  parameters and the same indexing of the parsed answer; XML parsed with xmltodict where they use
  relaxml / their bundled xml2dict, which give the same nesting).

The run writes the table library x call x format -> result to test-output/open311-clients.md.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
import requests
import xmltodict

from tests.conftest import OUTPUT

georeport = pytest.importorskip(
    "georeport", reason="the test extra installs georeport (pip install georeport)"
)

FORMATS = ("json", "xml")


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def run(self, lib: str, call: str, fmt: str, fn):
        try:
            out = fn()
        except Exception as exc:  # recorded, then the test fails on it below
            self.rows.append((lib, call, fmt, f"FAILED: {type(exc).__name__}: {str(exc)[:120]}"))
            return None
        self.rows.append((lib, call, fmt, "ok"))
        return out

    def write(self) -> str:
        lines = ["| client library | call | format | result |", "|---|---|---|---|"]
        lines += [f"| {lib} | {call} | {fmt} | {res} |" for lib, call, fmt, res in self.rows]
        text = "\n".join(lines) + "\n"
        (OUTPUT / "open311-clients.md").write_text(text)
        return text


# -- three 0.8.0, ported (three/core.py) ---------------------------------------------------------------
class Three:
    """three.core.Three's request calls: ``endpoint + '/'.join(args) + '.' + format``, GET params
    with jurisdiction_id, count -> page_size, start/end -> start_date/end_date as %Y-%m-%dT%H:%M:%SZ;
    POST form with address -> address_string, name -> first_name/last_name, api_key always sent."""

    def __init__(
        self, endpoint: str, format: str = "json", api_key: str = "", jurisdiction: str = ""
    ) -> None:
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.format, self.api_key, self.jurisdiction = format, api_key, jurisdiction
        self.session = requests.Session()

    def _create_path(self, *args):
        return self.endpoint + "/".join(a for a in args if a) + f".{self.format}"

    def convert(self, content):
        if self.format == "json":
            return json.loads(content)
        doc = xmltodict.parse(content)  # relaxml's xml(): {root: ...}; three returns content[first key]
        return doc[next(iter(doc))]

    def _get_keywords(self, **kwargs):
        if self.jurisdiction and "jurisdiction_id" not in kwargs:
            kwargs["jurisdiction_id"] = self.jurisdiction
        if "count" in kwargs:
            kwargs["page_size"] = kwargs.pop("count")
        if "start" in kwargs:
            start = kwargs.pop("start")
            end = kwargs.pop("end", date.today())
            kwargs["start_date"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
            kwargs["end_date"] = end.strftime("%Y-%m-%dT%H:%M:%SZ")
        return kwargs

    def get(self, *args, **kwargs):
        res = self.session.get(self._create_path(*args), params=self._get_keywords(**kwargs))
        res.raise_for_status()  # three returns the body of an error too; a test wants to know
        return self.convert(res.content)

    def services(self, code=None, **kwargs):
        return self.get("services", code, **kwargs)

    def requests(self, code=None, **kwargs):
        if code:
            kwargs["service_code"] = code
        return self.get("requests", **kwargs)

    def request(self, id, **kwargs):
        return self.get("requests", id, **kwargs)

    def token(self, id, **kwargs):
        return self.get("tokens", id, **kwargs)

    def post(self, service_code="0", **kwargs):
        kwargs["service_code"] = service_code
        if self.jurisdiction and "jurisdiction_id" not in kwargs:
            kwargs["jurisdiction_id"] = self.jurisdiction
        if "address" in kwargs:
            kwargs["address_string"] = kwargs.pop("address")
        if "name" in kwargs:
            kwargs["first_name"], kwargs["last_name"] = kwargs.pop("name").split(" ")
        kwargs.setdefault("api_key", self.api_key)
        media = kwargs.pop("media", None)
        res = self.session.post(
            self._create_path("requests"), data=kwargs, files={"media": media} if media else None
        )
        res.raise_for_status()
        return self.convert(res.content)


# -- open311 1.1, ported (open311/open311.py, open311/api/api.py) --------------------------------------
class Open311:
    """open311.Open311's calls: ``service_list`` always asks for services.xml; ``service_definition``
    asks for ``service/{code}`` (singular); the list calls index the XML shape
    (``data['service_requests']['request']``), so in JSON they cannot work whatever the server says;
    POST sends jurisdiction_id and api_key in the URL and the form urlencoded."""

    def __init__(self, endpoint: str, format: str = "xml", api_key: str = "", jurisdiction: str = "") -> None:
        self.base_url, self.format, self.api_key, self.jurisdiction = (
            endpoint.rstrip("/"),
            format,
            api_key,
            jurisdiction,
        )

    def _format_data(self, fmt, data):
        return json.loads(data) if fmt == "json" else xmltodict.parse(data)

    def call_api(self, directory, **kwargs):
        url = f"{self.base_url}/{directory}"
        if kwargs:
            url += "?" + urlencode(kwargs)
        with urllib.request.urlopen(url) as resp:
            return self._format_data(self.format, resp.read())

    def service_list(self):
        data = self.call_api("services.xml", jurisdiction_id=self.jurisdiction)
        return (
            xmltodict.parse(xmltodict.unparse(data))["services"]["service"] if self.format == "xml" else data
        )

    def service_definition(self, code):
        return self.call_api(f"service/{code}.{self.format}", jurisdiction_id=self.jurisdiction)

    def service_requests(self, **kwargs):
        kwargs.update({"jurisdiction_id": self.jurisdiction})
        return self.call_api(f"requests.{self.format}", **kwargs)["service_requests"]["request"]

    def get_service_request(self, number):
        return self.call_api(f"requests/{number}.{self.format}", jurisdiction_id=self.jurisdiction)

    def post_service_request(self, **kwargs):
        params = urlencode({"jurisdiction_id": self.jurisdiction, "api_key": self.api_key})
        url = f"{self.base_url}/requests.{self.format}?{params}"
        with urllib.request.urlopen(url, urlencode(kwargs).encode()) as resp:  # Python 2 sent a str
            return self._format_data(self.format, resp.read())

    def request_id_from_token(self, token):
        data = self.call_api(f"tokens/{token}.{self.format}", jurisdiction_id=self.jurisdiction)
        return data["service_requests"]["request"]


def _one(x):
    return x[0] if isinstance(x, list) else x


def _many(x):
    return x if isinstance(x, list) else [x] if x else []


def three_calls(root: str, fmt: str, table: Table) -> dict:
    """services, a definition, POST (by address, with a name that stays private), token, request(s)."""
    t = Three(root, format=fmt, api_key="")
    run = lambda call, fn: table.run("three 0.8.0 (ported)", call, fmt, fn)  # noqa: E731
    svc = run("services()", t.services)
    assert svc and (svc if fmt == "json" else svc["service"])
    d = run("services(code)", lambda: t.services("road_damage"))
    assert d and d["service_code"] == "road_damage"
    post = run("post(code, address=, name=, attribute[])", lambda: t.post(
        "road_damage", address="文化路第2社区", name="Li Lei", description=f"pothole ({fmt})",
        **{"attribute[where]": "north gate"}))  # fmt: skip
    req = _one(post if fmt == "json" else post["request"])
    tok = run("token(id)", lambda: t.token(req["token"]))
    tok = _one(tok if fmt == "json" else tok["request"])
    assert tok["service_request_id"] == req["service_request_id"]
    one = run("request(id)", lambda: t.request(req["service_request_id"]))
    one = _one(one if fmt == "json" else one["request"])
    assert one["description"] == f"pothole ({fmt})" and "Lei" not in json.dumps(one)
    assert "文化路第2社区" in one["address"]
    today = date.today()
    many = run("requests(code, start=, end=, count=)", lambda: t.requests(
        "road_damage", start=today - timedelta(days=30), end=today + timedelta(days=1), count=50))  # fmt: skip
    rows = many if fmt == "json" else _many(many.get("request"))
    assert req["service_request_id"] in [r["service_request_id"] for r in rows]
    return req


def open311_calls(root: str, fmt: str, table: Table) -> dict:
    o = Open311(root, format=fmt)
    run = lambda call, fn: table.run("open311 1.1 (ported)", call, fmt, fn)  # noqa: E731
    d = run("service_definition(code)", lambda: o.service_definition("illegal_advert"))
    assert (d if fmt == "json" else d["service_definition"])["service_code"] == "illegal_advert"
    created = run("post_service_request(...)", lambda: o.post_service_request(
        service_code="illegal_advert", address_string="Qiaotun Street", description="flyers",
        email="li@example.cn"))  # fmt: skip
    c = _one(created if fmt == "json" else created["service_requests"]["request"])
    got = run("get_service_request(id)", lambda: o.get_service_request(c["service_request_id"]))
    got = _one(got if fmt == "json" else got["service_requests"]["request"])
    assert got["service_request_id"] == c["service_request_id"] and "li@example.cn" not in json.dumps(got)
    xml_only = ("service_list()", "service_requests()", "request_id_from_token(token)")
    if fmt == "json":  # the library asks for services.xml, and indexes the XML shape in the other two
        table.rows += [
            ("open311 1.1 (ported)", call, fmt, "n/a: the library reads these as XML only")
            for call in xml_only
        ]
        return c
    assert run(xml_only[0], o.service_list)
    reqs = run(xml_only[1], o.service_requests)
    assert c["service_request_id"] in [r["service_request_id"] for r in _many(reqs)]
    tok = run(xml_only[2], lambda: o.request_id_from_token(c["token"]))
    assert tok["service_request_id"] == c["service_request_id"]
    return c


def georeport_calls(root: str, fmt: str, table: Table, ids: list[str]) -> None:
    from georeport import GeoReport

    g = GeoReport(root, output_format=fmt)
    run = lambda call, fn: table.run("georeport 0.3.1", call, fmt, fn)  # noqa: E731
    assert run("get_service_list()", g.get_service_list)
    d = run("get_service_definition(code)", lambda: g.get_service_definition("road_damage"))
    assert d["service_code"] == "road_damage"
    today = date.today()
    rows = run("get_service_requests(service_code=a,b, status, start/end)", lambda: g.get_service_requests(
        service_code="road_damage,illegal_advert", status="open",
        start_date=f"{today - timedelta(days=2)}T00:00:00Z", end_date=f"{today + timedelta(days=1)}T00:00:00Z"))  # fmt: skip
    assert set(ids) <= {r["service_request_id"] for r in _many(rows)}
    rows = run("get_service_requests(service_request_id=a,b)", lambda: g.get_service_requests(
        service_request_id=",".join(ids)))  # fmt: skip
    assert {r["service_request_id"] for r in _many(rows)} == set(ids)
    one = run("get_service_request(id)", lambda: g.get_service_request(ids[0]))
    assert one["service_request_id"] == ids[0]


def test_published_clients_in_json_and_xml(api_url):
    root = f"{api_url}/open311/v2"
    table = Table()
    try:
        for fmt in FORMATS:
            ids = [
                three_calls(root, fmt, table)["service_request_id"],
                open311_calls(root, fmt, table)["service_request_id"],
            ]
            georeport_calls(root, fmt, table, ids)
    finally:
        text = table.write()
        print(text)
    assert not [r for r in table.rows if r[3].startswith("FAILED")], text
