"""The contract every data type implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

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

    def to_json(self, value: Any) -> Any:
        """The value as it goes into a JSON response (default: itself)."""
        return value

    def as_float(self, value: Any) -> float | None:
        """A number aggregators can use, or None for a non-numeric value."""
        return None

    def __repr__(self) -> str:
        return f"<DataType {self.name} ({self.group})>"
