"""Reading request heads in the worker's main loop, against gunicorn's own parser
(the oracle: what the loop decides must match what gunicorn and Falcon will see)."""

from __future__ import annotations

import io
import sys
from urllib.parse import quote

import falcon
import pytest
from gunicorn.config import Config as GunicornConfig
from gunicorn.http import errors as http_errors
from gunicorn.http.parser import RequestParser
from gunicorn.util import unquote_to_wsgi_str
from hypothesis import example, given
from hypothesis import strategies as st

from service.serving import head
from service.serving.head import Target

LINE_LIMIT = 4094
CFG = GunicornConfig()


def parsed(data: bytes) -> Target:
    """What Falcon routes: gunicorn's parse, its PATH_INFO, Falcon's path."""
    req = next(RequestParser(CFG, iter([data]), ("127.0.0.1", 1)))
    environ = {
        "REQUEST_METHOD": req.method,
        "PATH_INFO": unquote_to_wsgi_str(req.path),
        "QUERY_STRING": req.query,
        "SERVER_NAME": "x",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.input": io.BytesIO(),
    }
    options = falcon.RequestOptions()
    options.strip_url_path_trailing_slash = True
    return Target(req.method, falcon.Request(environ, options).path)


segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
    min_size=0,
    max_size=8,
).map(lambda s: quote(s, safe="-._~!$&'()*+,;=:@"))
heads = st.builds(
    lambda lead, method, absolute, segments, slash, query, headers: (
        (b"\r\n" if lead else b"")
        + f"{method} {absolute}/{'/'.join(segments)}{'/' if slash else ''}"
        f"{query} HTTP/1.1\r\n".encode()
        + b"".join(f"{n}: {v}\r\n".encode() for n, v in headers)
        + b"\r\n"
    ),
    st.booleans(),
    st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"]),
    st.sampled_from(["", "http://example.com", "http://example.com:8080"]),
    st.lists(segment, max_size=5),
    st.booleans(),
    st.sampled_from(["", "?", "?a=1&b=%2F", "?q=/x/"]),
    st.lists(
        st.tuples(
            st.sampled_from(["X-A", "Accept", "X-Forwarded-For"]),
            st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=20),
        ),
        max_size=5,
    ),
)


@given(heads)
@example(b"GET /api/v1/datapoints/%71uery HTTP/1.1\r\n\r\n")
@example(b"\r\nPOST /devices/ HTTP/1.1\r\nHost: x\r\n\r\n")
@example(b"GET //api/v1/x HTTP/1.1\r\n\r\n")
def test_the_target_is_what_gunicorn_and_falcon_route(data: bytes) -> None:
    assert head.target(data) == parsed(data)


@given(heads, st.lists(st.integers(1, 50), min_size=1))
def test_a_head_is_ready_when_complete_and_not_before(
    data: bytes, cuts: list[int]
) -> None:
    buf = bytearray()
    for size in [*cuts, len(data)]:
        start = len(buf)
        buf += data[start : start + size]
        complete = len(buf) == len(data)
        assert head.ready(buf, start, LINE_LIMIT) == complete
        if complete:
            return


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\nHost: x\n\n",
        b"GET / HTTP/1.1\r\nHost: x\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\n",
    ],
)
def test_a_bare_lf_is_ready_at_once_as_gunicorn_refuses_it(data: bytes) -> None:
    assert head.ready(bytearray(data), 0, LINE_LIMIT)
    with pytest.raises((http_errors.InvalidHeader, http_errors.InvalidRequestLine)):
        parsed(data)


def test_a_request_line_past_the_limit_is_ready_before_its_end() -> None:
    data = b"GET /" + b"a" * LINE_LIMIT
    assert not head.ready(bytearray(data[: LINE_LIMIT + 2]), 0, LINE_LIMIT)
    assert head.ready(bytearray(data[: LINE_LIMIT + 3]), 0, LINE_LIMIT)
    with pytest.raises(http_errors.LimitRequestLine):
        parsed(data + b" HTTP/1.1\r\n\r\n")
    # its path is known all the same, for the envelope of the 414
    assert head.target(data) == Target("GET", "/" + "a" * LINE_LIMIT)


def test_a_head_past_the_buffer_is_handed_on_incomplete() -> None:
    data = b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * (head.MAX_BUFFERED // 8)
    assert head.ready(bytearray(data[: head.MAX_BUFFERED]), 0, LINE_LIMIT)
    assert not head.ready(bytearray(data[: head.MAX_BUFFERED - 1]), 0, LINE_LIMIT)


@pytest.mark.parametrize("data", [b"", b"\r\n", b"GET", b"GET ", b"  / HTTP/1.1"])
def test_no_target_without_a_method_and_a_path(data: bytes) -> None:
    assert head.target(data) is None
