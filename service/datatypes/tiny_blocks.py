"""The bytes of a block of a few points, computed on plain Python numbers.

A device's reading or a phone's event makes a block of one to ten points. On such a
block each numpy call costs more than its arithmetic (a dozen of them made a block's
encoding about 0.14 ms of a 1 ms request), so up to ``TINY`` points the long and
double codecs and the block's timestamps take these paths instead. They write the
same bytes as the numpy paths, bit for bit (tests/unit/test_tiny_blocks.py checks
every layout against them), so a reader never knows which wrote a block.
"""

from __future__ import annotations

import itertools
import math
import struct

TINY = 16  # points; the block format compresses from 16 (blocks.MIN_COMPRESS)

_U64 = 1 << 64
_HALF = 1 << 63
_MAX_EXPONENT = 9  # as the double codec's decimal mode
_SCALES = [10.0**exponent for exponent in range(_MAX_EXPONENT + 1)]
_HEAD = 4  # values that choose the exponent (the double codec's _SAMPLE)
_EXACT_INTS = float(2**53)


def int64_diffs(values: list[int], first: int = 0) -> bytes:
    """``np.diff(values, prepend=first)`` as little-endian int64 (wrapping as int64
    arithmetic does)."""
    out = []
    before = first
    for v in values:
        out.append((v - before + _HALF) % _U64 - _HALF)
        before = v
    return struct.pack(f"<{len(out)}q", *out)


def planes(words: list[int]) -> bytes:
    """The byte planes of little-endian uint64 words: every word's byte 0, then
    every word's byte 1... (the double codec's shuffle)."""
    # (eight strided slices of the packed words: C loops, not one Python step a byte)
    packed = struct.pack(f"<{len(words)}Q", *words)
    return b"".join([packed[i::8] for i in range(8)])


def double_block(values: list[float]) -> bytes:
    """The double codec's block: decimal mode (exponent byte, then the zigzagged
    differences of the scaled integers as planes) when every value scales back
    exactly, else the XOR of each value's bits with the one before, as planes."""
    if not values:
        return b""  # (as the numpy path encodes a piece of no values)
    exponent = _decimal_exponent(values)
    if exponent is None:
        bits = struct.unpack(
            f"<{len(values)}Q", struct.pack(f"<{len(values)}d", *values)
        )
        xored = [bits[0]] + [b ^ a for a, b in itertools.pairwise(bits)]
        return planes(xored)
    scale = _SCALES[exponent]
    ints = [round(v * scale) for v in values]
    zigzag = []
    before = 0
    for i in ints:
        d = i - before  # (|ints| < 2**53: no int64 wrap)
        zigzag.append((d << 1) ^ (d >> 63))
        before = i
    return bytes((exponent,)) + planes(zigzag)


def _decimal_exponent(values: list[float]) -> int | None:
    """The smallest exponent that brings every value back bit for bit (the numpy
    path tries the first four values' smallest one only: so does this)."""
    if not all(map(math.isfinite, values)):
        return None
    # (the first value alone refuses most exponents: no generator made for those)
    first, head, tail = values[0], values[1:_HEAD], values[_HEAD:]
    for exponent, scale in enumerate(_SCALES):
        if exact_decimal(first, scale) and all(exact_decimal(v, scale) for v in head):
            return exponent if all(exact_decimal(v, scale) for v in tail) else None
    return None


def exact_decimal(value: float, scale: float) -> bool:
    """``value`` scaled by ``scale`` rounds to an integer that scales back to it, bit
    for bit (-0.0 never does); the double codec's decimal test."""
    scaled = value * scale
    if not abs(scaled) < _EXACT_INTS:
        return False
    return float(round(scaled)) / scale == value and (
        value != 0 or math.copysign(1.0, value) > 0
    )
