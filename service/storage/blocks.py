"""The block format: many points of one series in one stored cell.

A block holds points in time order, one per timestamp, of one or more types::

    header   version (1 byte), flags (1 byte), n (uint32), first timestamp (int64)
    body     (zstd-compressed when FLAG_ZSTD; raw below MIN_COMPRESS points, where
              the compressor costs more than it saves)
             n - 1 timestamp differences (int64)
             the types: count (1 byte), then each name (1-byte length, UTF-8)
             with several types, each point's type (1 byte, an index into them)
             per type, in that order: its values' length in bytes (uint32) and the
             values as the type's ``encode_block`` wrote them
             with FLAG_EXPIRY, each point's expiry (int64 ms since the epoch; 0 =
             never): a compacted block whose inputs expire at different times
             with FLAG_WRITE_IDS, the write ids of a compacted block's points: their
             count k (uint32), the k ids (int64), each point's (uint16, an index
             into them), so last-write-wins and delete markers stay exact after
             compaction

Timestamps as differences make a regular series nearly free after compression
(Gorilla's observation); values are encoded by their type (service/datatypes), so a
plugin's type works in blocks with no change. All integers are little-endian.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import zstandard

from service.columnar import Points, dtype_of
from service.datatypes import REGISTRY, TypeRegistry, tiny_blocks
from service.datatypes.restarts import restarted_sums

VERSION = 1
FLAG_ZSTD = 1
FLAG_EXPIRY = 2
FLAG_WRITE_IDS = 4
# Below this many points a block is stored raw: compressing costs more than it saves.
MIN_COMPRESS = 16
_HEADER = struct.Struct("<BBIq")
_U32 = struct.Struct("<I")
_LEVEL = 1  # zstd's fastest: most of the gain, a fraction of the time

# zstandard's objects are not thread-safe, and making one per call would cost more
# than compressing a small block: one of each per thread.
_local = threading.local()


class CorruptBlock(ValueError):
    """Bytes that are not a block this code can read."""


def _compressor() -> zstandard.ZstdCompressor:
    found: zstandard.ZstdCompressor | None = getattr(_local, "c", None)
    if found is None:
        found = _local.c = zstandard.ZstdCompressor(level=_LEVEL)
    return found


def _decompressor() -> zstandard.ZstdDecompressor:
    found: zstandard.ZstdDecompressor | None = getattr(_local, "d", None)
    if found is None:
        found = _local.d = zstandard.ZstdDecompressor()
    return found


def encode(
    points: Points,
    *,
    expire_at: np.ndarray | None = None,
    write_ids: np.ndarray | None = None,
    registry: TypeRegistry = REGISTRY,
) -> bytes:
    """A block of ``points`` (in time order, one per timestamp, at least one)."""
    n = len(points)
    if n == 0:
        raise ValueError("a block holds at least one point")
    ts = points.ts
    if n <= tiny_blocks.TINY:  # (a numpy call costs more than a few points' sums)
        stamps = ts.tolist()
        parts = [tiny_blocks.int64_diffs(stamps[1:], first=stamps[0])]
    else:
        parts = [(ts[1:] - ts[:-1]).astype("<i8", copy=False).tobytes()]
    kinds = points.kinds
    names = [k.encode("utf-8") for k in kinds]
    parts.append(bytes([len(kinds)]))
    parts.extend(bytes([len(name)]) + name for name in names)
    if points.codes is not None:
        parts.append(points.codes.astype(np.uint8).tobytes())
        for i, kind in enumerate(kinds):
            values = points.values[points.codes == i]
            dtype = dtype_of(kind)
            if values.dtype != dtype:
                values = values.astype(dtype)
            data = registry.get(kind).encode_block(values)
            parts += [_U32.pack(len(data)), data]
    else:
        data = registry.get(kinds[0]).encode_block(points.values)
        parts += [_U32.pack(len(data)), data]
    flags = 0
    if expire_at is not None:
        flags |= FLAG_EXPIRY
        parts.append(expire_at.astype("<i8", copy=False).tobytes())
    if write_ids is not None:
        flags |= FLAG_WRITE_IDS
        ids, which = np.unique(write_ids, return_inverse=True)
        parts += [
            _U32.pack(len(ids)),
            ids.astype("<i8").tobytes(),
            which.astype("<u2").tobytes(),
        ]
    body = b"".join(parts)
    if n >= MIN_COMPRESS:
        flags |= FLAG_ZSTD
        body = _compressor().compress(body)
    return _HEADER.pack(VERSION, flags, n, int(ts[0])) + body


def count(data: bytes) -> int:
    """How many points a block holds (from its header alone)."""
    try:
        return int(_HEADER.unpack_from(data)[2])
    except struct.error:
        raise CorruptBlock("a block shorter than its header") from None


def decode(
    data: bytes, *, registry: TypeRegistry = REGISTRY
) -> tuple[Points, np.ndarray | None]:
    """The points of a block, and each point's expiry when the block has them."""
    points, expire_at, _ = decode_all(data, registry=registry)
    return points, expire_at


def _opened(
    data: bytes, decompress: Callable[[memoryview], bytes]
) -> tuple[int, int, int, memoryview]:
    """A block's flags, point count, first timestamp and (decompressed) body."""
    try:
        version, flags, n, first = _HEADER.unpack_from(data)
    except struct.error:
        raise CorruptBlock("a block shorter than its header") from None
    if version != VERSION:
        raise CorruptBlock(f"block version {version} is not one this code reads")
    body = memoryview(data)[_HEADER.size :]
    if flags & FLAG_ZSTD:
        body = memoryview(decompress(body))
    return flags, n, first, body


def decode_all(
    data: bytes, *, registry: TypeRegistry = REGISTRY
) -> tuple[Points, np.ndarray | None, np.ndarray | None]:
    """The points of a block, each point's expiry and write id when the block has
    them (a compacted block)."""
    flags, n, first, body = _opened(data, _decompressor().decompress)
    at = 8 * (n - 1)
    ts = np.empty(n, dtype=np.int64)
    ts[0] = first
    if n > 1:
        np.cumsum(np.frombuffer(body, dtype="<i8", count=n - 1), out=ts[1:])
        ts[1:] += first
    count = body[at]
    at += 1
    kinds = []
    for _ in range(count):
        size = body[at]
        kinds.append(bytes(body[at + 1 : at + 1 + size]).decode("utf-8"))
        at += 1 + size
    codes = None
    if count > 1:
        codes = np.frombuffer(body, dtype=np.uint8, count=n, offset=at).astype(np.int16)
        at += n
    sections = []
    for i, kind in enumerate(kinds):
        (size,) = _U32.unpack_from(body, at)
        at += 4
        m = n if codes is None else int(np.count_nonzero(codes == i))
        sections.append(registry.get(kind).decode_block(body[at : at + size], m))
        at += size
    expire_at, write_ids = _extras(body, at, flags, n)
    if codes is None:
        return Points(ts, sections[0], tuple(kinds)), expire_at, write_ids
    values = np.empty(n, dtype=object)
    for i, section in enumerate(sections):
        values[codes == i] = section.astype(object)
    return Points(ts, values, tuple(kinds), codes), expire_at, write_ids


@dataclass(frozen=True, slots=True)
class Decoded:
    """The points of several blocks, one block after the other, and per block its
    point count and, when it records them, its points' expiries and write ids."""

    points: Points
    counts: np.ndarray
    expire_at: list[np.ndarray | None]
    write_ids: list[np.ndarray | None]

    def per_point(self, parts: list[np.ndarray | None], each: Sequence[int]) -> Any:
        """``parts`` (expiries or write ids) for every point, ``each[i]`` for those
        of a block that records none."""
        if all(p is None for p in parts):
            return np.repeat(np.asarray(each, dtype=np.int64), self.counts)
        return np.concatenate(
            [
                np.full(int(n), d, dtype=np.int64) if p is None else p
                for p, n, d in zip(parts, self.counts, each, strict=True)
            ]
        )


def decode_many(
    datas: Sequence[bytes], *, registry: TypeRegistry = REGISTRY
) -> Decoded:
    """The blocks of a window, decoded together: the same as ``decode_all`` of each,
    concatenated, but blocks of one type whose codec decodes many blocks at once
    (``DataType.decode_blocks``) cost a handful of numpy calls together rather than
    a dozen each (a window of 100-point writes has 72 blocks)."""
    firsts: list[int] = []
    counts: list[int] = []
    diffs: list[np.ndarray] = []
    sections: list[memoryview] = []
    expiries: list[np.ndarray | None] = []
    ids: list[np.ndarray | None] = []
    kind: bytes | None = None
    decompress = _decompressor().decompress
    for data in datas:
        flags, n, first, body = _opened(data, decompress)
        at = 8 * (n - 1)
        size = body[at + 1]
        name = bytes(body[at + 2 : at + 2 + size])
        if body[at] != 1 or (kind is not None and name != kind):
            return _each(datas, registry)  # several types: block by block
        kind = name
        at += 2 + size
        (length,) = _U32.unpack_from(body, at)
        at += 4
        sections.append(body[at : at + length])
        at += length
        firsts.append(first)
        counts.append(n)
        if n > 1:
            diffs.append(np.frombuffer(body, dtype="<i8", count=n - 1))
        expire_at, write_ids = _extras(body, at, flags, n)
        expiries.append(expire_at)
        ids.append(write_ids)
    if kind is None:
        return Decoded(Points.empty(), np.empty(0, np.int64), [], [])
    type_name = kind.decode("utf-8")
    sizes = np.array(counts, dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    # each block's first timestamp, then its differences, summed per block
    steps = np.empty(int(sizes.sum()), dtype=np.int64)
    if diffs:
        rest = np.ones(len(steps), dtype=bool)
        rest[starts] = False
        steps[rest] = np.concatenate(diffs)
    steps[starts] = firsts
    ts = restarted_sums(steps, counts)
    values = registry.get(type_name).decode_blocks(sections, counts)
    return Decoded(Points(ts, values, (type_name,)), sizes, expiries, ids)


def _extras(
    body: memoryview, at: int, flags: int, n: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A block's per-point expiries and write ids (from ``at``, after its values),
    each None when the block records none."""
    expire_at = write_ids = None
    if flags & FLAG_EXPIRY:
        expire_at = np.frombuffer(body, dtype="<i8", count=n, offset=at).astype(
            np.int64
        )
        at += 8 * n
    if flags & FLAG_WRITE_IDS:
        (k,) = _U32.unpack_from(body, at)
        known = np.frombuffer(body, dtype="<i8", count=k, offset=at + 4)
        which = np.frombuffer(body, dtype="<u2", count=n, offset=at + 4 + 8 * k)
        write_ids = known.astype(np.int64)[which]
    return expire_at, write_ids


def _each(datas: Sequence[bytes], registry: TypeRegistry) -> Decoded:
    parts = [decode_all(data, registry=registry) for data in datas]
    return Decoded(
        Points.concat([p[0] for p in parts]),
        np.array([len(p[0]) for p in parts], dtype=np.int64),
        [p[1] for p in parts],
        [p[2] for p in parts],
    )
