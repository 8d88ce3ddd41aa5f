"""Request bodies: size limits, gzip and deflate, and bombs cut off early."""

from __future__ import annotations

import gzip
import io
import zlib

import pytest
from falcon import testing

from service import errors
from service.config import Limits
from service.web.body import parse_json, read_body

LIMITS = Limits(
    max_body_bytes=10_000, max_decompressed_bytes=50_000, max_points_per_request=10
)


def request(body: bytes, **headers: str) -> testing.SimpleNamespace:  # type: ignore[name-defined]
    return testing.create_req(method="POST", path="/", body=body, headers=headers)


def test_plain_body_is_returned() -> None:
    assert read_body(request(b'{"a": 1}'), LIMITS) == b'{"a": 1}'


def test_body_over_the_limit_is_a_413_before_reading() -> None:
    req = request(b"x" * 10_001)
    with pytest.raises(errors.PayloadTooLarge, match="10001 bytes"):
        read_body(req, LIMITS)
    assert req.stream.tell() == 0  # nothing was read: Content-Length was enough


def test_body_without_length_is_capped_while_reading() -> None:
    stream = io.BytesIO(b"x" * 50_000)
    req = testing.create_req(
        method="POST", path="/", headers={"Transfer-Encoding": "chunked"}
    )
    req.stream = stream  # type: ignore[misc]
    req.env.pop("CONTENT_LENGTH", None)
    with pytest.raises(errors.PayloadTooLarge):
        read_body(req, LIMITS)
    assert stream.tell() <= LIMITS.max_body_bytes + 64 * 1024


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Encoding": "gzip"},
        {"Content-Type": "application/gzip"},
        {"Content-Encoding": "x-gzip"},
    ],
)
def test_gzip_is_inflated(headers: dict[str, str]) -> None:
    raw = b'[{"name": "m"}]' * 100
    assert (
        read_body(
            request(gzip.compress(raw), **headers),
            LIMITS,
            gzip_types=("application/gzip",),
        )
        == raw
    )


def test_gzip_content_type_alone_is_not_inflated_unless_the_dialect_says_so() -> None:
    data = gzip.compress(b"{}")
    assert (
        read_body(request(data, **{"Content-Type": "application/gzip"}), LIMITS) == data
    )


def test_concatenated_gzip_members_are_all_read() -> None:
    data = gzip.compress(b"[1,") + gzip.compress(b"2]")
    assert read_body(request(data, **{"Content-Encoding": "gzip"}), LIMITS) == b"[1,2]"


def test_deflate_is_inflated() -> None:
    assert (
        read_body(
            request(zlib.compress(b"[1]"), **{"Content-Encoding": "deflate"}), LIMITS
        )
        == b"[1]"
    )


def test_gzip_bomb_is_a_413() -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)  # ~5 KB that inflates to 5 MB
    assert len(bomb) < LIMITS.max_body_bytes
    with pytest.raises(errors.PayloadTooLarge, match="Decompressed body"):
        read_body(request(bomb, **{"Content-Encoding": "gzip"}), LIMITS)


@pytest.mark.parametrize(
    "data", [b"not gzip at all", gzip.compress(b"[1, 2, 3]" * 50)[:-20]]
)
def test_broken_gzip_is_a_400(data: bytes) -> None:
    with pytest.raises(errors.InvalidInput, match="Invalid gzip body"):
        read_body(request(data, **{"Content-Encoding": "gzip"}), LIMITS)


def test_unknown_encoding_is_a_415() -> None:
    with pytest.raises(errors.UnsupportedMediaType):
        read_body(request(b"x", **{"Content-Encoding": "br"}), LIMITS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Invalid json. No content due to end of input."),
        (b"  \n", "No content"),
        (b"[1,", "Invalid json."),
        (b"{'a': 1}", "Invalid json."),
    ],
)
def test_bad_json_is_invalid_input(data: bytes, message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message.replace(".", r"\.")):
        parse_json(data)
