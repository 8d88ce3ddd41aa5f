"""The built-in types: long, double, string, complex-number and json."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import ujson

from service.datatypes import tiny_blocks
from service.datatypes.base import MAX_VALUE_BYTES, DataType, InvalidValue
from service.datatypes.restarts import restarted_sums, restarted_xors
from service.errors import clip
from service.records import LONG_MAX, LONG_MIN

_LONG = struct.Struct(">q")
_DOUBLE = struct.Struct(">d")
_COMPLEX = struct.Struct(">dd")


def _is_number(raw: Any) -> bool:
    # bool is an int subclass in Python; JSON true/false are not numbers.
    return isinstance(raw, (int, float)) and not isinstance(raw, bool)


class LongType(DataType):
    name = "long"
    group = "number"

    def parse(self, raw: Any) -> int:
        if isinstance(raw, str):
            try:
                raw = int(raw.strip())
            except ValueError:
                raise InvalidValue(f"'{clip(raw)}' is not a valid long") from None
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise InvalidValue("is not a valid long")
        if not LONG_MIN <= raw <= LONG_MAX:
            raise InvalidValue("is out of range for a 64-bit long")
        return raw

    def encode(self, value: int) -> bytes:
        return _LONG.pack(value)

    def decode(self, data: bytes) -> int:
        return int(_LONG.unpack(data)[0])

    def decode_many(self, data: list[bytes]) -> list[Any]:
        return list(struct.unpack(f">{len(data)}q", b"".join(data)))

    def as_float(self, value: Any) -> float:
        return float(value)

    def encode_block(self, values: np.ndarray) -> bytes:
        # differences: a counter or a slow gauge becomes small numbers the
        # compressor squeezes to a byte or two
        if len(values) <= tiny_blocks.TINY:
            return tiny_blocks.int64_diffs(values.tolist())
        return np.diff(values, prepend=np.int64(0)).astype("<i8").tobytes()

    def decode_block(self, data: bytes | memoryview, n: int) -> np.ndarray:
        deltas = np.frombuffer(data, dtype="<i8", count=n)
        return np.cumsum(deltas, dtype=np.int64)

    def decode_blocks(
        self, sections: Sequence[bytes | memoryview], counts: Sequence[int]
    ) -> np.ndarray:
        deltas = np.concatenate(
            [
                np.frombuffer(data, dtype="<i8", count=n)
                for data, n in zip(sections, counts, strict=True)
            ]
        )
        return restarted_sums(deltas, counts)


class DoubleType(DataType):
    name = "double"
    group = "number"

    def parse(self, raw: Any) -> float:
        if isinstance(raw, str):
            try:
                raw = float(raw.strip())
            except ValueError:
                raise InvalidValue(f"'{clip(raw)}' is not a valid double") from None
        if not _is_number(raw):
            raise InvalidValue("is not a valid double")
        value = float(raw)
        if not math.isfinite(value):
            raise InvalidValue("must be a finite number")
        return value

    def encode(self, value: float) -> bytes:
        return _DOUBLE.pack(value)

    def decode(self, data: bytes) -> float:
        return float(_DOUBLE.unpack(data)[0])

    def decode_many(self, data: list[bytes]) -> list[Any]:
        return list(struct.unpack(f">{len(data)}d", b"".join(data)))

    def as_float(self, value: Any) -> float:
        return float(value)

    def encode_block(self, values: np.ndarray) -> bytes:
        if len(values) <= tiny_blocks.TINY:
            return tiny_blocks.double_block(values.astype(np.float64).tolist())
        return numpy_double_block(values)

    def decode_block(self, data: bytes | memoryview, n: int) -> np.ndarray:
        if len(data) == 8 * n + 1:
            exponent = data[0]
            zigzag = _unplanes(data[1:], n)
            deltas = (zigzag >> np.uint64(1)).view(np.int64) ^ -(
                zigzag & np.uint64(1)
            ).view(np.int64)
            ints = np.cumsum(deltas, dtype=np.int64)
            return ints.astype(np.float64) / 10.0**exponent
        xored = _unplanes(data, n)
        return np.bitwise_xor.accumulate(xored).view("<f8").astype(np.float64)

    def decode_blocks(
        self, sections: Sequence[bytes | memoryview], counts: Sequence[int]
    ) -> np.ndarray:
        # decode_block of every block in one pass when they share a layout: the
        # running sums (or XORs) over all blocks, restarted at each block's start
        decimal = [len(d) == 8 * n + 1 for d, n in zip(sections, counts, strict=True)]
        if len(sections) == 1 or (any(decimal) and not all(decimal)):
            return super().decode_blocks(sections, counts)
        skip = 1 if decimal[0] else 0
        words = _unplanes_many(sections, counts, skip)
        if not skip:
            return restarted_xors(words, counts).view("<f8").astype(np.float64)
        deltas = (words >> np.uint64(1)).view(np.int64) ^ -(words & np.uint64(1)).view(
            np.int64
        )
        ints = restarted_sums(deltas, counts)
        scales = _SCALES[np.array([d[0] for d in sections], dtype=np.intp)]
        return ints.astype(np.float64) / np.repeat(scales, counts)


# Decimal scaling (the idea of M3TSZ's int mode and of ALP): a sensor's doubles
# mostly have a few decimals, so value * 10**e is an integer that a random walk
# moves by a few thousand at most; stored as zigzagged differences they take
# about 2 bytes a point after zstd, against ~7.5 for XOR of their bits. Only
# used when every value comes back bit for bit (the check below is the exact
# computation decode_block does), so it is lossless whatever the input.
_MAX_EXPONENT = 9
_EXACT_INTS = float(2**53)
_SAMPLE = 4


def numpy_double_block(values: np.ndarray) -> bytes:
    """The double codec's block, with numpy (any size; ``tiny_blocks`` writes the
    same bytes for a few points)."""
    doubles = values.astype("<f8")
    decimal = _decimal_exponent(doubles)
    if decimal is None:
        return _xor_planes(doubles)
    # One byte more than the XOR layout's 8 per point: that length is how
    # decode_block tells the two apart (blocks written before this mode
    # existed are exactly 8 bytes a point and still decode).
    exponent, ints = decimal
    deltas = np.empty_like(ints)  # (np.diff with prepend, without its overhead)
    deltas[0] = ints[0]
    np.subtract(ints[1:], ints[:-1], out=deltas[1:])
    zigzag = (deltas << 1) ^ (deltas >> 63)  # small negatives -> small positives
    return bytes((exponent,)) + _planes(zigzag.astype("<i8").view("<u8"))


def _decimal_exponent(doubles: np.ndarray) -> tuple[int, np.ndarray] | None:
    """The decimal exponent of the block, and its values scaled by it (int64)."""
    if doubles.size == 0 or not np.isfinite(doubles).all():
        return None
    # The first few values name the only exponent worth a pass over the block
    # (plain floats: a numpy call costs more than this arithmetic on 4 values);
    # a block that is not decimal throughout is then refused by one check.
    head = doubles[:_SAMPLE].tolist()
    for exponent in range(_MAX_EXPONENT + 1):
        scale = 10.0**exponent
        if all(tiny_blocks.exact_decimal(v, scale) for v in head):
            ints = _scales_exactly(doubles, exponent)
            return None if ints is None else (exponent, ints)
    return None


def _scales_exactly(doubles: np.ndarray, exponent: int) -> np.ndarray | None:
    """The values times 10**exponent as int64 if each comes back bit for bit."""
    with np.errstate(over="ignore", invalid="ignore"):  # huge values: refused below
        scaled = np.rint(doubles * 10.0**exponent)
    if not (np.abs(scaled) < _EXACT_INTS).all():
        return None
    ints = scaled.astype(np.int64)
    rebuilt = ints.astype(np.float64) / 10.0**exponent
    return ints if (rebuilt.view("<u8") == doubles.view("<u8")).all() else None


def _planes(words: np.ndarray) -> bytes:
    # the bytes of each position together (a byte shuffle, as blosc does):
    # the compressor finds the planes of zeros
    return bytes(words.view(np.uint8).reshape(-1, 8).T.tobytes())


def _unplanes(data: bytes | memoryview, n: int) -> np.ndarray:
    planes = np.frombuffer(data, dtype=np.uint8, count=8 * n).reshape(8, n)
    return np.ascontiguousarray(planes.T).view("<u8").ravel()


def _unplanes_many(
    sections: Sequence[bytes | memoryview], counts: Sequence[int], skip: int
) -> np.ndarray:
    # each block's planes side by side, then one transpose for all of them
    planes = np.concatenate(
        [
            np.frombuffer(data, dtype=np.uint8, count=8 * n, offset=skip).reshape(8, n)
            for data, n in zip(sections, counts, strict=True)
        ],
        axis=1,
    )
    return np.ascontiguousarray(planes.T).view("<u8").ravel()


# 10.0**e for every exponent byte, as decode_block computes it
_SCALES = np.array([10.0**e for e in range(256)], dtype=np.float64)


def _xor_planes(doubles: np.ndarray) -> bytes:
    # Gorilla's idea: a value XOR the one before it is mostly zero bits for a
    # slowly moving series
    bits = doubles.view("<u8")
    xored: np.ndarray = bits ^ np.concatenate((np.zeros(1, "<u8"), bits[:-1]))
    return _planes(xored)


class StringType(DataType):
    name = "string"
    group = "text"

    def parse(self, raw: Any) -> str:
        if isinstance(raw, bool):
            return "true" if raw else "false"
        if _is_number(raw):
            return ujson.dumps(raw)
        if not isinstance(raw, str):
            raise InvalidValue("is not a valid string")
        if len(raw) > MAX_VALUE_BYTES // 4 and len(raw.encode()) > MAX_VALUE_BYTES:
            raise InvalidValue(f"is longer than {MAX_VALUE_BYTES} bytes")
        return raw

    def encode(self, value: str) -> bytes:
        return value.encode("utf-8")

    def decode(self, data: bytes) -> str:
        return data.decode("utf-8")


class ComplexType(DataType):
    """KairosDB's example custom type: ``{"real": x, "imaginary": y}``."""

    name = "complex-number"
    group = "complex"
    plain_json = False

    def parse(self, raw: Any) -> tuple[float, float]:
        if not isinstance(raw, dict) or set(raw) != {"real", "imaginary"}:
            raise InvalidValue(
                'must be an object with exactly "real" and "imaginary" numbers'
            )
        real, imaginary = raw["real"], raw["imaginary"]
        if not (_is_number(real) and _is_number(imaginary)):
            raise InvalidValue('"real" and "imaginary" must be numbers')
        pair = (float(real), float(imaginary))
        if not (math.isfinite(pair[0]) and math.isfinite(pair[1])):
            raise InvalidValue('"real" and "imaginary" must be finite numbers')
        return pair

    def encode(self, value: tuple[float, float]) -> bytes:
        return _COMPLEX.pack(*value)

    def decode(self, data: bytes) -> tuple[float, float]:
        real, imaginary = _COMPLEX.unpack(data)
        return (real, imaginary)

    def to_json(self, value: tuple[float, float]) -> dict[str, float]:
        return {"real": value[0], "imaginary": value[1]}


class JsonType(DataType):
    """Any JSON value, stored as its JSON text (the IoT dialect's objects)."""

    name = "json"
    group = "json"

    def parse(self, raw: Any) -> Any:
        try:
            text = ujson.dumps(raw, ensure_ascii=False, reject_bytes=True)
        except (OverflowError, TypeError, ValueError):
            raise InvalidValue("is not a JSON value this service can store") from None
        if "NaN" in text or "Inf" in text:
            _reject_non_finite(raw)
        if len(text) > MAX_VALUE_BYTES // 4 and len(text.encode()) > MAX_VALUE_BYTES:
            raise InvalidValue(f"is longer than {MAX_VALUE_BYTES} bytes as JSON")
        return raw

    def encode(self, value: Any) -> bytes:
        return ujson.dumps(value, ensure_ascii=False).encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return ujson.loads(data)


def _reject_non_finite(raw: Any) -> None:
    if isinstance(raw, float) and not math.isfinite(raw):
        raise InvalidValue("must not contain NaN or Infinity")
    if isinstance(raw, dict):
        for item in raw.values():
            _reject_non_finite(item)
    elif isinstance(raw, list):
        for item in raw:
            _reject_non_finite(item)


LONG = LongType()
DOUBLE = DoubleType()
STRING = StringType()
COMPLEX = ComplexType()
JSON = JsonType()
BUILTIN_TYPES: tuple[DataType, ...] = (LONG, DOUBLE, STRING, COMPLEX, JSON)
