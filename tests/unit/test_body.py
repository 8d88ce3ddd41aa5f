"""Request bodies: size limits, gzip and deflate, and bombs cut off early."""

from __future__ import annotations

import gzip
import io
import os
import zlib

import pytest
from falcon import testing

from service import errors
from service.config import Limits
from service.web.body import parse_json, read_body, read_json

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


def test_gzip_output_larger_than_one_step_is_read_whole() -> None:
    raw = b"[" + b"0," * 2_000_000 + b"0]"  # inflates in many 256 KiB steps
    limits = Limits(max_decompressed_bytes=8_000_000, max_points_per_request=10**6)
    req = request(gzip.compress(raw), **{"Content-Encoding": "gzip"})
    assert read_body(req, limits) == raw


def test_gzip_members_split_across_chunks_are_all_read() -> None:
    first, second = os.urandom(100_000).hex().encode(), b"tail" * 1000
    data = gzip.compress(first) + gzip.compress(second)  # > one 64 KiB chunk
    limits = Limits(max_body_bytes=10**6, max_decompressed_bytes=10**6)
    req = request(data, **{"Content-Encoding": "gzip"})
    assert read_body(req, limits) == first + second


def test_deflate_ignores_what_follows_its_stream() -> None:
    data = zlib.compress(b"[1]") + b"trailing bytes"
    req = request(data, **{"Content-Encoding": "deflate"})
    assert read_body(req, LIMITS) == b"[1]"


def test_empty_gzip_body_is_empty() -> None:
    assert read_body(request(b"", **{"Content-Encoding": "gzip"}), LIMITS) == b""


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_json_with_more_values_than_the_limit_is_a_413(encoding: str) -> None:
    limits = Limits(max_points_per_request=10, max_json_values=100)
    raw = b"[" + b"[]," * 100 + b"[]]"
    data = gzip.compress(raw) if encoding == "gzip" else raw
    req = request(data, **{"Content-Encoding": encoding})
    with pytest.raises(errors.PayloadTooLarge, match="more than 100 values"):
        read_json(req, limits)
    raw = b"[" + b"0," * 98 + b"0]"  # 100 values: at the limit
    data = gzip.compress(raw) if encoding == "gzip" else raw
    assert len(read_json(request(data, **{"Content-Encoding": encoding}), limits)) == 99


def test_parse_json_caps_values_when_asked() -> None:
    with pytest.raises(errors.PayloadTooLarge):
        parse_json(b"[" + b"1," * 50 + b"1]", max_values=20)
    assert parse_json(b"[1, 2]", max_values=20) == [1, 2]


def test_the_values_limit_follows_the_points_limit_unless_set() -> None:
    assert Limits(max_points_per_request=1000).json_values == 6000
    assert Limits(max_points_per_request=1000, max_json_values=50).json_values == 50


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", "&".join(f"f{i}=1" for i in range(11))),
        (
            "multipart/form-data; boundary=XyZ",
            "".join(
                f'--XyZ\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n1\r\n'
                for i in range(11)
            )
            + "--XyZ--\r\n",
        ),
    ],
)
def test_forms_with_more_fields_than_the_limit_are_413s(
    content_type: str, body: str
) -> None:
    limits = Limits(max_form_fields=10)
    req = request(body.encode(), **{"Content-Type": content_type})
    with pytest.raises(errors.PayloadTooLarge, match="more than 10"):
        read_body(req, limits)
    fewer = body.replace("f10=1", "").rstrip("&") if "&" in body else None
    if fewer is not None:
        req = request(fewer.encode(), **{"Content-Type": content_type})
        assert read_body(req, limits) == fewer.encode()


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_a_body_refused_mid_way_is_read_to_its_end(encoding: str) -> None:
    # so the client still sending it gets the answer, not a reset connection
    raw = b"[" + b"0," * 300_000 + b"0]"
    data = gzip.compress(raw) if encoding == "gzip" else raw
    limits = Limits(max_body_bytes=10**6, max_json_values=1000)
    req = request(data, **{"Content-Encoding": encoding})
    with pytest.raises(errors.PayloadTooLarge, match="more than 1,000 values"):
        read_json(req, limits)
    assert req.bounded_stream.eof
