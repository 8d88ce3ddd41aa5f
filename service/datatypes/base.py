"""The contract every data type implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

# A value larger than this is refused: Cassandra rejects a mutation above half a
# commit-log segment (16 MiB by default), and one huge cell would stall a partition.
MAX_VALUE_BYTES = 1024 * 1024


class InvalidValue(ValueError):
    """A value the type refuses; the message completes '<context>.value ...'."""


class DataType(ABC):
    #: The name clients use in ``"type"`` and the name stored with each point.
    name: str
    #: The group aggregators look at: "number", "text", "complex", "json", ...
    group: str
    #: False when ``to_json`` must be called to put a decoded value into JSON.
    plain_json: bool = True

    @abstractmethod
    def parse(self, raw: Any) -> Any:
        """Validate a value decoded from JSON and return the value to store."""

    @abstractmethod
    def encode(self, value: Any) -> bytes:
        """Bytes for the store."""

    @abstractmethod
    def decode(self, data: bytes) -> Any:
        """The value back from the store's bytes."""

    def decode_many(self, data: list[bytes]) -> list[Any]:
        """Values of many cells at once (types with fixed-width codecs do it in C)."""
        decode = self.decode
        return [decode(item) for item in data]

    # -- blocks: many values of this type in one stored cell ----------------------

    def encode_block(self, values: np.ndarray) -> bytes:
        """The values of a block (an array, in point order) as bytes, before the
        store's compressor. The default, for any type (plugins' included): each
        value's own ``encode``, with the lengths in front."""
        encoded = [self.encode(v) for v in values.tolist()]
        lengths = np.fromiter(map(len, encoded), dtype="<u4", count=len(encoded))
        return lengths.tobytes() + b"".join(encoded)

    def decode_block(self, data: bytes | memoryview, n: int) -> np.ndarray:
        """The ``n`` values ``encode_block`` wrote, as the array this type lives in
        (objects unless the type is a number)."""
        lengths = np.frombuffer(data, dtype="<u4", count=n)
        ends = (np.cumsum(lengths, dtype=np.int64) + 4 * n).tolist()
        raw = bytes(data)
        decode = self.decode
        starts = [4 * n, *ends[:-1]]
        return np.fromiter(
            (decode(raw[a:b]) for a, b in zip(starts, ends, strict=True)),
            dtype=object,
            count=n,
        )

    def decode_blocks(
        self, sections: Sequence[bytes | memoryview], counts: Sequence[int]
    ) -> np.ndarray:
        """The values of several blocks (each ``decode_block``'s data and point
        count), one block after the other. The default decodes each; a type whose
        codec allows it does them together (a window of many small blocks)."""
        if len(sections) == 1:
            return self.decode_block(sections[0], counts[0])
        return np.concatenate(
            [
                self.decode_block(data, n)
                for data, n in zip(sections, counts, strict=True)
            ]
        )

    def to_json(self, value: Any) -> Any:
        """The value as it goes into a JSON response (default: itself)."""
        return value

    def as_float(self, value: Any) -> float | None:
        """A number aggregators can use, or None for a non-numeric value."""
        return None

    def __repr__(self) -> str:
        return f"<DataType {self.name} ({self.group})>"
