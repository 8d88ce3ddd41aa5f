"""Hostile requests to the Liquid, Mobile Data Anywhere and OneNET endpoints.

Shaped like each system's documented requests (README.md), with hostile values in
the slots and, now and then, anything at all. Used by bench/fuzz_http.py; each
dialect's own tests own their own property tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from tests.hostile import (
    Request,
    anything,
    broken,
    deep,
    dumps,
    floats,
    header_text,
    integers,
    maybe,
    text,
    usually,
)


@dataclass(frozen=True)
class Tenant:
    """What the requests authenticate with and point at."""

    project: str
    key: str
    device: str = ""  # a OneNET device of the project
    device_key: str = ""
    session: str = ""  # an MDA session uuid of the project


ISO = ["2015-01-07T17:28:58.270+00:00", "2013-04-22T00:35:43", "2015-03-22 22:31:12"]
ISO += ["2015-03-22T22:31:12+99:00", "2015-03-22T22:31:12+00:60", "9999-12-31T23:59:59"]
ISO += ["0000-01-01T00:00:00", "2015-02-30T00:00:00", "1420675200000", "-1"]
times = maybe(st.sampled_from(ISO) | integers | text)
scalar = maybe(text | integers | floats | st.booleans() | st.none())
attrs = maybe(st.dictionaries(broken, scalar, max_size=3))


def _segment(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _params(values: dict[str, Any]) -> dict[str, str]:
    """Query parameters as text a URL can carry (what cannot be encoded dropped)."""
    out = {}
    for name, value in values.items():
        value = value if isinstance(value, str) else json.dumps(value)
        try:
            value.encode()
        except UnicodeEncodeError:
            continue
        if value.isprintable():
            out[name] = value
    return out


def _id(known: str) -> st.SearchStrategy[str]:
    """Mostly the id that exists, sometimes another."""
    return usually(st.just(known), broken.filter(bool)) if known else text


# -- Liquid -----------------------------------------------------------------------


def _flatten_attrs(user: dict[str, Any]) -> dict[str, Any]:
    """A user object with its drawn attributes beside its id, as Liquid sends them."""
    extra = user.get("attrs")
    out = {k: v for k, v in user.items() if k != "attrs"}
    return {**out, **extra} if isinstance(extra, dict) else out


ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
legal_point = st.fixed_dictionaries(
    {
        "user": st.fixed_dictionaries(
            {"unique_id": ids},
            optional={"identified": st.booleans(), "age": st.integers(0, 120)},
        ),
        "device": st.fixed_dictionaries({"unique_id": ids}),
        "event": st.fixed_dictionaries(
            {"name": st.text(st.characters(codec="utf-8"), min_size=3, max_size=20)},
            optional={"price": st.floats(allow_nan=False, allow_infinity=False)},
        ),
    },
    optional={"timestamp": st.sampled_from(ISO[:1])},
)
hostile_point = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": times,
        "user": maybe(
            st.fixed_dictionaries(
                {"unique_id": maybe(text)},
                optional={"identified": maybe(st.booleans()), "attrs": attrs},
            ).map(_flatten_attrs)
        ),
        "device": maybe(st.fixed_dictionaries({"unique_id": maybe(text)})),
        "event": maybe(
            st.fixed_dictionaries(
                {"name": maybe(st.text(min_size=3, max_size=10) | text)},
                optional={"date": times, "price": scalar},
            )
        ),
        "values": anything,
    },
)
liquid_point = usually(legal_point, hostile_point | anything | deep, odds=0.4)


@st.composite
def liquid(draw: st.DrawFn, t: Tenant) -> Request:
    headers = {"Authorization": f"Token {t.key}", "Content-Type": "application/json"}
    headers["Accept"] = draw(
        usually(
            st.sampled_from(["application/vnd.lqd.v1+json", "application/json"]),
            header_text,
        )
    )
    kind = draw(st.sampled_from(["point", "alias", "user", "sessions", "one"]))
    if kind in ("point", "alias"):
        prefix = draw(st.sampled_from(["", "/collect"]))
        if kind == "point":
            doc = draw(liquid_point)
            return Request(
                "liquid", "POST", f"{prefix}/data_points", {}, headers, dumps(doc)
            )
        doc = draw(
            st.fixed_dictionaries(
                {"unique_id": maybe(broken), "unique_id_alias": maybe(broken)}
            )
            | anything
        )
        return Request("liquid", "POST", f"{prefix}/aliases", {}, headers, dumps(doc))
    uid = _segment(draw(broken.filter(bool)))
    if kind == "user":
        return Request("analyze", "GET", f"/analyze/users/{uid}", {}, headers)
    if kind == "sessions":
        params = _params(
            draw(st.fixed_dictionaries({}, optional={"from": times, "to": times}))
        )
        return Request(
            "analyze", "GET", f"/analyze/users/{uid}/sessions", params, headers
        )
    what = draw(st.sampled_from(["sessions", "devices"]))
    return Request("analyze", "GET", f"/analyze/{what}/{uid}", {}, headers)


# -- Mobile Data Anywhere -----------------------------------------------------------

session_data = maybe(
    st.dictionaries(
        broken,
        scalar
        | st.fixed_dictionaries({"rawData": maybe(text | st.just("iVBORw0KGgo="))}),
        max_size=3,
    )
)
session = st.fixed_dictionaries(
    {},
    optional={
        "uuid": maybe(st.uuids().map(str) | text),
        "unit_id": maybe(text),
        "created": maybe(integers),
        "saved": maybe(integers),
        "data": session_data,
    },
)


def _form(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """A session as bracket-named form fields (session[data][q1]=...)."""
    fields = []
    for name, value in doc.items():
        if isinstance(value, dict):
            for inner, v in value.items():
                fields.append((f"session[{name}][{inner}]", str(v)))
        else:
            fields.append((f"session[{name}]", str(value)))
    return fields


def _multipart(
    fields: list[tuple[str, str]], files: list[tuple[str, bytes]]
) -> tuple[bytes, str]:
    boundary = "fuzzboundary7MA4YWxk"
    out = []
    for name, value in fields:
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode(
                "utf-8", "surrogatepass"
            )
            + value.encode("utf-8", "surrogatepass")
            + b"\r\n"
        )
    for name, data in files:
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="f.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode(
                "utf-8", "surrogatepass"
            )
            + data
            + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


@st.composite
def mda_body(draw: st.DrawFn) -> tuple[bytes, str]:
    doc = draw(session)
    form = draw(st.sampled_from(["json", "urlencoded", "multipart", "garbage"]))
    if form == "json":
        return dumps(
            draw(st.just({"session": doc}) | anything | deep)
        ), "application/json"
    fields = _form(doc)
    if form == "urlencoded":
        pairs = [
            (k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
            for k, v in fields
        ]
        return urlencode(pairs).encode(), "application/x-www-form-urlencoded"
    if form == "multipart":
        names = (
            st.sampled_from(["session", "session[data][photo]", "session[]", "x"])
            | broken
        )
        files = draw(st.lists(st.tuples(names, st.binary(max_size=64)), max_size=2))
        return _multipart(fields, files)
    return draw(st.binary(max_size=200)), draw(
        st.sampled_from(["multipart/form-data", "text/plain", "application/json"])
    )


@st.composite
def mda(draw: st.DrawFn, t: Tenant) -> Request:
    headers = {"Authorization": f"Token {t.key}"}
    base = f"/api/v1/{draw(st.sampled_from(['projects', 'project']))}/{_segment(draw(_id(t.project)))}"
    uuid = _segment(draw(_id(t.session)))
    kind = draw(
        st.sampled_from(
            ["create", "list", "get", "update", "delete", "attach", "batch", "devices"]
        )
    )
    if kind == "create":
        body, ctype = draw(mda_body())
        return Request(
            "mda",
            "POST",
            f"{base}/sessions",
            {},
            headers | {"Content-Type": ctype},
            body,
        )
    if kind == "list":
        params = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "unit_id": text,
                    "saved_from": maybe(integers),
                    "saved_to": maybe(integers),
                    "limit": maybe(integers),
                    "cursor": text,
                    "deleted": maybe(st.sampled_from(["1", "0"])),
                },
            )
        )
        return Request("mda", "GET", f"{base}/sessions", _params(params), headers)
    if kind == "get":
        return Request("mda", "GET", f"{base}/sessions/{uuid}", {}, headers)
    if kind == "update":
        body, ctype = draw(mda_body())
        return Request(
            "mda",
            "PUT",
            f"{base}/sessions/{uuid}",
            {},
            headers | {"Content-Type": ctype},
            body,
        )
    if kind == "delete":
        return Request("mda", "DELETE", f"{base}/sessions/{uuid}", {}, headers)
    if kind == "attach":
        point = _segment(draw(broken.filter(bool)))
        method = draw(st.sampled_from(["GET", "PUT", "DELETE"]))
        path = f"{base}/sessions/{uuid}/attachments/{point}"
        if method != "PUT":
            return Request("mda", method, path, {}, headers)
        data = draw(st.binary(max_size=64))
        params = _params(draw(st.fixed_dictionaries({}, optional={"filename": text})))
        ctype = {"Content-Type": "application/octet-stream"}
        return Request("mda", "PUT", path, params, headers | ctype, data)
    if kind == "batch":
        project = draw(_id(t.project))
        doc = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "sessionsToAdd": st.just({project: [draw(session)]}),
                    "sessionsToUpdate": st.just(
                        {project: [{"uuid": t.session, "data": draw(session_data)}]}
                    ),
                    "sessionsToDelete": st.just(
                        {project: [{"uuid": draw(_id(t.session))}]}
                    ),
                },
            )
            | anything
        )
        ctype = {"Content-Type": "application/json"}
        return Request(
            "mda", "POST", "/api/v1/sessions/batch", {}, headers | ctype, dumps(doc)
        )
    unit = draw(st.none() | broken.filter(bool))
    path = "/api/v1/devices" + (f"/{_segment(unit)}" if unit else "")
    params = _params(
        draw(st.fixed_dictionaries({}, optional={"project_id": _id(t.project)}))
    )
    return Request("mda", "GET", path, params, headers)


# -- OneNET -------------------------------------------------------------------------

onenet_point = st.fixed_dictionaries(
    {"value": scalar | anything}, optional={"at": times}
)
full_upload = st.fixed_dictionaries(
    {
        "datastreams": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "id": maybe(broken),
                        "datapoints": maybe(st.lists(onenet_point, max_size=3)),
                    }
                ),
                max_size=3,
            )
        )
    }
)


@st.composite
def onenet_upload(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    kind = draw(st.sampled_from(["", "1", "3", "4", "5"]) | maybe(text))
    params = {"type": kind} if kind else {}
    if kind == "3":
        doc: Any = draw(st.dictionaries(broken, scalar, max_size=3) | anything)
    elif kind == "4":
        doc = draw(
            st.dictionaries(
                broken,
                st.dictionaries(st.sampled_from(ISO) | text, scalar, max_size=2),
                max_size=3,
            )
            | anything
        )
    elif kind == "5":
        stream = draw(st.sampled_from(["temperature", "pm2.5", ""]) | broken)
        at = draw(st.sampled_from(ISO) | text)
        value = draw(st.sampled_from(["22.5", "89", "x"]) | text)
        sep = draw(st.sampled_from([",;", ";,", ",,", ""]) | st.text(max_size=2))
        record = draw(
            st.sampled_from([f"{stream},{at},{value}", f"{stream},{value}", value])
        )
        return _params(params), dumps(sep + record)
    else:
        doc = draw(full_upload | anything | deep)
    return _params(params), dumps(doc)


@st.composite
def onenet(draw: st.DrawFn, t: Tenant) -> Request:
    key = draw(
        usually(st.sampled_from([t.key, t.key, t.device_key or t.key]), header_text)
    )
    headers = {"api-key": key, "Content-Type": "application/json"}
    device = _segment(draw(_id(t.device)))
    kind = draw(
        st.sampled_from(
            ["upload", "read", "delete", "latest", "devices", "device", "streams"]
        )
    )
    if kind == "upload":
        params, body = draw(onenet_upload())
        return Request(
            "onenet", "POST", f"/devices/{device}/datapoints", params, headers, body
        )
    if kind in ("read", "delete"):
        params = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "datastream_id": maybe(text),
                    "start": times,
                    "end": times,
                    "duration": maybe(integers),
                    "limit": maybe(integers),
                    "sort": maybe(st.sampled_from(["ASC", "DESC"])),
                    "cursor": text,
                },
            )
        )
        method = "GET" if kind == "read" else "DELETE"
        return Request(
            "onenet", method, f"/devices/{device}/datapoints", _params(params), headers
        )
    if kind == "latest":
        ids = draw(st.lists(_id(t.device), max_size=3).map(",".join))
        return Request(
            "onenet", "GET", "/devices/datapoints", _params({"devIds": ids}), headers
        )
    if kind == "devices":
        if draw(st.booleans()):
            doc = draw(
                st.fixed_dictionaries(
                    {"title": maybe(text)},
                    optional={
                        "tags": maybe(st.lists(text, max_size=3)),
                        "location": anything,
                        "desc": scalar,
                    },
                )
                | anything
            )
            return Request("onenet", "POST", "/devices", {}, headers, dumps(doc))
        params = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "page": maybe(integers),
                    "per_page": maybe(integers),
                    "tag": text,
                    "title": text,
                },
            )
        )
        return Request("onenet", "GET", "/devices", _params(params), headers)
    if kind == "device":
        method = draw(st.sampled_from(["GET", "PUT", "DELETE"]))
        if method == "DELETE" and device == _segment(t.device):
            method = "GET"  # keep the device the other requests use
        doc = draw(
            st.fixed_dictionaries({}, optional={"title": maybe(text), "tags": anything})
        )
        body = dumps(doc) if method == "PUT" else b""
        return Request("onenet", method, f"/devices/{device}", {}, headers, body)
    stream = _segment(draw(broken.filter(bool)))
    method = draw(st.sampled_from(["POST", "GET", "GET1", "PUT", "DELETE"]))
    if method == "POST":
        doc = draw(
            st.fixed_dictionaries(
                {"id": maybe(broken)},
                optional={"unit": scalar, "unit_symbol": scalar, "tags": anything},
            )
        )
        return Request(
            "onenet", "POST", f"/devices/{device}/datastreams", {}, headers, dumps(doc)
        )
    if method == "GET":
        params = _params(
            draw(st.fixed_dictionaries({}, optional={"datastream_ids": text}))
        )
        return Request(
            "onenet", "GET", f"/devices/{device}/datastreams", params, headers
        )
    body = (
        dumps(draw(st.fixed_dictionaries({}, optional={"unit": scalar})))
        if method == "PUT"
        else b""
    )
    return Request(
        "onenet",
        method[:3] if method == "GET1" else method,
        f"/devices/{device}/datastreams/{stream}",
        {},
        headers,
        body,
    )
